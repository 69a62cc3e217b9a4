import FoundationEssentials
import KubeWire

/// The status spillwayd writes on a SpillwayProfile: `replicatedNamespaces`, the figures of the
/// `kubectl get swp` columns, and the conditions `SourcesAvailable` and `Ready`, each with the
/// generation it was computed for.
///
/// A condition keeps its `lastTransitionTime` while its status stays the same, and nothing
/// else in it depends on the time, so a reconcile that finds the same situation computes the
/// same status and spillwayd writes nothing (``isCurrent(_:)``).
public struct ProfileStatus: Sendable, Equatable {
    public struct Condition: Sendable, Equatable {
        public var type: String
        /// `True`, `False` or `Unknown`.
        public var status: String
        public var reason: String
        public var message: String
    }

    public var replicatedNamespaces: [String]
    /// `available/listed`.
    public var sources: String
    public var conditions: [Condition]
    public var observedGeneration: Int64

    /// How many names a message lists before it counts the rest.
    static let namesShown = 10

    /// The status after a reconcile.
    ///
    /// - Parameters:
    ///   - summary: what the profile's plan found.
    ///   - failures: the writes that failed, one line each (they make `Ready` False).
    ///   - unwritten: per namespace, the replicas a failed create left out.
    ///   - clusters: per target cluster the profile names (`targetClusters`), what its plan there
    ///     found; their trouble makes `Ready` False and is said cluster by cluster.
    public init(summary: ProfileSummary, failures: [String] = [], unwritten: [String: Int] = [:], generation: Int64,
                clusters: [ProfileClusterReport] = []) {
        observedGeneration = generation
        replicatedNamespaces = summary.replicas.filter { $0.value - (unwritten[$0.key] ?? 0) > 0 }.keys.sorted()
        sources = "\(max(0, summary.available))/\(summary.listed.count)"
        let namespace = summary.listed.first?.namespace ?? "the profile's namespace"
        let available: Condition
        if !summary.problems.isEmpty {
            available = Condition(type: Vocabulary.conditionSourcesAvailable, status: "Unknown", reason: "InvalidSpec",
                                  message: "the spec is invalid; see the Ready condition")
        } else if summary.missing.isEmpty && summary.unusable.isEmpty {
            available = Condition(type: Vocabulary.conditionSourcesAvailable, status: "True", reason: "AllSourcesFound",
                                  message: summary.listed.count == 1 ? "the listed source exists in \(namespace)"
                                      : "all \(summary.listed.count) listed sources exist in \(namespace)")
        } else {
            var parts: [String] = []
            if !summary.missing.isEmpty {
                parts.append("not found in \(namespace): "
                             + Self.list(summary.missing.map { "\($0.kind)/\($0.name)" })
                             + "; their replicas are removed until they exist")
            }
            if !summary.unusable.isEmpty {
                parts.append("not replicated: " + Self.list(summary.unusable))
            }
            available = Condition(type: Vocabulary.conditionSourcesAvailable, status: "False",
                                  reason: summary.missing.isEmpty ? "SourceNotReplicable" : "SourceMissing",
                                  message: parts.joined(separator: "; "))
        }
        var ready: Condition
        if !summary.problems.isEmpty {
            ready = Condition(type: Vocabulary.conditionReady, status: "False", reason: "InvalidSpec",
                              message: Self.list(summary.problems, separator: "; ") + "; nothing is changed until it is fixed")
        } else if !failures.isEmpty {
            ready = Condition(type: Vocabulary.conditionReady, status: "False", reason: "WriteFailed",
                              message: Self.list(failures, separator: "; "))
        } else if !summary.held.isEmpty {
            let count = summary.held.count == 1 ? "1 target is" : "\(summary.held.count) targets are"
            ready = Condition(type: Vocabulary.conditionReady, status: "False", reason: "TargetsHeld",
                              message: "\(count) held by another owner, which keeps them: " + Self.list(summary.held, separator: "; "))
        } else {
            let count = replicatedNamespaces.count
            ready = Condition(type: Vocabulary.conditionReady, status: "True", reason: "Replicated",
                              message: "every replica is in place (\(count) \(count == 1 ? "namespace" : "namespaces"))")
        }
        if summary.problems.isEmpty && !clusters.isEmpty {
            ready = Self.ready(ready, clusters: clusters, localNamespaces: replicatedNamespaces.count)
        }
        conditions = [available, ready]
    }

    /// `Ready` with the target clusters: False when any of them is away or has a target held or
    /// a write failed, saying so cluster by cluster after what the watched cluster says.
    private static func ready(_ local: Condition, clusters: [ProfileClusterReport], localNamespaces: Int) -> Condition {
        func namespaces(_ count: Int) -> String { "\(count) \(count == 1 ? "namespace" : "namespaces")" }
        let troubled = clusters.filter(\.isTroubled)
        guard !troubled.isEmpty else {
            guard local.status == "True" else { return local }
            let parts = ["the watched cluster: \(namespaces(localNamespaces))"]
                + clusters.map { "cluster \($0.cluster): \(namespaces($0.replicatedNamespaces))" }
            return Condition(type: local.type, status: "True", reason: local.reason,
                             message: "every replica is in place (\(parts.joined(separator: "; ")))")
        }
        let said = troubled.map { report -> String in
            var parts: [String] = []
            if let problem = report.problem { parts.append("\(problem); its replicas are written once it answers") }
            if !report.failures.isEmpty { parts.append(list(report.failures, separator: "; ")) }
            if !report.held.isEmpty {
                let count = report.held.count == 1 ? "1 target is" : "\(report.held.count) targets are"
                parts.append("\(count) held by another owner, which keeps them: " + list(report.held, separator: "; "))
            }
            return "cluster \(report.cluster): " + parts.joined(separator: "; ")
        }
        let message = said.joined(separator: "; ")
        if local.status != "True" {
            return Condition(type: local.type, status: local.status, reason: local.reason, message: local.message + "; " + message)
        }
        let first = troubled[0]
        let reason = first.problem != nil ? "ClusterUnavailable" : !first.failures.isEmpty ? "WriteFailed" : "TargetsHeld"
        return Condition(type: local.type, status: "False", reason: reason, message: message)
    }

    /// Up to ``namesShown`` entries, then a count of the rest.
    static func list(_ items: [String], separator: String = ", ") -> String {
        var text = items.prefix(namesShown).joined(separator: separator)
        if items.count > namesShown { text += " and \(items.count - namesShown) more" }
        return text
    }

    /// Whether `stored` (a profile's `status` as the API holds it) already says this.
    public func isCurrent(_ stored: JSONValue?) -> Bool {
        guard let stored else { return false }
        let storedNamespaces = (stored["replicatedNamespaces"]?.arrayValue ?? []).compactMap(\.stringValue)
        guard storedNamespaces == replicatedNamespaces else { return false }
        // The original spillway's CRD has no targetCount nor sources: its schema prunes them, so
        // their absence says nothing (else every reconcile would write the status again).
        if let count = stored["targetCount"], count.intValue != Int64(replicatedNamespaces.count) { return false }
        if let shown = stored["sources"], shown.stringValue != sources { return false }
        let storedConditions = stored["conditions"]?.arrayValue ?? []
        guard storedConditions.count == conditions.count else { return false }
        return conditions.allSatisfy { condition in
            storedConditions.contains { c in
                c["type"]?.stringValue == condition.type && c["status"]?.stringValue == condition.status
                    && c["reason"]?.stringValue == condition.reason && c["message"]?.stringValue == condition.message
                    && c["observedGeneration"]?.intValue == observedGeneration
                    && c["lastTransitionTime"]?.stringValue != nil
            }
        }
    }

    /// The `status` to write: a condition whose status did not change keeps its
    /// `lastTransitionTime` from `stored`; one that did (or is new) gets `now`.
    public func json(previous stored: JSONValue?, now: Date) -> JSONValue {
        let previous = stored?["conditions"]?.arrayValue ?? []
        let conditions: [JSONValue] = conditions.map { condition in
            let old = previous.first { $0["type"]?.stringValue == condition.type }
            let kept = old?["status"]?.stringValue == condition.status ? old?["lastTransitionTime"]?.stringValue : nil
            return [
                "type": .string(condition.type), "status": .string(condition.status), "reason": .string(condition.reason),
                "message": .string(condition.message), "observedGeneration": .int(observedGeneration),
                "lastTransitionTime": .string(kept ?? Timestamp.format(now)),
            ]
        }
        return [
            "replicatedNamespaces": .array(replicatedNamespaces.map { .string($0) }),
            "targetCount": .int(Int64(replicatedNamespaces.count)),
            "sources": .string(sources),
            "conditions": .array(conditions),
        ]
    }

    /// `Ready` is True.
    public var isReady: Bool { conditions.contains { $0.type == Vocabulary.conditionReady && $0.status == "True" } }
}

/// What a SpillwayProfile's plan found in one target cluster it names (`targetClusters`), for
/// its status.
public struct ProfileClusterReport: Sendable, Equatable {
    /// The kubeconfig context name.
    public var cluster: String
    /// Why the cluster cannot be worked with now (`unreachable since …`, `not synced yet`); nil
    /// when it can.
    public var problem: String?
    /// Namespaces there that hold the profile's replicas.
    public var replicatedNamespaces: Int
    /// Targets another owner holds there: `Kind namespace/name (who)`.
    public var held: [String]
    /// The writes there that failed, one line each.
    public var failures: [String]

    public init(cluster: String, problem: String? = nil, replicatedNamespaces: Int = 0, held: [String] = [],
                failures: [String] = []) {
        self.cluster = cluster
        self.problem = problem
        self.replicatedNamespaces = replicatedNamespaces
        self.held = held
        self.failures = failures
    }

    var isTroubled: Bool { problem != nil || !held.isEmpty || !failures.isEmpty }
}
