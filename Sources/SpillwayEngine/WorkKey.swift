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
    /// still holds the finalizer, or one that allows pulls (`allow-pull-from`).
    case source(ObjectKey)
    /// A Secret or ConfigMap that asks for a copy (`replicate-from`), or a pulled copy: keyed by
    /// the pulling object itself.
    case pull(ObjectKey)
    /// A SpillwayProfile (`namespace/name`): every source it lists, planned together.
    case profile(NamespacedName)

    var description: String {
        switch self {
        case .source(let key): key.description
        case .pull(let key): "pull \(key)"
        case .profile(let key): "\(Vocabulary.profileKind) \(key)"
        }
    }

    /// The work a managed object at `key` belongs to, read from its own metadata: a pulled copy
    /// is its own work; else its SpillwayProfile (`profile-ref`, whatever `source-from` says),
    /// else its source (`source-from`); nil when it names neither in a form that parses.
    static func owner(of replica: ObservedObject, at key: ObjectKey) -> WorkKey? {
        if Vocabulary.isPulledCopy(labels: replica.labels) { return .pull(key) }
        if let ref = replica.annotations[Vocabulary.profileRef] {
            return ProfileObject.key(ref: ref).map(WorkKey.profile)
        }
        guard let source = replica.sourceFrom else { return nil }
        return .source(source)
    }
}
