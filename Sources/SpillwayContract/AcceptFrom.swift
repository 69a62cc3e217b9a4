/// One entry of a namespace's `accept-from`: `Kind/namespace/name`, each segment a glob
/// (`*` alone accepts anything there; `team-*` and the rest of ``Glob`` work too).
public struct AcceptPattern: Sendable, Equatable, Hashable, CustomStringConvertible {
    public var kind: Glob
    public var namespace: Glob
    public var name: Glob

    /// Parses a comma-separated list of patterns; whitespace and empty entries are ignored.
    public static func parseList(_ text: String) throws(SyntaxError) -> [AcceptPattern] {
        var patterns: [AcceptPattern] = []
        for entry in commaList(text) {
            let segments = entry.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard segments.count == 3, segments.allSatisfy({ !$0.isEmpty }) else {
                throw SyntaxError("\"\(entry)\" is not Kind/namespace/name (use * for any segment)")
            }
            let kind = try Glob(segments[0]) { $0.isASCII && $0.isLetter }
            if kind.isLiteral, Kind(rawValue: segments[0]) == nil {
                throw SyntaxError("\"\(entry)\": kind must be Secret or ConfigMap")
            }
            let nameCharacter: (Character) -> Bool = {
                $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".")
            }
            patterns.append(AcceptPattern(kind: kind,
                                          namespace: try Glob(segments[1], alphabet: nameCharacter),
                                          name: try Glob(segments[2], alphabet: nameCharacter)))
        }
        return patterns
    }

    public func matches(_ key: ObjectKey) -> Bool {
        kind.matches(key.kind.rawValue) && namespace.matches(key.namespace) && name.matches(key.name)
    }

    public var description: String { "\(kind)/\(namespace)/\(name)" }
}
