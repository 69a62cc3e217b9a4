/// One entry of `replicate-to-clusters`: the watched cluster (`local`), a target cluster by its
/// kubeconfig context name, or a glob over those names.
public enum ClusterPattern: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The reserved name `local`: the cluster spillwayd watches, where the source lives. Only this
    /// name reaches it; a glob never does, so `*` means "every target cluster".
    case local
    /// A context name, written out.
    case name(String)
    /// A glob over context names (`edge-*`, see ``Glob``).
    case glob(Glob)

    /// Parses a comma-separated list; whitespace around entries and empty entries are ignored.
    /// Context names are whatever a kubeconfig calls them (`prod-eu`, `gke_proj_zone_c`,
    /// `arn:aws:eks:eu-west-1:1234:cluster/prod`), so any printable ASCII but the glob
    /// characters, `,`, `]` and `\` is allowed.
    public static func parseList(_ text: String) throws(SyntaxError) -> [ClusterPattern] {
        try commaList(text).map { entry throws(SyntaxError) in
            if entry == Vocabulary.localCluster { return .local }
            let glob = try Glob(entry, alphabet: isContextCharacter)
            return glob.isLiteral ? .name(entry) : .glob(glob)
        }
    }

    static func isContextCharacter(_ c: Character) -> Bool {
        guard let ascii = c.asciiValue, (0x21..<0x7f).contains(ascii) else { return false }
        return c != "," && c != "]" && c != "\\"
    }

    /// Whether the entry selects the target cluster named `context` (never `local`).
    public func matches(context: String) -> Bool {
        switch self {
        case .local: false
        case .name(let name): name == context
        case .glob(let glob): glob.matches(context)
        }
    }

    public var description: String {
        switch self {
        case .local: Vocabulary.localCluster
        case .name(let name): name
        case .glob(let glob): glob.pattern
        }
    }
}
