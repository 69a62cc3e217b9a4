import FuzzDriver
import KubeWire

/// The JSON parser on arbitrary bytes: it must never crash, and what it accepts encodes to a
/// fixed point: parsing the encoding and encoding again gives the same bytes. (Not the same
/// value: a whole double such as `0e300` is written `0`, as Go writes it, and read back as an
/// integer.)
fuzz { bytes in
    guard let value = try? JSONParser.parse(bytes) else { return }
    let encoded = value.encoded()
    guard let again = try? JSONParser.parse(encoded) else {
        preconditionFailure("the parser refused its own encoding: \(String(decoding: encoded, as: UTF8.self))")
    }
    precondition(again.encoded() == encoded, "a round trip changed the encoding: \(String(decoding: encoded, as: UTF8.self))")
}
