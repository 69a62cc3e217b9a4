import FoundationEssentials
import KubeWire

/// A write to a SpillwayProfile itself (its finalizer; its status is written separately, see
/// ``ProfileStatus``).
public enum ProfileAction: Sendable, Equatable, Hashable {
    /// Add ``Vocabulary/finalizer`` to the profile.
    case addFinalizer
    /// Take over from the original spillway: its ``Vocabulary/legacyFinalizer`` replaced by
    /// ``Vocabulary/finalizer`` in one write.
    case replaceLegacyFinalizer
    /// Remove both: planned only once none of the profile's replicas remains.
    case removeFinalizer
}

/// What a profile's plan says about it, for its status (``ProfileStatus``).
public struct ProfileSummary: Sendable, Equatable {
    /// Every listed source.
    public var listed: [ObjectKey] = []
    /// Listed sources that do not exist.
    public var missing: [ObjectKey] = []
    /// Listed sources that exist but are never replicated, with why.
    public var unusable: [String] = []
    /// What is wrong with the spec (nothing is changed while there is anything).
    public var problems: [String] = []
    /// Per namespace, the replicas of the profile it holds once the plan's writes are done.
    public var replicas: [String: Int] = [:]
    /// Targets another owner holds: `Kind namespace/name (who)`.
    public var held: [String] = []

    public init() {}

    /// Listed sources that can be replicated.
    public var available: Int { listed.count - missing.count - unusable.count }
}

/// The plan of one SpillwayProfile: one ``Plan`` per source it lists (or still has replicas
/// of), the writes to the profile itself, the events to post on it, and what its status says.
///
/// Execution order: ``actions`` first (the finalizer must be on the profile before any replica
/// exists), then the replica writes of every plan. ``ProfileAction/removeFinalizer`` is never
/// planned together with replica writes.
public struct ProfilePlan: Sendable, Equatable {
    public var profile: NamespacedName
    /// By source key; their `events` are empty (they are in ``events``, posted on the profile).
    public var plans: [Plan] = []
    public var actions: [ProfileAction] = []
    public var events: [EventIntent] = []
    /// nil when the profile is gone or being deleted (its status is not written then).
    public var summary: ProfileSummary?

    public init(profile: NamespacedName) {
        self.profile = profile
    }

    /// Every replica write of every source.
    public var writes: [Decision] { plans.flatMap(\.writes) }
}

extension Planner {
    /// Plans a SpillwayProfile: for each listed source, exactly what an annotation source with
    /// the same target rules and key projection would get (target selection, protected
    /// namespaces, consent, the typed-Secret rule, recreation on a type or immutability change,
    /// deny prefixes), on replicas that also carry `profile-ref`. A replica of an annotation
    /// source or of another profile, and an object spillway does not manage, is never touched:
    /// the existing owner keeps the name. Replicas of a source that is missing, or no longer
    /// listed, are deleted; so are all of them once the profile is deleted or gone.
    ///
    /// - Parameters:
    ///   - profile: as cached; nil when it is gone.
    ///   - sources: the listed sources that exist, with their content.
    ///   - observed: per source key (listed, or named by one of the profile's replicas), every
    ///     object of its kind and name in other namespaces.
    ///   - owned: the source keys (`Kind/profile namespace/name`) of the replicas the profile has.
    public func planProfile(_ key: NamespacedName, profile: ProfileObject?, sources: [ObjectKey: SourceObject],
                            namespaces: [NamespaceInfo], observed: [ObjectKey: [String: ObservedObject]],
                            owned: Set<ObjectKey>, now: Date) -> ProfilePlan {
        let claimant = Claimant.profile(key, ref: key.description)
        var result = ProfilePlan(profile: key)
        func removeAll(_ source: ObjectKey, _ cause: Cause, _ reason: String) -> Plan {
            Plan(source: source, decisions: removals(key: source, objects: observed[source] ?? [:], claimant: claimant,
                                                     cause: cause, reason: reason))
        }
        guard let profile, !profile.isTerminating else {
            let reason = profile == nil ? "SpillwayProfile \(key) is gone" : "SpillwayProfile \(key) is being deleted"
            result.plans = owned.sorted().map { removeAll($0, .replicationStopped, reason) }.filter { !$0.decisions.isEmpty }
            // The watched cluster's plan owns the finalizer (the engine holds it while a target
            // cluster still has replicas).
            if placement.isLocal, let profile, Vocabulary.holdsFinalizer(profile.finalizers), result.writes.isEmpty {
                result.actions.append(.removeFinalizer)
            }
            return result
        }
        if !placement.isLocal {
            // A target cluster's replicas exist only while the profile holds the finalizer: the
            // watched cluster's plan adds it first.
            guard profile.hasFinalizer else { return result }
        } else if profile.hasLegacyFinalizer {
            result.actions.append(.replaceLegacyFinalizer)
        } else if !profile.hasFinalizer {
            result.actions.append(.addFinalizer)
        }
        var summary = ProfileSummary()
        summary.listed = profile.sourceKeys
        guard profile.problems.isEmpty else {
            // Like a malformed annotation: said (by the watched cluster's plan), and nothing
            // else; every replica stays as it is.
            summary.problems = profile.problems
            if placement.isLocal {
                result.events = profile.problems.map {
                    EventIntent(type: .warning, reason: Vocabulary.reasonFailed, message: "\($0); nothing was changed")
                }
            }
            result.summary = summary
            return result
        }
        if placement.isLocal {
            result.events += clusterWarnings(profile.spec.replicationSpec(for: ProfileSpec.Source(kind: .secret, name: "")),
                                             field: "spec.targetClusters")
        }
        let listed = Set(summary.listed)
        for source in profile.spec.sources {
            let sourceKey = ProfileSpec.key(source, in: profile.namespace)
            guard let object = sources[sourceKey], !object.isTerminating else {
                summary.missing.append(sourceKey)
                result.plans.append(removeAll(sourceKey, .sourceDeleted, "source \(sourceKey) is gone"))
                continue
            }
            if Vocabulary.isManaged(labels: object.labels) {
                summary.unusable.append("\(sourceKey) is itself a spillway replica, never a source")
                result.plans.append(removeAll(sourceKey, .replicationStopped, "\(sourceKey) is itself a managed replica, never a source"))
                continue
            }
            if let type = object.payload.secretType, options.deniedSecretTypes.contains(type) {
                // As for an annotation source: said, nothing written, replicas made before stay.
                summary.unusable.append("\(sourceKey) has type \(type), which is never replicated (--deny-secret-types)")
                continue
            }
            var plan = replicate(source: object, spec: profile.spec.replicationSpec(for: source), claimant: claimant,
                                 namespaces: namespaces,
                                 // In a target cluster the namespace named like the source's is one like any other.
                                 objects: (observed[sourceKey] ?? [:]).filter { !placement.isLocal || $0.key != sourceKey.namespace },
                                 now: now)
            for decision in plan.decisions {
                switch decision.action {
                case .create, .update, .recreate, .unchanged:
                    summary.replicas[decision.namespace, default: 0] += 1
                case .skip where decision.cause == .ownedByAnotherSource || decision.cause == .unmanagedObject:
                    summary.held.append("\(sourceKey.kind) \(decision.namespace)/\(sourceKey.name) (\(decision.reason))")
                case .delete, .skip, .release:
                    break
                }
            }
            result.events += plan.events
            plan.events = []
            result.plans.append(plan)
        }
        for sourceKey in owned.subtracting(listed).sorted() {
            result.plans.append(removeAll(sourceKey, .replicationStopped, "\(sourceKey) is no longer listed in SpillwayProfile \(key)"))
        }
        result.plans = result.plans.filter { !$0.decisions.isEmpty }.sorted { $0.source < $1.source }
        result.summary = summary
        return result
    }
}
