/// One entry of a namespace's `accept-from`: `[cluster:]Kind/namespace/name`, each part a glob
/// (`*` alone accepts anything there; `team-*` and the rest of ``Glob`` work too).
///
/// Without a cluster prefix a pattern means what it always meant: sources of the namespace's own
/// cluster. A source in another cluster, written here by a management host, is admitted only by a
/// pattern that names its cluster (`mgmt:Secret/platform/*`, or `*:Secret/platform/*` for any
/// cluster): a namespace owner who wrote `Secret/platform/*` meant this cluster's `platform`, not a
/// namespace of that name in a cluster they may never have heard of.
public struct AcceptPattern: Sendable, Equatable, Hashable, CustomStringConvertible {
    /// The source's cluster (its `--cluster-name`); nil: the namespace's own cluster only.
    public var cluster: Glob?
    public var kind: Glob
    public var namespace: Glob
    public var name: Glob

    /// Parses a comma-separated list of patterns; whitespace and empty entries are ignored.
    public static func parseList(_ text: String) throws(SyntaxError) -> [AcceptPattern] {
        var patterns: [AcceptPattern] = []
        let nameCharacter: (Character) -> Bool = {
            $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-" || $0 == ".")
        }
        for entry in commaList(text) {
            // No part of Kind/namespace/name may hold a ':', so the first one ends a cluster prefix.
            var cluster: Glob?
            var path = Substring(entry)
            if let colon = entry.firstIndex(of: ":") {
                let prefix = String(entry[..<colon])
                guard !prefix.isEmpty else {
                    throw SyntaxError("\"\(entry)\": the cluster before ':' is empty (use *: for any cluster)")
                }
                cluster = try Glob(prefix) { $0.isASCII && ($0.isLowercase || $0.isNumber || $0 == "-") }
                path = entry[entry.index(after: colon)...]
            }
            let segments = path.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
            guard segments.count == 3, segments.allSatisfy({ !$0.isEmpty }) else {
                throw SyntaxError("\"\(entry)\" is not [cluster:]Kind/namespace/name (use * for any segment)")
            }
            let kind = try Glob(segments[0]) { $0.isASCII && $0.isLetter }
            if kind.isLiteral, Kind(rawValue: segments[0]) == nil {
                throw SyntaxError("\"\(entry)\": kind must be Secret or ConfigMap")
            }
            patterns.append(AcceptPattern(cluster: cluster, kind: kind,
                                          namespace: try Glob(segments[1], alphabet: nameCharacter),
                                          name: try Glob(segments[2], alphabet: nameCharacter)))
        }
        return patterns
    }

    /// Whether the pattern admits `key`, a source of the watched cluster, into a namespace of the
    /// cluster `placement` writes into.
    public func matches(_ key: ObjectKey, placement: Placement = .local) -> Bool {
        guard kind.matches(key.kind.rawValue) && namespace.matches(key.namespace) && name.matches(key.name) else {
            return false
        }
        guard let cluster else { return placement.isLocal }
        // A source whose cluster has no name yet is "some cluster": only `*` admits it.
        return placement.sourceCluster.map(cluster.matches) ?? (cluster.pattern == "*")
    }

    public var description: String {
        (cluster.map { "\($0):" } ?? "") + "\(kind)/\(namespace)/\(name)"
    }
}
