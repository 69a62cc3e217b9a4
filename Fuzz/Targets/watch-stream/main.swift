import FuzzDriver
import KubeWire

/// The watch stream decoder fed arbitrary bytes in arbitrary chunks (the first byte picks the
/// chunk size): it must never crash, never buffer more than its limit, and decode exactly the
/// objects a whole-stream feed decodes.
fuzz { bytes in
    guard !bytes.isEmpty else { return }
    let bytes = Array(bytes)
    let chunk = Int(bytes[0] % 64) + 1
    let stream = bytes.dropFirst()

    var whole = JSONStreamDecoder(maxEventBytes: 1 << 16)
    let all = try? whole.feed(stream)

    var pieces = JSONStreamDecoder(maxEventBytes: 1 << 16)
    var seen: [JSONValue] = []
    var failed = false
    var start = stream.startIndex
    while start < stream.endIndex {
        let end = min(start + chunk, stream.endIndex)
        do {
            seen += try pieces.feed(stream[start..<end])
        } catch {
            failed = true
            break
        }
        precondition(pieces.bufferedBytes <= (1 << 16) + chunk, "buffered past the event limit")
        start = end
    }
    if let all, !failed {
        precondition(all == seen, "chunking changed what was decoded")
    }
}
