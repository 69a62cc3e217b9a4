import KubeWire
import SpillwayContract

/// One unit of the engine's work: what one reconcile plans and writes as a whole.
///
/// The work queue (deduplication, per-key backoff), the write lanes (fairness), and what the
/// engine remembers between reconciles (events and skips already reported, conflicts, the
/// latest failure, plans found settled) are all keyed by it. A kind of replication is a case
/// here, a reconcile path that ``Engine/reconcile(_:queuedAt:namespaces:)`` dispatches to, and,
/// in ``owner(of:at:)``, the way one of its replicas names it; the rest comes with the key.
enum WorkKey: Hashable, Sendable, CustomStringConvertible {
    /// A Secret or ConfigMap that asks for replication by its annotations, or a former one that
    /// still holds the finalizer, or one that allows pulls (`allow-pull-from`): its replicas in
    /// the watched cluster, and its finalizer.
    case source(ObjectKey)
    /// A Secret or ConfigMap that asks for a copy (`replicate-from`), or a pulled copy: keyed by
    /// the pulling object itself.
    case pull(ObjectKey)
    /// A SpillwayProfile (`namespace/name`): every source it lists, planned together.
    case profile(NamespacedName)
    /// A source's replicas in one target cluster (a kubeconfig context): planned, queued,
    /// backed off and written apart from the watched cluster's and every other cluster's, so a
    /// cluster that is down or slow holds up only its own work.
    case remote(ObjectKey, cluster: String)
    /// A SpillwayProfile's replicas in one target cluster its `targetClusters` names: apart from
    /// the watched cluster's (``profile(_:)``, which owns the finalizer and the status) for the
    /// same reason as ``remote(_:cluster:)``.
    case remoteProfile(NamespacedName, cluster: String)

    var description: String {
        switch self {
        case .source(let key): key.description
        case .pull(let key): "pull \(key)"
        case .profile(let key): "\(Vocabulary.profileKind) \(key)"
        case .remote(let key, let cluster): "\(key) in cluster \(cluster)"
        case .remoteProfile(let key, let cluster): "\(Vocabulary.profileKind) \(key) in cluster \(cluster)"
        }
    }

    /// The target cluster the work writes into; nil for the watched cluster.
    var cluster: String? {
        switch self {
        case .remote(_, let cluster), .remoteProfile(_, let cluster): cluster
        case .source, .pull, .profile: nil
        }
    }

    /// The same work in the target cluster `cluster` (a source's or a profile's); nil for work
    /// that stays in the watched cluster (a pull) or already names a cluster.
    func inCluster(_ cluster: String) -> WorkKey? {
        switch self {
        case .source(let key): .remote(key, cluster: cluster)
        case .profile(let key): .remoteProfile(key, cluster: cluster)
        case .pull, .remote, .remoteProfile: nil
        }
    }

    /// The watched cluster's work a target cluster's work belongs to: the one that holds the
    /// finalizer. nil for the watched cluster's own work.
    var inWatchedCluster: WorkKey? {
        switch self {
        case .remote(let key, _): .source(key)
        case .remoteProfile(let key, _): .profile(key)
        case .source, .pull, .profile: nil
        }
    }

    /// The SpillwayProfile the work is for, in whichever cluster.
    var profile: NamespacedName? {
        switch self {
        case .profile(let key), .remoteProfile(let key, _): key
        case .source, .pull, .remote: nil
        }
    }

    /// The work a managed object at `key` of the watched cluster belongs to, read from its own
    /// metadata: a pulled copy is its own work; else its SpillwayProfile (`profile-ref`, whatever
    /// `source-from` says), else its source (`source-from`); nil when it names neither in a form
    /// that parses, or when another cluster's source owns it (`source-cluster`).
    static func owner(of replica: ObservedObject, at key: ObjectKey) -> WorkKey? {
        if Vocabulary.isPulledCopy(labels: replica.labels) { return .pull(key) }
        // Another cluster's (a management host's) replica, of a source or of a profile: not ours.
        guard replica.annotations[Vocabulary.sourceCluster] == nil else { return nil }
        if let ref = replica.annotations[Vocabulary.profileRef] {
            return ProfileObject.key(ref: ref).map(WorkKey.profile)
        }
        guard let source = replica.sourceFrom else { return nil }
        return .source(source)
    }

    /// The work a managed object of the target cluster `cluster` belongs to: a replica (of a
    /// source, or of a profile) that carries the watched cluster's name (`sourceCluster`) as its
    /// `source-cluster`. Anything
    /// else there (that cluster's own replicas, another management host's) is not ours.
    static func owner(of replica: ObservedObject, inCluster cluster: String, sourceCluster: String) -> WorkKey? {
        guard replica.annotations[Vocabulary.sourceCluster] == sourceCluster else { return nil }
        if let ref = replica.annotations[Vocabulary.profileRef] {
            return ProfileObject.key(ref: ref).map { .remoteProfile($0, cluster: cluster) }
        }
        return replica.sourceFrom.map { .remote($0, cluster: cluster) }
    }
}
