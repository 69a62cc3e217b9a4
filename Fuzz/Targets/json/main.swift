import FuzzDriver
import KubeWire

/// The JSON parser on arbitrary bytes: it must never crash, and what it accepts must survive
/// encoding and parsing again unchanged.
fuzz { bytes in
    guard let value = try? JSONParser.parse(bytes) else { return }
    let encoded = value.encoded()
    guard let again = try? JSONParser.parse(encoded) else {
        preconditionFailure("the parser refused its own encoding: \(String(decoding: encoded, as: UTF8.self))")
    }
    precondition(again == value, "a round trip changed the value")
}
