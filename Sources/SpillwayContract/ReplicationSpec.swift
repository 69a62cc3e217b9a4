import FoundationEssentials
import KubeWire

/// A source's replication annotations, parsed and validated.
public struct ReplicationSpec: Sendable, Equatable {
    /// `replicate-to`.
    public var targets: [TargetPattern]
    /// `replicate-to-matching`; an absent or blank annotation is nil (never "every namespace").
    public var selector: LabelSelector?
    /// `exclude-namespaces`.
    public var excludes: [TargetPattern]
    /// `include-keys`; nil when absent or blank.
    public var includeKeys: Set<String>?
    /// `exclude-keys`; ignored when `includeKeys` is set (include wins).
    public var excludeKeys: Set<String>
    /// `replica-ttl`.
    public var ttl: GoDuration?
    /// `expired-namespaces`: where a replica expired and must not be recreated while `ttl` is set.
    public var expiredNamespaces: [String]
    /// `force-adopt: "true"`.
    public var forceAdopt: Bool
    /// `replicate-to-clusters`; nil when absent or blank (the watched cluster only).
    public var clusters: [ClusterPattern]?

    public init(targets: [TargetPattern] = [], selector: LabelSelector? = nil, excludes: [TargetPattern] = [],
                includeKeys: Set<String>? = nil, excludeKeys: Set<String> = [], ttl: GoDuration? = nil,
                expiredNamespaces: [String] = [], forceAdopt: Bool = false, clusters: [ClusterPattern]? = nil) {
        self.targets = targets
        self.selector = selector
        self.excludes = excludes
        self.includeKeys = includeKeys
        self.excludeKeys = excludeKeys
        self.ttl = ttl
        self.expiredNamespaces = expiredNamespaces
        self.forceAdopt = forceAdopt
        self.clusters = clusters
    }

    /// Whether the source asks for replication at all (`replicate-to` or `replicate-to-matching`
    /// is present).
    public static func isRequested(in annotations: [String: String]) -> Bool {
        annotations[Vocabulary.replicateTo] != nil || annotations[Vocabulary.replicateToMatching] != nil
    }

    /// Parses every spillway annotation of a source. All malformed annotations are reported, not
    /// only the first, so one Warning event per mistake can be emitted at once.
    public static func parse(_ annotations: [String: String]) throws(InvalidAnnotations) -> ReplicationSpec {
        var errors: [AnnotationError] = []
        func field<T>(_ name: String, _ parse: (String) throws(SyntaxError) -> T) -> T? {
            do {
                return try parseAnnotation(name, in: annotations, parse)
            } catch {
                errors.append(error)
                return nil
            }
        }
        var spec = ReplicationSpec()
        spec.targets = field(Vocabulary.replicateTo, TargetPattern.parseList) ?? []
        spec.selector = field(Vocabulary.replicateToMatching) { (text: String) throws(SyntaxError) -> LabelSelector? in
            commaList(text).isEmpty ? nil : try parseSelector(text)
        } ?? nil
        spec.excludes = field(Vocabulary.excludeNamespaces, TargetPattern.parseList) ?? []
        spec.includeKeys = field(Vocabulary.includeKeys, parseKeyList) ?? nil
        spec.excludeKeys = (field(Vocabulary.excludeKeys, parseKeyList) ?? nil) ?? []
        spec.ttl = field(Vocabulary.replicaTTL, parseTTL)
        spec.expiredNamespaces = field(Vocabulary.expiredNamespaces, parseNamespaceList) ?? []
        spec.forceAdopt = field(Vocabulary.forceAdopt, parseBool) ?? false
        // Blank is absent, as for replicate-to-matching: emptying the value never stops the
        // watched cluster's replication by accident.
        spec.clusters = field(Vocabulary.replicateToClusters) { (text: String) throws(SyntaxError) -> [ClusterPattern]? in
            let patterns = try ClusterPattern.parseList(text)
            return patterns.isEmpty ? nil : patterns
        } ?? nil
        guard errors.isEmpty else { throw InvalidAnnotations(errors: errors) }
        return spec
    }

    /// A comma-separated list of data keys; nil when it lists none.
    static func parseKeyList(_ text: String) throws(SyntaxError) -> Set<String>? {
        let keys = commaList(text)
        for key in keys where !NameValidation.isConfigKey(key) {
            throw SyntaxError("\"\(key)\" is not a data key (letters, digits, '-', '_' and '.')")
        }
        return keys.isEmpty ? nil : Set(keys)
    }

    static func parseNamespaceList(_ text: String) throws(SyntaxError) -> [String] {
        let names = commaList(text)
        for name in names where !NameValidation.isDNS1123Label(name) {
            throw SyntaxError("\"\(name)\" is not a namespace name")
        }
        return names
    }

    /// A namespace label selector, in the grammar of Kubernetes (the empty one is handled as an
    /// absent annotation by the caller).
    static func parseSelector(_ text: String) throws(SyntaxError) -> LabelSelector {
        do {
            return try LabelSelector(parsing: text)
        } catch {
            throw SyntaxError("label selector \"\(text)\": \(error)")
        }
    }

    /// A replica TTL: a Go duration greater than zero; surrounding whitespace is ignored.
    static func parseTTL(_ raw: String) throws(SyntaxError) -> GoDuration {
        let text = raw.trimmingWhitespaceAndNewlines()
        func fail(_ problem: String) -> SyntaxError {
            SyntaxError("duration \"\(text)\": \(problem) (examples: 30m, 24h, 168h, 1h30m)")
        }
        let ttl: GoDuration
        do {
            ttl = try GoDuration(parsing: text)
        } catch {
            throw fail(error.reason)
        }
        guard ttl.nanoseconds > 0 else { throw fail("must be greater than zero") }
        return ttl
    }

    static func parseBool(_ text: String) throws(SyntaxError) -> Bool {
        switch text.trimmingWhitespaceAndNewlines().lowercased() {
        case "true": return true
        case "false", "": return false
        default: throw SyntaxError("expected \"true\" or \"false\"")
        }
    }
}
