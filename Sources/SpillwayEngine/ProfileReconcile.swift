import FoundationEssentials
import KubeClient
import KubeWire
import Logging
import SpillwayContract
import SpillwayLoop

/// One reconcile of one SpillwayProfile in progress, in the watched cluster or in one target
/// cluster: its plan, and how its writes went.
final class ProfileReconciliation {
    let key: NamespacedName
    /// The target cluster it writes into; nil for the watched cluster.
    let cluster: String?
    var work: WorkKey { cluster.map { .remoteProfile(key, cluster: $0) } ?? .profile(key) }
    let queuedAt: MonotonicInstant
    let started: MonotonicInstant
    /// The generation of the observed state the plan was made from.
    var generation = 0
    var plan: ProfilePlan
    var outcome = Reconciliation.Outcome.success
    /// Sources whose writes are still running.
    var pendingParts = 0
    /// Succeeded writes by metric action.
    var changes: [String: Int] = [:]
    var failures: [String] = []
    /// The status was written (or needed writing).
    var statusWritten = false
    /// The profile as it was planned: its Events regard it even once the cache let it go (its
    /// finalizer released, the watch's deletion may come before they are posted).
    var subject: ProfileObject?

    init(key: NamespacedName, cluster: String?, queuedAt: MonotonicInstant, started: MonotonicInstant) {
        self.key = key
        self.cluster = cluster
        self.queuedAt = queuedAt
        self.started = started
        self.plan = ProfilePlan(profile: key)
    }

    func note(_ outcome: Reconciliation.Outcome) {
        self.outcome = max(self.outcome, outcome)
    }

    func fail(_ message: String) {
        note(.failed)
        failures.append(message)
    }
}

/// The replica writes of one source of a profile's plan: executed like an annotation source's
/// (`Writes.swift`), in the profile's lane, and reported to the profile's reconcile.
final class ProfilePart: Reconciliation {
    // Strong: nothing else holds the profile's reconcile while its writes run.
    let parent: ProfileReconciliation

    init(_ parent: ProfileReconciliation, plan: Plan) {
        self.parent = parent
        super.init(parent.work, key: plan.source, queuedAt: parent.queuedAt, started: parent.started, scope: nil)
        self.plan = plan
    }

    override var profile: NamespacedName? { parent.key }
}

extension Engine {
    /// What a profile's plan reads: the observed state and the profiles' state together.
    var profileGeneration: Int { state.generation &+ profiles.generation }

    /// Reconciles a SpillwayProfile: reads the listed sources whose content is stale, plans every
    /// source of the profile (``Planner/planProfile(_:profile:sources:namespaces:observed:owned:now:)``),
    /// writes the profile's finalizer, then the replicas through the profile's lane, then its
    /// status when it changed. Always planned whole. Nothing happens while profiles are not
    /// served: their replicas are left as they are.
    ///
    /// With `cluster`, the profile's replicas in that target cluster (``WorkKey/remoteProfile(_:cluster:)``):
    /// planned against its namespaces by its planner, written through its lanes; what it found
    /// goes into the profile's status through the watched cluster's reconcile. A cluster that is
    /// away or not synced parks the work until it is back, as for a source's.
    func reconcileProfile(_ key: NamespacedName, cluster: String? = nil, queuedAt: MonotonicInstant) {
        let work = cluster.map { WorkKey.remoteProfile(key, cluster: $0) } ?? .profile(key)
        guard profiles.isServing, cluster.map({ clusters[$0]?.isReady == true }) ?? true else {
            reconcileDone(work)
            return
        }
        if isSettled(work) {
            // Nothing it reads changed since a plan found everything in place: the same plan.
            reconcileDone(work)
            return
        }
        let pr = ProfileReconciliation(key: key, cluster: cluster, queuedAt: queuedAt, started: reactor.now)
        let link = link(for: work)
        let reads = ReconcileReads { [weak self] overtaken in
            guard let self else { return }
            if overtaken {
                pr.note(.again)
                self.completeProfile(pr)
            } else {
                self.planProfile(pr)
            }
        }
        if let profile = profiles.profiles[key], !profile.isTerminating, profile.problems.isEmpty {
            for source in profile.sourceKeys {
                if profiles.sources[source]?.needsRead == true {
                    read(source, as: reads, failed: pr.fail) { [weak self] answer in
                        switch answer {
                        case .found(let object): self?.profiles.recordSource(source, object)
                        case .gone: self?.profiles.forgetSource(source)
                        }
                    }
                }
                readStaleBlockers(of: source, in: link, as: reads, failed: pr.fail)
            }
        }
        reads.seal()
    }

    private func planProfile(_ pr: ProfileReconciliation) {
        guard !stopping else { return }
        if pr.outcome == .failed {
            completeProfile(pr)
            return
        }
        let key = pr.key
        let namespace = key.namespace ?? ""
        let profile = profiles.profiles[key]
        pr.subject = profile
        let link = link(for: pr.work)
        pr.generation = link.isLocal ? profileGeneration : profileGeneration &+ link.state.generation
        // The sources of the replicas it has (it may no longer list them), and those it lists.
        let owned = Set(link.state.replicaKeys(ownedBy: pr.work).map { ObjectKey(kind: $0.kind, namespace: namespace, name: $0.name) })
        var observed: [ObjectKey: [String: ObservedObject]] = [:]
        var sources: [ObjectKey: SourceObject] = [:]
        for source in owned.union(profile?.sourceKeys ?? []) {
            // In a target cluster every namespace is a target one, and the listed sources of
            // other profiles (in the watched cluster) are in no one's way.
            var objects = link.state.observedObjects(for: source, includingOwnNamespace: !link.isLocal)
            if link.isLocal {
                for (other, object) in profiles.otherSources(named: source) where objects[other] == nil {
                    objects[other] = object
                }
            }
            observed[source] = objects
        }
        for source in profile?.sourceKeys ?? [] {
            if let object = profiles.source(source) {
                sources[source] = object
            } else if let replica = state.replicas[source] {
                // Listed, but a spillway replica: the planner says it is never a source.
                sources[source] = SourceObject(key: source, uid: replica.uid, resourceVersion: replica.resourceVersion,
                                               labels: replica.labels, annotations: replica.annotations,
                                               payload: Payload(kind: source.kind))
            }
        }
        let plan = link.planner.planProfile(key, profile: profile, sources: sources, namespaces: link.state.namespaceList,
                                            observed: observed, owned: owned, now: options.wallClock.now)
        pr.plan = plan
        let held = plan.plans.flatMap { source in
            source.decisions.lazy.filter { $0.cause == .unmanagedObject || $0.cause == .ownedByAnotherSource }
                .map { "\(source.source.kind)/\($0.namespace)/\(source.source.name)" }
        }
        conflictsByKey[pr.work] = held.isEmpty ? nil : Set(held)
        auditProfileSkips(plan, work: pr.work)
        runProfileActions(pr, plan.actions[...])
    }

    private func runProfileActions(_ pr: ProfileReconciliation, _ actions: ArraySlice<ProfileAction>) {
        guard let action = actions.first else {
            submitProfileWrites(pr)
            return
        }
        guard let resource = profiles.resource, let profile = profiles.profiles[pr.key] else {
            pr.note(.again)
            completeProfile(pr)
            return
        }
        if action == .removeFinalizer,
           holdsFinalizerForClusters(pr.work, named: profile.spec.clusters, events: &pr.plan.events, recordAbandoned: { cluster, message in
               auditProfile("cleanup-abandoned", pr.key, message, cluster: cluster, level: .warning)
           }) {
            // Replicas remain in a target cluster: released once they are gone, or when the
            // wait runs out.
            completeProfile(pr)
            return
        }
        let finalizers: [String]
        let description: String
        switch action {
        case .addFinalizer:
            finalizers = profile.finalizers + [Vocabulary.finalizer]
            description = "finalizer \(Vocabulary.finalizer) added"
        case .replaceLegacyFinalizer:
            finalizers = profile.finalizers.filter { $0 != Vocabulary.legacyFinalizer && $0 != Vocabulary.finalizer } + [Vocabulary.finalizer]
            description = "finalizer \(Vocabulary.legacyFinalizer) of the original spillway replaced by \(Vocabulary.finalizer)"
        case .removeFinalizer:
            finalizers = profile.finalizers.filter { $0 != Vocabulary.finalizer && $0 != Vocabulary.legacyFinalizer }
            description = "finalizer removed: no replica remains"
        }
        let patch: JSONValue = ["metadata": [
            "resourceVersion": .string(profile.resourceVersion), "finalizers": .array(finalizers.map { .string($0) }),
        ]]
        let ticket = profiles.tickets.issue(for: pr.key)
        client.patch(resource, namespace: pr.key.namespace, name: pr.key.name, patch: .merge(patch)) { [weak self] result in
            guard let self, !self.stopping else { return }
            let current = self.profiles.tickets.redeem(ticket)
            switch result {
            case .success(let object):
                if current { self.profiles.record(object) }
                // The target clusters' work waits for the finalizer (the watch echo of this
                // write may come first and then wake nothing).
                if action != .removeFinalizer { self.queueRemoteWork(of: pr.work) }
                self.auditProfile(action.auditName, pr.key, description)
                self.runProfileActions(pr, actions.dropFirst())
            case .failure(let error) where error.status?.isConflict == true:
                self.auditProfile("conflict", pr.key, "profile changed before \(action.auditName); planning again")
                pr.note(.conflict)
                self.completeProfile(pr)
            case .failure(let error) where error.status?.isNotFound == true:
                if current { self.profiles.forget(pr.key) }
                pr.note(.again)
                self.completeProfile(pr)
            case .failure(let error):
                pr.fail("\(action.auditName) on \(Vocabulary.profileKind) \(pr.key) failed: \(error)")
                self.completeProfile(pr)
            }
        }
    }

    private func submitProfileWrites(_ pr: ProfileReconciliation) {
        let parts = pr.plan.plans.filter { !$0.writes.isEmpty }
        guard !parts.isEmpty else {
            writeProfileStatus(pr)
            return
        }
        pr.pendingParts = parts.count
        for plan in parts { submitWrites(ProfilePart(pr, plan: plan)) }
    }

    /// The writes of one source of the profile finished (``finish(_:)`` hands them here).
    func profilePartFinished(_ part: ProfilePart) {
        let pr = part.parent
        pr.note(part.outcome)
        pr.failures += part.failures
        pr.changes.merge(part.changes, uniquingKeysWith: +)
        let kind = part.key.kind.rawValue
        metrics.reconcileDuration(kind: kind, part.started.duration(to: reactor.now))
        pr.pendingParts -= 1
        if pr.pendingParts == 0 { writeProfileStatus(pr) }
    }

    /// Writes the status when it changed (a merge patch of the status subresource, conditioned
    /// on the resourceVersion), then completes the reconcile. A plan that is about to be made
    /// again (lost race, something moved) leaves the status to that plan.
    private func writeProfileStatus(_ pr: ProfileReconciliation) {
        guard !stopping else { return }
        if let cluster = pr.cluster {
            // A target cluster's part of the status is written by the watched cluster's reconcile.
            recordClusterReport(pr, cluster: cluster)
            completeProfile(pr)
            return
        }
        guard pr.outcome != .conflict, pr.outcome != .again, let summary = pr.plan.summary,
              let resource = profiles.resource, let profile = profiles.profiles[pr.key], !profile.isTerminating
        else {
            completeProfile(pr)
            return
        }
        let status = profileStatus(pr, summary: summary, generation: profile.generation)
        metrics.profile(pr.key.description, replicas: status.replicatedNamespaces.count,
                        missingSources: summary.missing.count, ready: status.isReady)
        guard !status.isCurrent(profile.status) else {
            completeProfile(pr)
            return
        }
        pr.statusWritten = true
        let patch: JSONValue = [
            "metadata": ["resourceVersion": .string(profile.resourceVersion)],
            "status": status.json(previous: profile.status, now: options.wallClock.now),
        ]
        let ticket = profiles.tickets.issue(for: pr.key)
        client.patch(resource, namespace: pr.key.namespace, name: pr.key.name, subresource: "status",
                     patch: .merge(patch)) { [weak self] result in
            guard let self, !self.stopping else { return }
            let current = self.profiles.tickets.redeem(ticket)
            switch result {
            case .success(let object):
                if current { self.profiles.record(object) }
            case .failure(let error) where error.status?.isConflict == true:
                pr.note(.conflict)
            case .failure(let error) where error.status?.isNotFound == true:
                pr.note(.again)
            case .failure(let error):
                pr.fail("writing the status of \(Vocabulary.profileKind) \(pr.key) failed: \(error)")
            }
            self.completeProfile(pr)
        }
    }

    /// The status after the reconcile's writes: a create that did not happen holds no replica.
    private func profileStatus(_ pr: ProfileReconciliation, summary: ProfileSummary, generation: Int64) -> ProfileStatus {
        ProfileStatus(summary: summary, failures: pr.failures, unwritten: unwrittenReplicas(pr), generation: generation,
                      clusters: clusterReports(for: pr.key))
    }

    /// Per namespace, the creates of the plan that did not happen: they hold no replica.
    private func unwrittenReplicas(_ pr: ProfileReconciliation) -> [String: Int] {
        let mine = link(for: pr.work).state.replicaKeys(ownedBy: pr.work)
        var unwritten: [String: Int] = [:]
        for plan in pr.plan.plans {
            for decision in plan.decisions {
                switch decision.action {
                case .create, .recreate:
                    if !mine.contains(plan.source.inNamespace(decision.namespace)) { unwritten[decision.namespace, default: 0] += 1 }
                default:
                    continue
                }
            }
        }
        return unwritten
    }

    /// What a target cluster's reconcile of the profile found, kept for the profile's status:
    /// a change plans the watched cluster's reconcile again, which writes it.
    private func recordClusterReport(_ pr: ProfileReconciliation, cluster: String) {
        guard pr.outcome != .conflict, pr.outcome != .again else { return }
        var report: ProfileClusterReport?
        if let summary = pr.plan.summary {
            let unwritten = unwrittenReplicas(pr)
            report = ProfileClusterReport(cluster: cluster,
                                          replicatedNamespaces: summary.replicas.filter { $0.value - (unwritten[$0.key] ?? 0) > 0 }.count,
                                          held: summary.held, failures: pr.failures)
        }
        guard profiles.setClusterReport(report, of: pr.key, cluster: cluster) else { return }
        queue.add(.profile(pr.key), now: reactor.now)
        schedulePump()
    }

    /// Per target cluster the profile names and spillwayd may write to, what is known there.
    private func clusterReports(for key: NamespacedName) -> [ProfileClusterReport] {
        guard let profile = profiles.profiles[key], profile.spec.clusters != nil else { return [] }
        return clusters.values.sorted { $0.name < $1.name }.compactMap { cluster in
            guard Placement(cluster: cluster.name).isSelected(by: profile.spec.clusters) else { return nil }
            guard cluster.isReady else {
                let why = cluster.isReachable ? "not synced yet" : cluster.health(replicas: 0).description.dropFirst(cluster.name.count + 2)
                return ProfileClusterReport(cluster: cluster.name, problem: String(why))
            }
            return profiles.clusterReport(of: key, cluster: cluster.name)
                ?? ProfileClusterReport(cluster: cluster.name, problem: "not planned yet")
        }
    }

    /// Profile statuses say how each target cluster is: a cluster that went away or came back
    /// plans every profile's status again.
    func refreshProfileStatuses() {
        let now = reactor.now
        for key in profileWorkKeys {
            settledAt[key] = nil
            queue.add(key, now: now)
        }
        schedulePump()
    }

    /// Requeues per outcome, reports events and metrics, and releases the key.
    private func completeProfile(_ pr: ProfileReconciliation) {
        guard !stopping else { return }
        let work = pr.work
        let now = reactor.now
        let inPlace = pr.outcome == .success && pr.changes.isEmpty && pr.failures.isEmpty && pr.plan.writes.isEmpty
            && pr.plan.actions.isEmpty && !pr.statusWritten
        settledAt[work] = inPlace ? pr.generation : nil
        switch pr.outcome {
        case .success:
            succeeded(work)
            // A profile being deleted releases its finalizer in the plan after its deletes.
            if pr.plan.summary == nil && !pr.changes.isEmpty { queue.add(work, now: now) }
        case .again, .conflict, .failed:
            requeue(work, pr.outcome, failures: pr.failures, now: now,
                    logging: pr.cluster.map { ["profile": "\(pr.key)", "cluster": "\($0)"] } ?? ["profile": "\(pr.key)"])
        }
        if pr.outcome != .conflict && pr.outcome != .again {
            reportProfile(pr)
        }
        if !pr.changes.isEmpty {
            metrics.propagationLatency(pr.queuedAt.duration(to: now))
        }
        if profiles.profiles[pr.key] == nil && link(for: work).state.replicaKeys(ownedBy: work).isEmpty {
            // Gone for good: forget what was said about it.
            forget(work)
            if let cluster = pr.cluster {
                _ = profiles.setClusterReport(nil, of: pr.key, cluster: cluster)
            } else {
                metrics.profileRemoved(pr.key.description)
            }
        }
        if pr.cluster != nil { remoteFinished(work) }
        reconcileDone(work)
        publishStatus()
    }

    /// Posts the reconcile's outcome as Events on the profile (only new ones).
    private func reportProfile(_ pr: ProfileReconciliation) {
        var intents = pr.plan.events
        intents += pr.failures.map { EventIntent(type: .warning, reason: Vocabulary.reasonFailed, message: $0) }
        if !pr.changes.isEmpty {
            let parts = pr.changes.sorted { $0.key < $1.key }.map { "\($0.key) \($0.value)" }
            let targets = Set(pr.plan.plans.flatMap { $0.decisions.filter { if case .skip = $0.action { false } else { true } }.map(\.namespace) }).count
            let written = pr.cluster.map { "replicas written in cluster \($0)" } ?? "replicas written"
            intents.append(EventIntent(type: .normal, reason: Vocabulary.reasonSucceeded,
                                       message: "\(written): \(parts.joined(separator: ", ")) (\(targets) \(targets == 1 ? "namespace" : "namespaces") planned)"))
        }
        let fresh = eventMemory.fresh(pr.work, intents)
        guard let profile = profiles.profiles[pr.key] ?? pr.subject, let resource = profiles.resource else { return }
        for intent in fresh where intent.type == .warning {
            logger.warning("\(intent.reason): \(intent.message)", metadata: ["profile": "\(pr.key)", "action": "event"])
        }
        guard options.emitEvents else { return }
        for intent in EventCap.limit(fresh) {
            eventSequence += 1
            let regarding = EventBody.Regarding(apiVersion: resource.apiVersion, kind: Vocabulary.profileKind,
                                                namespace: profile.namespace, name: profile.key.name, uid: profile.uid,
                                                resourceVersion: profile.resourceVersion)
            let body = EventBody.make(regarding: regarding, intent: intent, instance: options.instance,
                                      now: options.wallClock.now, sequence: eventSequence)
            events.post(EventPoster.Post(namespace: profile.namespace, body: body, source: "\(Vocabulary.profileKind) \(pr.key)",
                                         reason: intent.reason))
        }
    }

    /// One audit line per skip decision of the profile's plan, the first time it is planned.
    private func auditProfileSkips(_ plan: ProfilePlan, work: WorkKey) {
        var skips: [SkipOutcome] = []
        var reasons: [SkipOutcome: (ObjectKey, String)] = [:]
        for source in plan.plans {
            for decision in source.decisions {
                guard case .skip = decision.action else { continue }
                // One profile skips per source and namespace: both name the outcome.
                let outcome = SkipOutcome(namespace: "\(decision.namespace) \(source.source.kind)/\(source.source.name)",
                                          cause: decision.cause)
                skips.append(outcome)
                reasons[outcome] = (source.source, decision.namespace)
            }
        }
        let reasonText = Dictionary(plan.plans.flatMap { source in
            source.decisions.map { ("\($0.namespace) \(source.source.kind)/\(source.source.name)", $0.reason) }
        }, uniquingKeysWith: { a, _ in a })
        for skip in skipMemory.fresh(work, skips) {
            guard let (source, namespace) = reasons[skip] else { continue }
            let action: String = switch skip.cause {
            case .consentDenied: "consent-denied"
            case .unmanagedObject, .ownedByAnotherSource: "conflict"
            default: "skip"
            }
            if skip.cause == .unmanagedObject || skip.cause == .ownedByAnotherSource {
                metrics.replication(kind: source.kind.rawValue, result: "skipped")
            }
            audit(action, source, namespace: namespace, reasonText[skip.namespace] ?? "skipped", profile: plan.profile,
                  cluster: work.cluster)
        }
    }

    /// An audit line about the profile itself.
    private func auditProfile(_ action: String, _ key: NamespacedName, _ message: String, cluster: String? = nil,
                              level: Logger.Level = .info) {
        var metadata: Logger.Metadata = ["profile": "\(key)", "kind": "\(Vocabulary.profileKind)", "action": "\(action)"]
        if let cluster { metadata["cluster"] = "\(cluster)" }
        logger.log(level: level, "\(message)", metadata: metadata)
    }
}

extension ProfileAction {
    var auditName: String {
        switch self {
        case .addFinalizer: "finalizer-add"
        case .replaceLegacyFinalizer: "finalizer-takeover"
        case .removeFinalizer: "finalizer-remove"
        }
    }
}
