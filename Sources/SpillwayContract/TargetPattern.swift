import KubeWire

/// One entry of `replicate-to` or `exclude-namespaces`.
public enum TargetPattern: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// `all` or `*`: every namespace (but the source's own, and protected ones).
    case all
    /// A namespace name, written out: the only way to reach a protected namespace.
    case name(String)
    /// A glob such as `team-*` (see ``Glob``).
    case glob(Glob)

    /// Parses a comma-separated list. Whitespace around entries and empty entries are ignored;
    /// every other entry must be `all`, `*`, a namespace name or a glob over namespace-name
    /// characters.
    public static func parseList(_ text: String) throws(SyntaxError) -> [TargetPattern] {
        var patterns: [TargetPattern] = []
        for entry in commaList(text) {
            if entry == "all" || entry == "*" {
                patterns.append(.all)
                continue
            }
            let glob = try Glob(entry) { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
            if glob.isLiteral {
                guard NameValidation.isDNS1123Label(entry) else {
                    throw SyntaxError("\"\(entry)\" is not a namespace name (lowercase letters, digits and '-', at most 63 characters)")
                }
                patterns.append(.name(entry))
            } else {
                patterns.append(.glob(glob))
            }
        }
        return patterns
    }

    public func matches(_ namespace: String) -> Bool {
        switch self {
        case .all: true
        case .name(let name): name == namespace
        case .glob(let glob): glob.matches(namespace)
        }
    }

    public var description: String {
        switch self {
        case .all: "all"
        case .name(let name): name
        case .glob(let glob): glob.pattern
        }
    }
}
