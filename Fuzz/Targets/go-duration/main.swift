import FuzzDriver
import KubeWire

/// Go durations (replica-ttl): parsing never crashes or overflows; a parsed duration's text
/// parses again to the same duration.
fuzz { bytes in
    let text = String(decoding: bytes, as: UTF8.self)
    guard let duration = try? GoDuration(parsing: text) else { return }
    guard let again = try? GoDuration(parsing: duration.description) else {
        preconditionFailure("\"\(duration.description)\" (from \"\(text)\") does not parse again")
    }
    precondition(again == duration, "\"\(text)\" → \(duration.description) → \(again.description)")
}
