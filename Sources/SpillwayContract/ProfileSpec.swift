import FoundationEssentials
import KubeWire

/// A SpillwayProfile's spec, read and checked: the same target rules and key projection as the
/// annotations of a source, for a list of sources in the profile's own namespace.
public struct ProfileSpec: Sendable, Equatable {
    /// One listed source.
    public struct Source: Sendable, Equatable, Hashable {
        public var kind: Kind
        public var name: String
        /// `includeKeys`; nil when absent or empty. Wins over `excludeKeys`.
        public var includeKeys: Set<String>?
        public var excludeKeys: Set<String>

        public init(kind: Kind, name: String, includeKeys: Set<String>? = nil, excludeKeys: Set<String> = []) {
            self.kind = kind
            self.name = name
            self.includeKeys = includeKeys
            self.excludeKeys = excludeKeys
        }
    }

    /// `targetNamespaces`.
    public var targets: [TargetPattern]
    /// `targetSelector`; nil when absent.
    public var selector: LabelSelector?
    /// `excludeNamespaces`.
    public var excludes: [TargetPattern]
    public var sources: [Source]
    /// `targetClusters`: the clusters to replicate into, as `replicate-to-clusters` names them
    /// (`local` for the watched cluster, kubeconfig context names, globs); nil when absent: the
    /// watched cluster only.
    public var clusters: [ClusterPattern]?

    public init(targets: [TargetPattern] = [], selector: LabelSelector? = nil, excludes: [TargetPattern] = [],
                sources: [Source] = [], clusters: [ClusterPattern]? = nil) {
        self.targets = targets
        self.selector = selector
        self.excludes = excludes
        self.sources = sources
        self.clusters = clusters
    }

    /// The annotations' equivalent for one source: what target selection and rendering read.
    public func replicationSpec(for source: Source) -> ReplicationSpec {
        ReplicationSpec(targets: targets, selector: selector, excludes: excludes,
                        includeKeys: source.includeKeys, excludeKeys: source.excludeKeys, clusters: clusters)
    }

    /// The source's key: its kind and name in the profile's namespace.
    public static func key(_ source: Source, in namespace: String) -> ObjectKey {
        ObjectKey(kind: source.kind, namespace: namespace, name: source.name)
    }

    /// Reads `spec` as the API stores it. Every problem is reported (one line each, naming the
    /// field and the value), not only the first; the spec returned holds whatever did parse, so
    /// its sources are known even when something else is wrong. The CRD's schema and CEL rules
    /// refuse all of these at admission; the original spillway's CRD refuses few of them, so
    /// profiles written against it may still carry them.
    public static func read(_ spec: JSONValue?) -> (spec: ProfileSpec, problems: [String]) {
        var problems: [String] = []
        var result = ProfileSpec()
        result.targets = patterns(spec?["targetNamespaces"], field: "spec.targetNamespaces", &problems)
        result.excludes = patterns(spec?["excludeNamespaces"], field: "spec.excludeNamespaces", &problems)
        result.selector = selector(spec?["targetSelector"], &problems)
        result.sources = sources(spec?["sources"], &problems)
        result.clusters = clusters(spec?["targetClusters"], &problems)
        return (result, problems)
    }

    /// `targetClusters`: one context name, glob or `local` per entry. An empty list is refused
    /// rather than read as "nowhere" (leave the field out for the watched cluster only).
    private static func clusters(_ value: JSONValue?, _ problems: inout [String]) -> [ClusterPattern]? {
        guard let value = present(value) else { return nil }
        let field = "spec.targetClusters"
        guard let items = value.arrayValue else {
            problems.append("\(field): must be a list of kubeconfig context names or globs (\(Vocabulary.localCluster) for the watched cluster)")
            return nil
        }
        guard !items.isEmpty else {
            problems.append("\(field): must name at least one cluster; leave it out to replicate into the watched cluster only")
            return nil
        }
        return entries(items, field: field, noun: "context name", &problems, parse: ClusterPattern.parseList)
    }

    private static func present(_ value: JSONValue?) -> JSONValue? {
        guard let value, value != .null else { return nil }
        return value
    }

    private static func patterns(_ value: JSONValue?, field: String, _ problems: inout [String]) -> [TargetPattern] {
        guard let value = present(value) else { return [] }
        guard let items = value.arrayValue else {
            problems.append("\(field): must be a list of namespace names or globs")
            return []
        }
        return entries(items, field: field, noun: "namespace name", &problems, parse: TargetPattern.parseList)
    }

    /// Each entry of a list field parsed as one name or glob (a comma would hide a second one),
    /// a problem recorded per bad entry, naming its index.
    private static func entries<Pattern>(_ items: [JSONValue], field: String, noun: String, _ problems: inout [String],
                                         parse: (String) throws(SyntaxError) -> [Pattern]) -> [Pattern] {
        var patterns: [Pattern] = []
        for (index, item) in items.enumerated() {
            let at = "\(field)[\(index)]"
            guard let text = item.stringValue else {
                problems.append("\(at): must be a string")
                continue
            }
            guard !text.contains(",") else {
                problems.append("\(at): \"\(text)\": one \(noun) or glob per entry")
                continue
            }
            do {
                let parsed = try parse(text)
                if parsed.isEmpty { problems.append("\(at): must not be empty") }
                patterns += parsed
            } catch {
                problems.append("\(at): \(error.message)")
            }
        }
        return patterns
    }

    private static func strings(_ value: JSONValue?, at field: String, _ problems: inout [String]) -> [String] {
        guard let value = present(value) else { return [] }
        guard let items = value.arrayValue else {
            problems.append("\(field): must be a list of strings")
            return []
        }
        var out: [String] = []
        for (index, item) in items.enumerated() {
            guard let text = item.stringValue else {
                problems.append("\(field)[\(index)]: must be a string")
                continue
            }
            out.append(text)
        }
        return out
    }

    /// A `metav1.LabelSelector`, with the checks of the API's `LabelSelectorAsSelector`. An
    /// empty one (no requirement) would select every namespace; it is refused rather than read
    /// as "everything" or as "nothing", since the original spillway read it as everything.
    private static func selector(_ value: JSONValue?, _ problems: inout [String]) -> LabelSelector? {
        guard let value = present(value) else { return nil }
        let field = "spec.targetSelector"
        guard value.objectValue != nil else {
            problems.append("\(field): must be a label selector (matchLabels, matchExpressions)")
            return nil
        }
        let before = problems.count
        var requirements: [LabelSelector.Requirement] = []
        func checkKey(_ key: String, at path: String) {
            for problem in NameValidation.qualifiedNameProblems(key) { problems.append("\(path): \"\(key)\": \(problem)") }
        }
        func checkValue(_ text: String, at path: String) {
            for problem in NameValidation.labelValueProblems(text) { problems.append("\(path): \"\(text)\": \(problem)") }
        }
        if let labels = present(value["matchLabels"]) {
            if let map = labels.objectValue {
                for (key, item) in map.sorted(by: { $0.key < $1.key }) {
                    let path = "\(field).matchLabels[\(key)]"
                    checkKey(key, at: path)
                    guard let text = item.stringValue else {
                        problems.append("\(path): must be a string")
                        continue
                    }
                    checkValue(text, at: path)
                    requirements.append(.init(key: key, op: .equals, values: [text]))
                }
            } else {
                problems.append("\(field).matchLabels: must be a map of label keys to values")
            }
        }
        if let expressions = present(value["matchExpressions"]) {
            for (index, expression) in (expressions.arrayValue ?? []).enumerated() {
                let path = "\(field).matchExpressions[\(index)]"
                let key = expression["key"]?.stringValue ?? ""
                checkKey(key, at: "\(path).key")
                let values = strings(expression["values"], at: "\(path).values", &problems)
                for (i, text) in values.enumerated() { checkValue(text, at: "\(path).values[\(i)]") }
                let unique = Array(Set(values)).sorted()
                switch expression["operator"]?.stringValue {
                case "In", "NotIn":
                    if values.isEmpty { problems.append("\(path).values: must be given for In and NotIn") }
                    let op: LabelSelector.Operator = expression["operator"]?.stringValue == "In" ? .in : .notIn
                    requirements.append(.init(key: key, op: op, values: unique))
                case "Exists", "DoesNotExist":
                    if !values.isEmpty { problems.append("\(path).values: must be left out for Exists and DoesNotExist") }
                    let op: LabelSelector.Operator = expression["operator"]?.stringValue == "Exists" ? .exists : .doesNotExist
                    requirements.append(.init(key: key, op: op, values: []))
                case let other:
                    problems.append("\(path).operator: \"\(other ?? "")\" is not In, NotIn, Exists or DoesNotExist")
                }
            }
            if expressions.arrayValue == nil { problems.append("\(field).matchExpressions: must be a list") }
        }
        if problems.count == before && requirements.isEmpty {
            problems.append("\(field): an empty selector would select every namespace; give matchLabels or matchExpressions, or use targetNamespaces: [\"*\"]")
        }
        return problems.count == before ? LabelSelector(requirements: requirements) : nil
    }

    private static func sources(_ value: JSONValue?, _ problems: inout [String]) -> [Source] {
        let field = "spec.sources"
        guard let items = present(value)?.arrayValue, !items.isEmpty else {
            problems.append("\(field): at least one source is required")
            return []
        }
        var sources: [Source] = []
        var seen: [Source: Int] = [:]
        for (index, item) in items.enumerated() {
            let path = "\(field)[\(index)]"
            let kindText = item["kind"]?.stringValue ?? ""
            let name = item["name"]?.stringValue ?? ""
            guard let kind = Kind(rawValue: kindText) else {
                problems.append("\(path).kind: \"\(kindText)\" is not Secret or ConfigMap")
                continue
            }
            guard NameValidation.isDNS1123Subdomain(name) else {
                problems.append("\(path).name: \"\(name)\" is not a \(kind) name")
                continue
            }
            func keys(_ key: String) -> [String] {
                let list = strings(item[key], at: "\(path).\(key)", &problems)
                for text in list where !NameValidation.isConfigKey(text) {
                    problems.append("\(path).\(key): \"\(text)\" is not a data key (letters, digits, '-', '_' and '.')")
                }
                return list
            }
            let include = keys("includeKeys")
            let source = Source(kind: kind, name: name, includeKeys: include.isEmpty ? nil : Set(include),
                                excludeKeys: Set(keys("excludeKeys")))
            let identity = Source(kind: kind, name: name)
            if let first = seen[identity] {
                problems.append("\(path): \(kind)/\(name) is already listed in \(field)[\(first)]")
                continue
            }
            seen[identity] = index
            sources.append(source)
        }
        return sources
    }
}

/// A SpillwayProfile as the planner sees it.
public struct ProfileObject: Sendable, Equatable {
    public var key: NamespacedName
    public var uid: String
    public var resourceVersion: String
    public var generation: Int64
    public var finalizers: [String]
    /// Set once deletion was requested; the finalizer holds the profile until its replicas are gone.
    public var deletionTimestamp: Date?
    /// The spec as read; its sources are known even when `problems` is not empty.
    public var spec: ProfileSpec
    /// What is wrong with the spec; when any, nothing is created, updated or deleted for it.
    public var problems: [String]
    /// The status as stored (spillwayd writes it only when it changes).
    public var status: JSONValue?

    public init(key: NamespacedName, uid: String = "", resourceVersion: String = "", generation: Int64 = 1,
                finalizers: [String] = [], deletionTimestamp: Date? = nil, spec: ProfileSpec,
                problems: [String] = [], status: JSONValue? = nil) {
        self.key = key
        self.uid = uid
        self.resourceVersion = resourceVersion
        self.generation = generation
        self.finalizers = finalizers
        self.deletionTimestamp = deletionTimestamp
        self.spec = spec
        self.problems = problems
        self.status = status
    }

    /// Reads a SpillwayProfile object (any served version); nil without metadata. A profile
    /// without a namespace (a manifest) is placed in `default`, as kubectl would.
    public init?(json: JSONValue) {
        guard let meta = ObjectMeta(object: json) else { return nil }
        let (spec, problems) = ProfileSpec.read(json["spec"])
        self.init(key: NamespacedName(namespace: meta.namespace ?? "default", name: meta.name), uid: meta.uid,
                  resourceVersion: meta.resourceVersion, generation: meta.generation, finalizers: meta.finalizers,
                  deletionTimestamp: meta.deletionTimestamp.map { Timestamp.parse($0) ?? Date(timeIntervalSince1970: 0) },
                  spec: spec, problems: problems, status: json["status"])
    }

    public var namespace: String { key.namespace ?? "" }
    public var isTerminating: Bool { deletionTimestamp != nil }
    public var hasFinalizer: Bool { finalizers.contains(Vocabulary.finalizer) }
    public var hasLegacyFinalizer: Bool { finalizers.contains(Vocabulary.legacyFinalizer) }
    /// The keys of the sources it lists.
    public var sourceKeys: [ObjectKey] { spec.sources.map { ProfileSpec.key($0, in: namespace) } }
}

extension ProfileObject {
    /// The profile a `profile-ref` value names (`namespace/name`); nil when it does not parse.
    public static func key(ref: String) -> NamespacedName? {
        let parts = ref.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2, NameValidation.isDNS1123Label(parts[0]), NameValidation.isDNS1123Subdomain(parts[1])
        else { return nil }
        return NamespacedName(namespace: parts[0], name: parts[1])
    }
}
