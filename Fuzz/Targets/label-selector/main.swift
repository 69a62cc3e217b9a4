import FuzzDriver
import KubeWire

/// Label selectors: the first line is the selector, the rest `key=value` labels. Parsing never
/// crashes; a parsed selector's text parses again to the same selector, and matching never crashes.
fuzz { bytes in
    let text = String(decoding: bytes, as: UTF8.self)
    let lines = text.split(separator: "\n", maxSplits: 1, omittingEmptySubsequences: false)
    guard let selector = try? LabelSelector(parsing: String(lines.first ?? "")) else { return }
    var labels: [String: String] = [:]
    for pair in (lines.count > 1 ? lines[1] : "").split(separator: ",") {
        let parts = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
        labels[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
    }
    _ = selector.matches(labels)
    guard let again = try? LabelSelector(parsing: selector.description) else {
        preconditionFailure("\(selector.description) does not parse again")
    }
    precondition(again.matches(labels) == selector.matches(labels), "\(selector.description) changed meaning")
}
