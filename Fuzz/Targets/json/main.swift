import FuzzDriver
import KubeWire

/// The JSON parser on arbitrary bytes: it must never crash, and what it accepts encodes to a
/// fixed point: parsing the encoding and encoding again gives the same bytes. (Not the same
/// value: a whole double such as `0e300` is written `0`, as Go writes it, and read back as an
/// integer.)
///
/// And the metadata scanner against it, on the same bytes: the scanner rejects exactly what the
/// parser rejects (the same offset and message), and where both accept, it reads the same
/// ObjectMeta from the object (and the same items' metadata from a list) as the parsed value.
fuzz { bytes in
    let parsed = JSONParser.parseResult(UnsafeRawBufferPointer(bytes))
    let scanned = ObjectMeta.decode(jsonObject: UnsafeRawBufferPointer(bytes))
    switch (parsed, scanned) {
    case (.failure(let p), .failure(let s)):
        precondition(p == s, "the parser and the scanner reject differently: \(p) vs \(s)")
    case (.failure(let p), .success):
        preconditionFailure("the scanner accepted what the parser rejects: \(p)")
    case (.success, .failure(let s)):
        preconditionFailure("the scanner rejected what the parser accepts: \(s)")
    case (.success(let value), .success(let meta)):
        precondition(meta == ObjectMeta(object: value), "the scanner read other metadata than the parsed object holds")
        let page = try? ListPage(json: value)
        let metadataPage = try? MetadataListPage.decode(Array(bytes))
        precondition((page == nil) == (metadataPage == nil), "the list decoders disagree on whether this is a list")
        if let page, let metadataPage {
            precondition(page.items.compactMap(ObjectMeta.init(object:)) == metadataPage.items, "the list decoders read other items")
            precondition(page.resourceVersion == metadataPage.resourceVersion && page.continueToken == metadataPage.continueToken
                && page.remainingItemCount == metadataPage.remainingItemCount, "the list decoders read other list metadata")
        }
    }

    guard case .success(let value) = parsed else { return }
    let encoded = value.encoded()
    guard let again = try? JSONParser.parse(encoded) else {
        preconditionFailure("the parser refused its own encoding: \(String(decoding: encoded, as: UTF8.self))")
    }
    precondition(again.encoded() == encoded, "a round trip changed the encoding: \(String(decoding: encoded, as: UTF8.self))")
}
