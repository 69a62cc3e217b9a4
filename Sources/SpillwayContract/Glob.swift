#if canImport(Glibc)
import Glibc
#elseif canImport(Musl)
import Musl
#elseif canImport(Darwin)
import Darwin
#endif

/// A shell-style pattern matched with fnmatch(3), restricted to the documented syntax:
/// `*` (any run of characters), `?` (one character), `[a-z]` / `[abc]` (one character of a
/// set or range), `[!a-z]` (one character not in it). Anything else is rejected when parsed,
/// so a typo is reported instead of silently matching nothing.
public struct Glob: Sendable, Equatable, Hashable, CustomStringConvertible {
    public let pattern: String
    /// True when the pattern has no wildcard: it names exactly one thing.
    public let isLiteral: Bool

    /// - Parameter isLiteral: which characters may appear outside the wildcards (the alphabet
    ///   of the names matched).
    init(_ pattern: String, alphabet isLiteral: (Character) -> Bool) throws(SyntaxError) {
        var literal = true
        var iterator = pattern.makeIterator()
        while let c = iterator.next() {
            switch c {
            case "*", "?":
                literal = false
            case "[":
                literal = false
                var members = 0
                var closed = false
                var first = true
                while let m = iterator.next() {
                    if m == "]" && members > 0 { closed = true; break }
                    if m == "!" && first { first = false; continue }
                    first = false
                    guard isLiteral(m) || m == "-" else {
                        throw SyntaxError("\"\(pattern)\": character '\(m)' is not allowed in a [set]")
                    }
                    members += 1
                }
                guard closed else { throw SyntaxError("\"\(pattern)\": '[' without a closing ']'") }
            default:
                guard isLiteral(c) else {
                    throw SyntaxError("\"\(pattern)\": character '\(c)' is not allowed (globs support *, ?, [a-z] and [!a-z])")
                }
            }
        }
        self.pattern = pattern
        self.isLiteral = literal
    }

    public func matches(_ name: String) -> Bool {
        if isLiteral { return name == pattern }
        return fnmatch(pattern, name, 0) == 0
    }

    public var description: String { pattern }
}
