import FuzzDriver
import SpillwayContract

/// replicate-to target lists and their globs: the first line is the list, the others namespace
/// names to match. Parsing and matching never crash.
fuzz { bytes in
    let text = String(decoding: bytes, as: UTF8.self)
    var lines = text.split(separator: "\n", omittingEmptySubsequences: false).map(String.init)
    guard !lines.isEmpty, let patterns = try? TargetPattern.parseList(lines.removeFirst()) else { return }
    for name in lines.prefix(16) {
        for pattern in patterns { _ = pattern.matches(name) }
    }
}
