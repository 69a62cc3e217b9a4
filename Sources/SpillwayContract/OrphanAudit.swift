import FoundationEssentials

/// A replica the orphan audit would delete.
public struct OrphanDeletion: Sendable, Equatable {
    public var replica: ObjectKey
    public var precondition: Precondition
    /// The source its `source-from` names.
    public var source: ObjectKey
    public var cause: Cause
    public var reason: String
}

extension Planner {
    /// The causes for which the audit deletes: the source is gone or does not target the
    /// namespace any more. (Expiry is left to the source's own reconcile, which records it.)
    static let orphanCauses: Set<Cause> = [.sourceDeleted, .replicationStopped, .notSelected, .excluded,
                                           .protectedNamespace, .consentDenied]

    /// Finds the managed replicas whose source is gone or no longer targets them, e.g. after
    /// the daemon was down, in the cluster of ``placement``: only replicas written there for the
    /// watched cluster's sources, never another cluster's. It applies exactly the planner's rules, so it never deletes what a
    /// reconcile would keep, and never touches a replica it cannot attribute (no valid
    /// `source-from`, or a name or kind that differs from its source) nor one a SpillwayProfile
    /// made (`profile-ref`).
    ///
    /// - Parameters:
    ///   - replicas: every managed replica, keyed by its own `Kind/namespace/name`.
    ///   - sources: every object that is a source or holds the finalizer; a source missing
    ///     here is treated as gone.
    ///   - namespaces: every namespace.
    public func auditOrphans(replicas: [ObjectKey: ObservedObject], sources: [SourceObject],
                             namespaces: [NamespaceInfo], now: Date) -> [OrphanDeletion] {
        var bySource: [ObjectKey: [ObservedObject]] = [:]
        // A profile's replicas are its own (their profile's reconcile removes them).
        for (key, object) in replicas where object.isManaged && object.annotations[Vocabulary.profileRef] == nil {
            // A replica of another cluster's source is another daemon's to audit.
            guard object.annotations[Vocabulary.sourceCluster] == placement.replicaSourceCluster,
                  let from = object.sourceFrom, from.kind == key.kind, from.name == key.name,
                  object.namespace == key.namespace
            else { continue }
            bySource[from, default: []].append(object)
        }
        let sourcesByKey = Dictionary(sources.map { ($0.key, $0) }, uniquingKeysWith: { a, _ in a })
        let namespacesByName = Dictionary(namespaces.map { ($0.name, $0) }, uniquingKeysWith: { a, _ in a })
        var deletions: [OrphanDeletion] = []
        for (sourceKey, objects) in bySource.sorted(by: { $0.key < $1.key }) {
            // Only the namespaces holding its replicas: a namespace's verdict depends on that
            // namespace alone, and the audit acts on existing replicas only, so planning the
            // others (every namespace, for every source) would cost sources × namespaces for
            // nothing: a third of the daemon's start-up in a cluster of 600 namespaces.
            let holding = objects.compactMap { namespacesByName[$0.namespace] }
            let plan = plan(key: sourceKey, source: sourcesByKey[sourceKey], namespaces: holding,
                            observed: objects, now: now)
            for decision in plan.decisions where Self.orphanCauses.contains(decision.cause) {
                guard case .delete(let precondition) = decision.action else { continue }
                deletions.append(OrphanDeletion(replica: sourceKey.inNamespace(decision.namespace),
                                                precondition: precondition, source: sourceKey,
                                                cause: decision.cause, reason: decision.reason))
            }
        }
        return deletions
    }
}
