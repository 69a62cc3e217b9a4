import FuzzDriver
import SpillwayContract

/// Namespace accept-from pattern lists: the first line is the list, the others
/// `Kind/namespace/name` keys to match. Parsing and matching never crash.
fuzz { bytes in
    let text = String(decoding: bytes, as: UTF8.self)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard !lines.isEmpty, let patterns = try? AcceptPattern.parseList(lines.removeFirst()) else { return }
    for line in lines.prefix(16) {
        guard let key = ObjectKey(line) else { continue }
        for pattern in patterns { _ = pattern.matches(key) }
    }
}
