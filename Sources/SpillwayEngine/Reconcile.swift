import FoundationEssentials
import KubeClient
import KubeWire
import Logging
import SpillwayContract
import SpillwayLoop

/// A skip decision as the audit log reports it (once, while it lasts).
struct SkipOutcome: Hashable {
    var namespace: String
    var cause: Cause
}

/// One reconcile of one key of work in progress (or, as a ``ProfilePart``, the writes of one
/// source of a SpillwayProfile's reconcile).
class Reconciliation {
    enum Outcome: Comparable {
        case success
        /// Something moved under us (a blocker found, an object already gone): plan again now.
        case again
        /// Optimistic concurrency lost (409): plan again after the key's backoff.
        case conflict
        /// A write failed: back off.
        case failed
    }

    /// The object planned: the source, or the object that pulls.
    let key: ObjectKey
    /// The engine's key of this work: queue, lane and what is remembered of it.
    let work: WorkKey
    /// The source its audit lines name (a pull's, once its `replicate-from` parses).
    var auditSource: ObjectKey
    /// The object its Events regard as it was planned: used when the caches no longer hold
    /// it by the time they are posted (a pulled copy let go leaves the replica watch before
    /// the metadata-only watch brings it back; a source released by its last finalizer).
    var subject: EventSubject?
    /// The SpillwayProfile the writes are for; nil for an annotation source or a pull.
    var profile: NamespacedName? { nil }
    let queuedAt: MonotonicInstant
    /// The namespaces this reconcile is limited to; nil: every namespace.
    var scope: Set<String>?
    /// The generation of the observed state the plan was made from.
    var generation = 0
    let started: MonotonicInstant
    var plan = Plan(source: ObjectKey(kind: .secret, namespace: "", name: ""))
    var outcome = Outcome.success
    var pendingWrites = 0
    /// Succeeded writes by metric action.
    var changes: [String: Int] = [:]
    var failures: [String] = []
    /// The last replica body this pass encoded (see ``ReplicaBody``).
    var replicaBody: ReplicaBody?

    init(_ work: WorkKey, key: ObjectKey, queuedAt: MonotonicInstant, started: MonotonicInstant, scope: Set<String>?) {
        self.work = work
        self.key = key
        auditSource = key
        self.queuedAt = queuedAt
        self.started = started
        self.scope = scope
    }

    func note(_ outcome: Outcome) {
        self.outcome = max(self.outcome, outcome)
    }

    func fail(_ message: String) {
        note(.failed)
        failures.append(message)
    }
}

extension Engine {
    /// Reconciles one key of work, by its kind.
    func reconcile(_ key: WorkKey, queuedAt: MonotonicInstant, namespaces: Set<String>? = nil) {
        switch key {
        case .source(let source): reconcileSource(source, queuedAt: queuedAt, namespaces: namespaces)
        case .pull(let target): reconcilePull(target, queuedAt: queuedAt)
        case .profile(let profile): reconcileProfile(profile, queuedAt: queuedAt)
        case .remoteProfile(let profile, let cluster): reconcileProfile(profile, cluster: cluster, queuedAt: queuedAt)
        case .remote(let source, let cluster): reconcileRemote(source, cluster: cluster, queuedAt: queuedAt, namespaces: namespaces)
        }
    }

    /// The cluster a key of work writes into: a target cluster for ``WorkKey/remote(_:cluster:)``,
    /// else the watched cluster.
    func link(for work: WorkKey) -> ClusterLink {
        work.cluster.flatMap { clusters[$0]?.link } ?? local
    }

    /// Reconciles the source `key`: reads what is stale, plans, then writes — source actions first, in
    /// order, then the replica writes through the key's lane. With `namespaces`, only the
    /// decisions in those are planned (a namespace appeared or changed, nothing else did),
    /// when the source is a live one whose plan needs no source action; else every namespace.
    func reconcileSource(_ key: ObjectKey, queuedAt: MonotonicInstant, namespaces: Set<String>? = nil) {
        if namespaces == nil, isSettled(.source(key)) {
            // Nothing it reads changed since a plan found everything in place: the same plan.
            reconcileDone(.source(key))
            return
        }
        prepare(Reconciliation(.source(key), key: key, queuedAt: queuedAt, started: reactor.now, scope: namespaces))
    }

    /// Reads what is stale — the source's content (from the watched cluster), the blockers of
    /// its name (from the cluster `r` writes into) — then plans and executes.
    func prepare(_ r: Reconciliation) {
        let key = r.key
        let reads = ReconcileReads { [weak self] overtaken in
            guard let self else { return }
            if overtaken {
                r.note(.again)
                self.finish(r)
            } else {
                self.planAndExecute(r)
            }
        }
        if let entry = state.sources[key], entry.needsPayload {
            read(key, as: reads, failed: r.fail, overtaken: { [weak self] object in
                // Its content still serves if the caches hold that very version.
                self?.state.recordSource(key, object, current: false)
            }, apply: { [weak self] answer in
                switch answer {
                case .found(let object): self?.state.recordSource(key, object)
                case .gone: self?.state.forgetSource(key)
                }
            })
        }
        readStaleBlockers(of: key, in: link(for: r.work), as: reads, failed: r.fail)
        reads.seal()
    }

    /// An object read by a GET after a create ran into it, or after it changed: a replica
    /// (ours or another source's) goes to the replica cache, an object that pulls to the pulls,
    /// anything else is a blocker.
    func observeExisting(_ key: ObjectKey, _ object: JSONValue, in link: ClusterLink? = nil) {
        guard let kubeObject = KubeObject(json: object, keepBody: true) else { return }
        if let link, !link.isLocal {
            // A target cluster: only replicas and the objects a create ran into are kept there.
            if Vocabulary.isManaged(labels: kubeObject.metadata.labels) {
                trigger(link.state.recordReplica(key, kubeObject), cluster: link.name)
            } else {
                link.state.recordBlocker(key, object)
            }
            return
        }
        if Vocabulary.isManaged(labels: kubeObject.metadata.labels) {
            trigger(state.recordReplica(key, kubeObject))
        } else if Vocabulary.isPull(labels: kubeObject.metadata.labels, annotations: kubeObject.metadata.annotations) {
            trigger(state.recordPullTarget(key, object))
        } else {
            state.recordBlocker(key, object)
        }
    }

    private func planAndExecute(_ r: Reconciliation) {
        let key = r.key
        guard !stopping else { return }
        if r.outcome == .failed {
            finish(r)
            return
        }
        if let entry = state.sources[key], entry.needsPayload {
            // The source changed again while other reads were answered: never plan from content
            // older than its metadata (an empty payload would render empty replicas).
            r.note(.again)
            finish(r)
            return
        }
        let source = state.source(key)
        if let source {
            // The reconcile's Events regard the source even when it is gone by the time they are
            // posted: its last finalizer released (a real API server's watch may say so before
            // the patch is answered), or deleted meanwhile.
            r.subject = EventSubject(key: key, uid: source.uid, resourceVersion: source.resourceVersion)
        }
        let now = options.wallClock.now
        let link = link(for: r.work)
        r.generation = generation(of: link)
        if !link.isLocal, let source, !source.isTerminating, !source.hasFinalizer {
            // A replica exists only while the source holds the finalizer: the watched cluster's
            // reconcile adds it, and the change brings this work back.
            r.plan = Plan(source: key)
            finish(r)
            return
        }
        let own = !link.isLocal
        let pulls = link.isLocal ? state.pulls.demand(for: key) : .none
        var plan: Plan?
        if let scope = r.scope, let source, source.hasFinalizer, !source.isTerminating,
           Vocabulary.isSource(labels: source.labels, annotations: source.annotations) {
            let scoped = link.planner.plan(
                key: key, source: source, namespaces: scope.compactMap { link.state.namespaces[$0] },
                observedByNamespace: link.state.observedObjects(for: key, in: scope, includingOwnNamespace: own), now: now,
                pulls: pulls)
            // A source action (expired-namespaces) and the consent event sum up every
            // namespace: plan them all.
            if scoped.sourceActions.isEmpty && !scoped.decisions.contains(where: { $0.cause == .consentDenied }) {
                plan = scoped
            }
        }
        if plan == nil {
            r.scope = nil
            plan = link.planner.plan(key: key, source: source, namespaces: link.state.namespaceList,
                                     observedByNamespace: link.state.observedObjects(for: key, includingOwnNamespace: own), now: now,
                                     pulls: pulls)
        }
        let planned = plan!
        r.plan = planned
        let conflicts = Set(planned.decisions.lazy.filter { $0.cause == .unmanagedObject || $0.cause == .ownedByAnotherSource }
            .map(\.namespace))
        let kept = r.scope.map { (conflictsByKey[r.work] ?? []).subtracting($0) } ?? []
        let allConflicts = kept.union(conflicts)
        conflictsByKey[r.work] = allConflicts.isEmpty ? nil : allConflicts
        auditSkips(r)
        runSourceActions(r, planned.sourceActions[...])
    }

    private func runSourceActions(_ r: Reconciliation, _ actions: ArraySlice<SourceAction>) {
        guard let action = actions.first else {
            submitWrites(r)
            return
        }
        let key = r.key
        guard let entry = state.sources[key] else {
            r.note(.again)
            finish(r)
            return
        }
        if action == .removeFinalizer, holdsFinalizerForClusters(r) {
            // Replicas remain in a target cluster: released once they are gone, or when the
            // wait runs out (see holdsFinalizerForClusters).
            finish(r)
            return
        }
        var metadata: JSONValue = ["resourceVersion": .string(entry.meta.resourceVersion)]
        let description: String
        switch action {
        case .addFinalizer:
            metadata["finalizers"] = .array((entry.meta.finalizers + [Vocabulary.finalizer]).map { .string($0) })
            description = "finalizer \(Vocabulary.finalizer) added"
        case .replaceLegacyFinalizer:
            let kept = entry.meta.finalizers.filter { $0 != Vocabulary.legacyFinalizer && $0 != Vocabulary.finalizer }
            metadata["finalizers"] = .array((kept + [Vocabulary.finalizer]).map { .string($0) })
            description = "finalizer \(Vocabulary.legacyFinalizer) of the original spillway replaced by \(Vocabulary.finalizer)"
        case .removeFinalizer:
            let released = entry.meta.finalizers.filter { $0 == Vocabulary.finalizer || $0 == Vocabulary.legacyFinalizer }
            metadata["finalizers"] = .array(entry.meta.finalizers.filter { !released.contains($0) }.map { .string($0) })
            description = "finalizer \(released.joined(separator: ", ")) removed: no replica remains"
        case .setExpiredNamespaces(let names):
            metadata["annotations"] = [Vocabulary.expiredNamespaces: names.isEmpty ? .null : .string(names.joined(separator: ","))]
            description = names.isEmpty ? "\(Vocabulary.expiredNamespaces) cleared" : "\(Vocabulary.expiredNamespaces) set to \(names.joined(separator: ","))"
        }
        let ticket = state.tickets.issue(for: key)
        client.patch(ObjectCoding.resource(key.kind), namespace: key.namespace, name: key.name,
                     patch: .merge(["metadata": metadata])) { [weak self] result in
            guard let self, !self.stopping else { return }
            let current = self.state.tickets.redeem(ticket)
            switch result {
            case .success(let object):
                self.state.recordSource(key, object, current: current)
                // The pulls waiting for its finalizer (the watch echo of this write may come
                // first and then wake nothing).
                self.trigger(self.state.pullsNaming(key))
                // The target clusters' work waits for the finalizer (the watch echo of this
                // write may come first and then wake nothing).
                if action != .removeFinalizer { self.queueRemoteWork(of: key) }
                self.audit(action.auditName, key, namespace: nil, description)
                self.runSourceActions(r, actions.dropFirst())
            case .failure(let error) where error.status?.isConflict == true:
                self.audit("conflict", key, namespace: nil, "source changed before \(action.auditName); planning again")
                r.note(.conflict)
                self.finish(r)
            case .failure(let error) where error.status?.isNotFound == true:
                if current { self.state.forgetSource(key) }
                r.note(.again)
                self.finish(r)
            case .failure(let error):
                r.fail("\(action.auditName) on \(key) failed: \(error)")
                self.finish(r)
            }
        }
    }

    func submitWrites(_ r: Reconciliation) {
        let writes = r.plan.writes
        guard !writes.isEmpty else {
            finish(r)
            return
        }
        r.pendingWrites = writes.count
        let lanes = link(for: r.work).lanes
        for decision in writes {
            lanes.submit(r.work) { [weak self] done in
                guard let self, !self.stopping else {
                    done()
                    return
                }
                self.execute(decision, r) {
                    done()
                    self.writeFinished()
                    r.pendingWrites -= 1
                    if r.pendingWrites == 0 { self.finish(r) }
                }
            }
        }
    }

    /// Requeues per outcome, reports events, records metrics, and releases the key.
    func finish(_ r: Reconciliation) {
        guard !stopping else { return }
        if let part = r as? ProfilePart {
            profilePartFinished(part)
            return
        }
        let key = r.key
        let work = r.work
        let now = reactor.now
        let inPlace = r.outcome == .success && r.scope == nil && r.changes.isEmpty && r.failures.isEmpty
            && r.plan.writes.isEmpty && r.plan.sourceActions.isEmpty && r.plan.requeueAt == nil
        settledAt[work] = inPlace ? r.generation : nil
        switch r.outcome {
        case .success:
            // A plan limited to some namespaces says nothing of the others: a failure elsewhere
            // keeps its backoff (its retry is still waiting) and its error.
            if r.scope == nil { succeeded(work) }
            if let wake = r.plan.requeueAt {
                // Whole-second timestamps: a little slack so the plan sees the expiry passed.
                queue.add(work, after: .milliseconds(Int64(max(0, wake.timeIntervalSinceNow) * 1000) + 20), now: now)
            }
        case .again, .conflict, .failed:
            var logging: Logger.Metadata = ["source": "\(key.namespace)/\(key.name)", "kind": "\(key.kind)"]
            if let cluster = work.cluster { logging["cluster"] = "\(cluster)" }
            requeue(work, r.outcome, failures: r.failures, now: now, logging: logging)
        }
        if r.outcome != .conflict && r.outcome != .again {
            report(r)
        }
        let duration = r.started.duration(to: now)
        metrics.reconcileDuration(kind: key.kind.rawValue, duration)
        if !r.changes.isEmpty {
            metrics.propagationLatency(r.queuedAt.duration(to: now))
        }
        if isGone(work, wrote: !r.changes.isEmpty) {
            // Gone for good: forget what was said about it.
            forget(work)
            switch work {
            case .source:
                state.pruneBlockerInterest(for: NameKey(key))
                cleanupWaits[work] = nil
            case .remote: link(for: work).state.pruneBlockerInterest(for: NameKey(key))
            case .pull, .profile, .remoteProfile: break
            }
        }
        if case .remote = work { remoteFinished(work) }
        reconcileDone(work)
        publishStatus()
    }

    /// A reconcile of `work` found everything done: its backoff and its error are forgotten.
    func succeeded(_ work: WorkKey) {
        queue.forget(work)
        if failureByKey.removeValue(forKey: work) == lastError { lastError = nil }
    }

    /// Puts `work` back in the queue as its reconcile's outcome asks: at once to plan again,
    /// after its backoff on a conflict or a failure (remembered as the latest error, and logged
    /// with `logging`).
    func requeue(_ work: WorkKey, _ outcome: Reconciliation.Outcome, failures: [String], now: MonotonicInstant,
                 logging: Logger.Metadata) {
        switch outcome {
        case .success:
            break
        case .again:
            queue.add(work, now: now)
        case .conflict:
            queue.addRateLimited(work, now: now, random: random)
        case .failed:
            let delay = queue.addRateLimited(work, now: now, random: random)
            let message = failures.joined(separator: "; ")
            failureByKey[work] = message
            lastError = message
            logger.warning("reconcile failed; retrying in \(delay)", metadata: logging.merging(["error": "\(message)"]) { a, _ in a })
        }
    }

    /// Posts the reconcile's outcome as events (only new ones, see ``OutcomeMemory``).
    private func report(_ r: Reconciliation) {
        var intents = r.plan.events
        intents += r.failures.map { EventIntent(type: .warning, reason: Vocabulary.reasonFailed, message: $0) }
        if !r.changes.isEmpty {
            intents.append(EventIntent(type: .normal, reason: Vocabulary.reasonSucceeded, message: successMessage(r)))
        }
        // A plan limited to some namespaces leaves what was said about the others standing.
        let fresh = eventMemory.fresh(r.work, intents, keeping: { r.scope != nil && $0.reason != Vocabulary.reasonSucceeded })
        guard let subject = eventSubject(r.work) ?? r.subject else { return }
        for intent in fresh where intent.type == .warning {
            var metadata: Logger.Metadata = [
                "source": "\(r.auditSource.namespace)/\(r.auditSource.name)", "kind": "\(r.key.kind)", "action": "event",
            ]
            if case .pull = r.work { metadata["pull"] = "\(r.key.namespace)/\(r.key.name)" }
            if let cluster = r.work.cluster { metadata["cluster"] = "\(cluster)" }
            logger.warning("\(intent.reason): \(intent.message)", metadata: metadata)
        }
        guard options.emitEvents else { return }
        for intent in EventCap.limit(fresh) {
            eventSequence += 1
            let body = EventBody.make(regarding: EventBody.Regarding(subject), intent: intent, instance: options.instance, now: options.wallClock.now, sequence: eventSequence)
            events.post(EventPoster.Post(namespace: subject.key.namespace, body: body,
                                         source: "\(r.auditSource.namespace)/\(r.auditSource.name)", reason: intent.reason))
        }
    }

    /// The Normal event of a reconcile that wrote.
    private func successMessage(_ r: Reconciliation) -> String {
        let parts = r.changes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }.joined(separator: ", ")
        switch r.work {
        case .source, .profile, .remoteProfile:
            let targets = r.plan.decisions.filter { if case .skip = $0.action { false } else { true } }.count
            return "replicas written: \(parts) (\(targets) \(targets == 1 ? "namespace" : "namespaces") planned)"
        case .remote(_, let cluster):
            let targets = r.plan.decisions.filter { if case .skip = $0.action { false } else { true } }.count
            return "replicas written in cluster \(cluster): \(parts) (\(targets) \(targets == 1 ? "namespace" : "namespaces") planned)"
        case .pull:
            return "pulled copy written: \(parts): \(r.plan.decisions.first?.reason ?? "")"
        }
    }

    /// The object a key's Events regard: the source, or the object that pulls.
    private func eventSubject(_ work: WorkKey) -> EventSubject? {
        switch work {
        case .source(let key), .remote(let key, _):
            state.source(key).map { EventSubject(key: $0.key, uid: $0.uid, resourceVersion: $0.resourceVersion) }
        case .pull(let key):
            state.pullTarget(key).map { EventSubject(key: key, uid: $0.object.uid, resourceVersion: $0.object.resourceVersion) }
        case .profile, .remoteProfile:
            nil  // a profile's Events regard the profile (ProfileReconcile.swift)
        }
    }

    /// Whether nothing is left of a key's work: what was remembered of it can go.
    private func isGone(_ work: WorkKey, wrote: Bool) -> Bool {
        switch work {
        case .source(let key), .remote(let key, _):
            state.sources[key] == nil && link(for: work).state.replicaKeys(ownedBy: work).isEmpty
        // A pull that just wrote may be between the two watches (a copy let go leaves the
        // replica watch before the metadata-only watch brings it back): not gone.
        case .pull(let key): !wrote && state.pullTarget(key) == nil
        // A profile forgets its own when it goes (ProfileWatch.swift).
        case .profile, .remoteProfile: false
        }
    }

    /// One audit line per skip decision, the first time it is planned; returns those.
    @discardableResult
    func auditSkips(_ r: Reconciliation) -> [SkipOutcome] {
        let plan = r.plan
        let skips = plan.decisions.compactMap { decision -> (SkipOutcome, String)? in
            guard case .skip = decision.action else { return nil }
            return (SkipOutcome(namespace: decision.namespace, cause: decision.cause), decision.reason)
        }
        let reasons = Dictionary(skips.map { ($0.0, $0.1) }, uniquingKeysWith: { a, _ in a })
        let fresh = skipMemory.fresh(r.work, skips.map(\.0), keeping: { skip in
            r.scope.map { !$0.contains(skip.namespace) } ?? false
        })
        for skip in fresh {
            let action: String = switch skip.cause {
            case .consentDenied: "consent-denied"
            case .pullNotAllowed: "pull-refused"
            case .unmanagedObject, .ownedByAnotherSource, .targetHasData: "conflict"
            case .expired: "expired"
            default: "skip"
            }
            if [.unmanagedObject, .ownedByAnotherSource, .targetHasData].contains(skip.cause) {
                metrics.replication(kind: plan.source.kind.rawValue, result: "skipped")
            }
            audit(action, r, namespace: skip.namespace, reasons[skip] ?? "skipped")
        }
        return fresh
    }

    /// A structured audit line: `source`, `kind`, `target_namespace`, `action`, `profile` for a
    /// SpillwayProfile's writes, and `cluster` for a write into a target cluster. Names and reasons only, never content.
    func audit(_ action: String, _ key: ObjectKey, namespace: String?, _ message: String, level: Logger.Level = .info,
               profile: NamespacedName? = nil, cluster: String? = nil) {
        auditLine(action, key, namespace: namespace, pull: nil, profile: profile, cluster: cluster, message, level: level)
    }

    /// The audit line of a reconcile's work: a pull's names its source, and the object that
    /// pulls (`pull`, `namespace/name`); a profile's writes name the profile.
    func audit(_ action: String, _ r: Reconciliation, namespace: String?, _ message: String, level: Logger.Level = .info) {
        let pull: ObjectKey? = if case .pull(let target) = r.work { target } else { nil }
        auditLine(action, r.auditSource, namespace: namespace, pull: pull, profile: r.profile, cluster: r.work.cluster,
                  message, level: level)
    }

    private func auditLine(_ action: String, _ key: ObjectKey, namespace: String?, pull: ObjectKey?,
                           profile: NamespacedName?, cluster: String?, _ message: String, level: Logger.Level) {
        // A line per replica write: the values are the strings themselves, not interpolations of them.
        var metadata: Logger.Metadata = [
            "source": .string(key.namespace + "/" + key.name), "kind": .string(key.kind.rawValue), "action": .string(action),
        ]
        if let namespace { metadata["target_namespace"] = .string(namespace) }
        if let pull { metadata["pull"] = .string(pull.namespace + "/" + pull.name) }
        if let profile { metadata["profile"] = "\(profile)" }
        if let cluster { metadata["cluster"] = .string(cluster) }
        logger.log(level: level, Logger.Message(stringLiteral: message), metadata: metadata)
    }
}

extension SourceAction {
    var auditName: String {
        switch self {
        case .addFinalizer: "finalizer-add"
        case .replaceLegacyFinalizer: "finalizer-takeover"
        case .removeFinalizer: "finalizer-remove"
        case .setExpiredNamespaces: "expired-namespaces"
        }
    }
}
