import FoundationEssentials
import KubeWire

/// The planner: a pure function from the observed state of one source key to a ``Plan``.
///
/// The engine calls ``plan(key:source:namespaces:observed:now:)`` whenever anything about
/// the key may have changed (level-triggered: it passes what its caches hold now, never the
/// event that woke it). Nothing here reads a clock or performs I/O.
public struct Planner: Sendable {
    public var options: Options
    /// The cluster the plans write into (``Placement``): the watched cluster unless told otherwise.
    public var placement: Placement

    public init(options: Options = Options(), placement: Placement = .local) {
        self.options = options
        self.placement = placement
    }

    /// Plans one source key.
    ///
    /// - Parameters:
    ///   - key: the source's `Kind/namespace/name`.
    ///   - source: the source as cached; nil when it is gone.
    ///   - namespaces: every namespace.
    ///   - observed: every object of this kind and name in other namespaces that the engine
    ///     knows: this source's replicas, replicas of other sources, unmanaged objects. Objects
    ///     in the source's own namespace are ignored (in the watched cluster: that is the source).
    ///   - now: the current time (for `replica-ttl`).
    ///   - pulls: the objects that pull this source, and its pulled copies: they keep the
    ///     finalizer on it (see ``PullDemand``).
    public func plan(key: ObjectKey, source: SourceObject?, namespaces: [NamespaceInfo],
                     observed: [ObservedObject], now: Date, pulls: PullDemand = .none) -> Plan {
        var objects = [String: ObservedObject](minimumCapacity: observed.count)
        for object in observed {
            objects[object.namespace] = object
        }
        return plan(key: key, source: source, namespaces: namespaces, observedByNamespace: objects, now: now, pulls: pulls)
    }

    /// ``plan(key:source:namespaces:observed:now:pulls:)`` with the observed objects already
    /// keyed by their namespace (at most one per namespace), as a cache holds them.
    public func plan(key: ObjectKey, source: SourceObject?, namespaces: [NamespaceInfo],
                     observedByNamespace observed: [String: ObservedObject], now: Date,
                     pulls: PullDemand = .none) -> Plan {
        var objects = observed
        if placement.isLocal { objects[key.namespace] = nil }
        guard let source, !source.isTerminating,
              Vocabulary.isSource(labels: source.labels, annotations: source.annotations)
        else {
            var plan = cleanup(key: key, source: source, objects: objects, pulls: pulls)
            if let source, !source.isTerminating, Vocabulary.allowsPulls(labels: source.labels, annotations: source.annotations) {
                plan.events += PullConsent.problems(of: source.annotations).map(Self.malformed)
            }
            return plan
        }
        if let type = source.payload.secretType, options.deniedSecretTypes.contains(type) {
            // Never replicated, whatever the annotations say: the user is told, and nothing is
            // written (not even the finalizer), so replicas made before the type was denied stay.
            // The watched cluster's plan tells; a target cluster's says nothing more.
            guard placement.isLocal else { return Plan(source: key) }
            return Plan(source: key, events: [EventIntent(
                type: .warning, reason: Vocabulary.reasonSkipped,
                message: "Secret type \(type) is never replicated (--deny-secret-types); nothing was written")])
        }
        do {
            let spec = try ReplicationSpec.parse(source.annotations)
            var plan = replicate(source: source, spec: spec, claimant: .source, namespaces: namespaces, objects: objects, now: now)
            if Vocabulary.allowsPulls(labels: source.labels, annotations: source.annotations) {
                plan.events += PullConsent.problems(of: source.annotations)
                    .filter { $0.annotation == Vocabulary.allowPullFrom }.map(Self.malformed)
            }
            return plan
        } catch {
            // A malformed annotation changes nothing: the user is told (once, by the watched
            // cluster's plan), and every replica stays as it is until the annotation is fixed.
            guard placement.isLocal else { return Plan(source: key) }
            return Plan(source: key, events: error.errors.map(Self.malformed))
        }
    }

    /// The Warning a malformed annotation of a source gets.
    static func malformed(_ error: AnnotationError) -> EventIntent {
        EventIntent(type: .warning, reason: Vocabulary.reasonFailed, message: "\(error); nothing was changed")
    }

    /// The source is gone, terminating, or no longer asks for replication: delete its replicas,
    /// then (in a later plan, once none remains) release the finalizer — unless pulls hold it:
    /// a live source that pulls use keeps (or gets) the finalizer, and a source being deleted is
    /// released only once its pulled copies are emptied.
    private func cleanup(key: ObjectKey, source: SourceObject?, objects: [String: ObservedObject], pulls: PullDemand) -> Plan {
        let (cause, reason): (Cause, String) = switch source {
        case nil: (.sourceDeleted, "source \(key) is gone")
        case let source? where source.isTerminating: (.sourceDeleted, "source \(key) is being deleted")
        case let source? where Vocabulary.isManaged(labels: source.labels):
            (.replicationStopped, "\(key) is itself a managed replica, never a source")
        default: (.replicationStopped, "replicate-to and replicate-to-matching were removed from the source")
        }
        var plan = Plan(source: key, decisions: removals(key: key, objects: objects, claimant: .source, cause: cause, reason: reason))
        if let source, pulls.holds(source, options: options) {
            if !source.isTerminating {
                if source.hasLegacyFinalizer {
                    plan.sourceActions.append(.replaceLegacyFinalizer)
                } else if !source.hasFinalizer {
                    plan.sourceActions.append(.addFinalizer)
                }
            }
        } else if placement.isLocal, let source, Vocabulary.holdsFinalizer(source.finalizers), plan.writes.isEmpty {
            plan.sourceActions.append(.removeFinalizer)
        }
        return plan
    }

    /// Deletes every replica of `key` that belongs to `claimant` (one already being deleted is
    /// only reported).
    func removals(key: ObjectKey, objects: [String: ObservedObject], claimant: Claimant, cause: Cause,
                  reason: String) -> [Decision] {
        let keyText = key.description
        var decisions: [Decision] = []
        // In a target cluster the namespace named like the source's own is a namespace like any other.
        for (namespace, object) in objects.sorted(by: { $0.key < $1.key })
        where (!placement.isLocal || namespace != key.namespace)
            && owner(of: object, key: key, keyText: keyText, claimant: claimant) == .thisSource {
            if object.deletionTimestamp != nil {
                // Its deletion was accepted: it no longer holds the source's finalizer.
                decisions.append(Decision(namespace: namespace, action: .skip, cause: .objectTerminating,
                                          reason: "replica is already being deleted"))
            } else {
                decisions.append(Decision(namespace: namespace, action: .delete(object.precondition), cause: cause, reason: reason))
            }
        }
        return decisions
    }

    /// Plans the replicas `claimant` wants of a live `source` under `spec`: the annotation
    /// source's own, or a SpillwayProfile's (then the source itself is never written: the
    /// profile holds the finalizer).
    func replicate(source: SourceObject, spec given: ReplicationSpec, claimant: Claimant, namespaces: [NamespaceInfo],
                   objects: [String: ObservedObject], now: Date) -> Plan {
        let key = source.key
        var plan = Plan(source: key)
        var spec = given
        if !placement.isLocal {
            // expired-namespaces names namespaces of the watched cluster: replicas elsewhere
            // do not expire (the watched cluster's plan says so in an event).
            spec.ttl = nil
            spec.expiredNamespaces = []
        } else if claimant == .source {
            if source.hasLegacyFinalizer {
                plan.sourceActions.append(.replaceLegacyFinalizer)
            } else if !source.hasFinalizer {
                plan.sourceActions.append(.addFinalizer)
            }
            plan.events += clusterWarnings(spec)
        }
        guard placement.isSelected(by: spec.clusters) else {
            return unselectedCluster(key: key, plan: plan, objects: objects, claimant: claimant)
        }
        let template = ReplicaTemplate(source: source, spec: spec, options: options, profile: claimant.profile,
                                       placement: placement)
        let desiredDigest = template.payload.digest
        let freshExpiry = spec.ttl.map { Timestamp.format(now.addingTimeInterval($0.seconds)) }
        let expiredListed = spec.ttl == nil ? [] : Set(spec.expiredNamespaces)
        var newlyExpired: [String] = []
        var refusedConsent: [String] = []

        let keyText = key.description
        let evaluated = TargetSelection.evaluate(spec, source: key, namespaces: namespaces, options: options,
                                                 terms: claimant.terms, placement: placement)
        var verdicts = [String: NamespaceVerdict](minimumCapacity: evaluated.count)
        var planned: [String] = []
        planned.reserveCapacity(evaluated.count + 1)
        for verdict in evaluated where verdicts.updateValue(verdict, forKey: verdict.namespace) == nil {
            planned.append(verdict.namespace)
        }
        for namespace in objects.keys where verdicts[namespace] == nil {
            planned.append(namespace)
        }
        planned.sort()
        plan.decisions.reserveCapacity(planned.count)
        for namespace in planned {
            let verdict = verdicts[namespace] ?? NamespaceVerdict(
                namespace: namespace, status: .leaveAlone, cause: .namespaceUnknown,
                reason: "namespace not observed", matched: false)
            let object = objects[namespace]
            let ownership = object.map { owner(of: $0, key: key, keyText: keyText, claimant: claimant) }
            func decide(_ action: ReplicaAction, _ cause: Cause, _ reason: String) {
                plan.decisions.append(Decision(namespace: namespace, action: action, cause: cause, reason: reason))
            }
            func noteExpiry(_ stamp: String?) {
                guard let date = stamp.flatMap(Timestamp.parse) else { return }
                plan.requeueAt = min(plan.requeueAt ?? date, date)
            }
            func warn(_ message: String) {
                plan.events.append(EventIntent(type: .warning, reason: Vocabulary.reasonSkipped,
                                               message: "\(key.kind) \(placement.describe(namespace, key.name)): \(message)"))
            }

            switch verdict.status {
            case .leaveAlone:
                if verdict.matched || ownership == .thisSource {
                    decide(.skip, verdict.cause, verdict.reason)
                }
                if verdict.matched && verdict.cause == .consentMalformed {
                    warn(verdict.reason)
                }
                continue
            case .notTarget:
                if verdict.matched && verdict.cause == .consentDenied {
                    refusedConsent.append(namespace)
                }
                if let object, ownership == .thisSource {
                    if object.deletionTimestamp != nil {
                        decide(.skip, .objectTerminating, "replica is already being deleted")
                    } else {
                        decide(.delete(object.precondition), verdict.cause, "no longer a target: \(verdict.reason)")
                    }
                } else if verdict.matched {
                    decide(.skip, verdict.cause, verdict.reason)
                }
                continue
            case .target:
                break
            }

            if expiredListed.contains(namespace) {
                if let object, ownership == .thisSource, object.deletionTimestamp == nil {
                    decide(.delete(object.precondition), .expired, "listed in \(Vocabulary.expiredNamespaces)")
                } else {
                    decide(.skip, .expired, "replica expired; remove the namespace from \(Vocabulary.expiredNamespaces) to replicate again")
                }
                continue
            }
            guard let object, let ownership else {
                decide(.create(template.replica(in: namespace, expiresAt: freshExpiry)), .missing, verdict.reason)
                noteExpiry(freshExpiry)
                continue
            }
            if object.deletionTimestamp != nil {
                decide(.skip, .objectTerminating, "object is being deleted; the replica is created once it is gone")
                continue
            }
            switch ownership {
            case .otherSource(let other):
                decide(.skip, .ownedByAnotherSource, "owned by \(other)")
                warn("owned by \(other); the existing owner wins")
            case .otherCluster(let other, let cluster):
                let owner = "\(other) of " + (cluster.map { "cluster \($0)" } ?? "that cluster itself")
                decide(.skip, .ownedByAnotherSource, "owned by \(owner)")
                warn("owned by \(owner); the existing owner wins")
            case .profile(let profile):
                decide(.skip, .ownedByAnotherSource, "owned by SpillwayProfile \(profile)")
                warn("owned by SpillwayProfile \(profile); the existing owner wins")
            case .pull(let request):
                decide(.skip, .ownedByAnotherSource, "held by a pull (\(Vocabulary.replicateFrom) \(request))")
                warn("held by a pull (\(Vocabulary.replicateFrom) \(request)); the existing owner wins")
            case .unmanaged where claimant != .source:
                // A profile never takes over an object it did not make (there is no force-adopt).
                let reason = "an object spillway does not manage exists; it is never overwritten"
                decide(.skip, .unmanagedObject, reason)
                warn(reason)
            case .unmanaged:
                guard spec.forceAdopt && options.allowForceAdopt else {
                    let reason = spec.forceAdopt
                        ? "unmanaged object exists; force-adopt is set but spillwayd runs without --allow-force-adopt"
                        : "unmanaged object exists; add force-adopt and run with --allow-force-adopt to take it over"
                    decide(.skip, .unmanagedObject, reason)
                    warn(reason)
                    continue
                }
                let replica = template.replica(in: namespace, expiresAt: freshExpiry)
                noteExpiry(freshExpiry)
                let recreate = object.content.map { mustRecreate(observed: $0, desired: desiredDigest) } ?? false
                decide(recreate ? .recreate(replica, object.precondition) : .update(replica, object.precondition),
                       .adopted, "force-adopt takes over the unmanaged object")
            case .thisSource:
                let stamped = object.annotations[Vocabulary.expiresAt]
                let expiry = stamped.flatMap(Timestamp.parse)
                if spec.ttl != nil, let expiry, expiry <= now {
                    decide(.delete(object.precondition), .expired, "expired at \(stamped!)")
                    newlyExpired.append(namespace)
                    continue
                }
                // expires-at is stamped once, at creation, and kept; a replica created before
                // replica-ttl was set (or whose stamp was mangled) gets one now.
                let expiresAt = spec.ttl == nil ? nil : (expiry != nil ? stamped : freshExpiry)
                noteExpiry(expiresAt)
                var replica = template.replica(in: namespace, expiresAt: expiresAt)
                let (action, cause, reason) = compare(observed: object, desired: &replica, desiredDigest: desiredDigest)
                decide(action, cause, reason)
            }
        }

        if !refusedConsent.isEmpty {
            plan.events.append(Self.consentRefused(refusedConsent, source: key, placement: placement))
        }
        if spec.ttl == nil {
            if source.annotations[Vocabulary.expiredNamespaces] != nil {
                plan.sourceActions.append(.setExpiredNamespaces([]))
            }
        } else if !newlyExpired.isEmpty {
            var all = spec.expiredNamespaces
            all.append(contentsOf: newlyExpired.filter { !all.contains($0) })
            plan.sourceActions.append(.setExpiredNamespaces(all))
        }
        return plan
    }

    /// The cluster is not named in `replicate-to-clusters`: every replica of this source here is
    /// deleted (the watched cluster's plan still holds the finalizer, for the other clusters).
    private func unselectedCluster(key: ObjectKey, plan: Plan, objects: [String: ObservedObject],
                                   claimant: Claimant) -> Plan {
        var plan = plan
        let reason = "no longer a target: \(placement.name) is not named in \(Vocabulary.replicateToClusters)"
        plan.decisions += removals(key: key, objects: objects, claimant: claimant, cause: .notSelected, reason: reason)
        return plan
    }

    /// What the watched cluster's plan says about `replicate-to-clusters`: entries naming a
    /// cluster spillwayd may not write to, and a `replica-ttl` that other clusters do not apply.
    func clusterWarnings(_ spec: ReplicationSpec, field: String = Vocabulary.replicateToClusters) -> [EventIntent] {
        guard let clusters = spec.clusters else { return [] }
        var events: [EventIntent] = []
        let refused = clusters.compactMap { pattern -> String? in
            guard case .name(let name) = pattern, !placement.allowedClusters.contains(name) else { return nil }
            return name
        }
        if !refused.isEmpty {
            events.append(EventIntent(
                type: .warning, reason: Vocabulary.reasonSkipped,
                message: "\(field) names \(refused.joined(separator: ", ")), which spillwayd may not write to "
                    + "(--target-contexts); nothing is written there"))
        }
        if spec.ttl != nil, placement.allowedClusters.contains(where: { name in clusters.contains { $0.matches(context: name) } }) {
            events.append(EventIntent(
                type: .warning, reason: Vocabulary.reasonSkipped,
                message: "\(Vocabulary.replicaTTL) applies to the watched cluster only: replicas in other clusters do not expire"))
        }
        return events
    }

    /// How many refusing namespaces a consent event names; the rest are counted.
    static let consentEventNames = 10

    /// One event sums up every namespace that matched but does not accept the source (its
    /// `accept-from`, or `--require-namespace-consent` without one): an operator sees why a
    /// namespace got nothing, and a deny-by-default cluster does not get one event per namespace.
    static func consentRefused(_ namespaces: [String], source: ObjectKey, placement: Placement = .local) -> EventIntent {
        var names = namespaces.prefix(consentEventNames).joined(separator: ", ")
        if namespaces.count > consentEventNames {
            names += " and \(namespaces.count - consentEventNames) more"
        }
        let inCluster = placement.cluster.map { " in cluster \($0)" } ?? ""
        let count = namespaces.count == 1 ? "1 namespace\(inCluster) does" : "\(namespaces.count) namespaces\(inCluster) do"
        return EventIntent(
            type: .normal, reason: Vocabulary.reasonSkipped,
            message: "\(count) not accept \(source) (\(Vocabulary.acceptFrom), or none while consent is required): \(names)")
    }

    /// Compares this source's replica with the desired one. On update, the observed entries
    /// under deny prefixes are carried over (spillway does not manage them).
    private func compare(observed: ObservedObject, desired: inout Replica,
                         desiredDigest: ContentDigest) -> (ReplicaAction, Cause, String) {
        let keptLabels = ReplicaTemplate.unmanaged(observed.labels, deny: options.labelDenyPrefixes)
        if !keptLabels.isEmpty { desired.labels.merge(keptLabels) { a, _ in a } }
        let keptAnnotations = ReplicaTemplate.unmanaged(observed.annotations, deny: options.annotationDenyPrefixes)
        if !keptAnnotations.isEmpty { desired.annotations.merge(keptAnnotations) { a, _ in a } }
        if let legacy = observed.annotations[Vocabulary.legacyManagedByAnnotation] {
            // A replica the original spillway wrote: adopted as it is, not rewritten for this.
            desired.annotations[Vocabulary.legacyManagedByAnnotation] = legacy
        }
        guard let content = observed.content else {
            return (.update(desired, observed.precondition), .drifted, "replica content not known; rewriting it")
        }
        if content.secretType != desiredDigest.secretType {
            return (.recreate(desired, observed.precondition), .typeChanged,
                    "type changes from \(content.secretType ?? "none") to \(desiredDigest.secretType ?? "none")")
        }
        if mustRecreate(observed: content, desired: desiredDigest) {
            return (.recreate(desired, observed.precondition), .immutableChanged, "immutable replica differs from the source")
        }
        if content.fingerprint != desiredDigest.fingerprint {
            return (.update(desired, observed.precondition), .drifted, "content differs from the source")
        }
        if observed.labels != desired.labels || observed.annotations != desired.annotations {
            if observed.labels == desired.labels, observed.annotations[Vocabulary.sourceFrom] == nil,
               desired.annotations[Vocabulary.profileRef] != nil,
               observed.annotations == desired.annotations.filter({ $0.key != Vocabulary.sourceFrom }) {
                // A profile replica the original spillway wrote (it names no source-from): adopted
                // as it is; source-from is added when it is next written for another reason.
                return (.unchanged, .inPlace, "in place")
            }
            return (.update(desired, observed.precondition), .drifted, "labels or annotations differ from the source")
        }
        return (.unchanged, .inPlace, "in place")
    }

    /// Whether the API would refuse to update the observed content into the desired one.
    func mustRecreate(observed: ContentDigest, desired: ContentDigest) -> Bool {
        observed.secretType != desired.secretType
            || (observed.immutable && observed.fingerprint != desired.fingerprint)
    }

    enum Owner: Equatable {
        /// The plan's own replica: of this source, or of this profile.
        case thisSource
        case otherSource(ObjectKey)
        /// A replica whose `source-cluster` is not the one replicas written here carry: a source of
        /// that cluster owns it (nil: the cluster the replica is in, written by its own spillwayd).
        case otherCluster(ObjectKey, cluster: String?)
        /// A replica a SpillwayProfile made (`profile-ref`): the profile owns it, even when its
        /// `source-from` names this source (or is missing, as on the original spillway's).
        case profile(String)
        /// An object that pulls (`replicate-from`, its value here), or a pulled copy: its
        /// namespace's own object, never a push replica.
        case pull(String)
        /// No managed-by label, or a managed-by label without a valid `source-from`.
        case unmanaged
    }

    /// Who a plan is made for, which decides which replicas are its own.
    enum Claimant: Equatable {
        /// The annotation source `key` of the plan.
        case source
        /// A SpillwayProfile listing the source; `ref` is its `profile-ref` value.
        case profile(NamespacedName, ref: String)

        var profile: NamespacedName? {
            if case .profile(let key, _) = self { return key }
            return nil
        }

        var terms: TargetTerms { self == .source ? .annotations : .profile }
    }

    func owner(of object: ObservedObject, key: ObjectKey) -> Owner {
        owner(of: object, key: key, keyText: key.description, claimant: .source)
    }

    /// `keyText` is `key.description`, computed once per plan: a replica of this source names
    /// it verbatim, so the common case needs no parsing. Ownership is symmetric: an annotation
    /// source's replica is never a profile's, a profile's never an annotation source's or
    /// another profile's, and a pulled copy is no one's but its pull's. A replica whose
    /// `source-cluster` differs from the one replicas written here carry is another cluster's
    /// source's: never ours, whatever its `source-from` says, so no daemon takes or deletes
    /// another's replica.
    func owner(of object: ObservedObject, key: ObjectKey, keyText: String, claimant: Claimant) -> Owner {
        if Vocabulary.isPull(labels: object.labels, annotations: object.annotations) {
            return .pull(object.annotations[Vocabulary.replicateFrom] ?? object.annotations[Vocabulary.sourceFrom] ?? "")
        }
        guard object.isManaged else { return .unmanaged }
        let cluster = object.annotations[Vocabulary.sourceCluster]
        if let ref = object.annotations[Vocabulary.profileRef] {
            // A profile of another cluster (same ref or not) is never this one.
            guard cluster == placement.replicaSourceCluster else {
                return object.sourceFrom.map { .otherCluster($0, cluster: cluster) } ?? .profile(ref)
            }
            if case .profile(_, let mine) = claimant, ref == mine { return .thisSource }
            return .profile(ref)
        }
        guard let text = object.annotations[Vocabulary.sourceFrom] else { return .unmanaged }
        guard cluster == placement.replicaSourceCluster else {
            return ObjectKey(text).map { .otherCluster($0, cluster: cluster) } ?? .unmanaged
        }
        guard claimant == .source else { return ObjectKey(text).map(Owner.otherSource) ?? .unmanaged }
        if text == keyText { return .thisSource }
        guard let from = ObjectKey(text) else { return .unmanaged }
        return from == key ? .thisSource : .otherSource(from)
    }
}
