import FoundationEssentials
import KubeClient
import KubeWire
import SpillwayContract
import SpillwayLoop

extension Engine {
    /// Reconciles the pull of `target` (an object that asks with `replicate-from`, or a pulled
    /// copy): reads what is stale, plans with ``Planner/planPull(_:source:otherKind:namespace:)``,
    /// then writes through the key's lane. Always whole: a pull is one object.
    ///
    /// Reads, each once per version: what an object that asks holds (the candidates watch is
    /// metadata-only), and the source's content — only when the source admits this namespace,
    /// so a refused pull never makes spillway read a Secret.
    func reconcilePull(_ target: ObjectKey, queuedAt: MonotonicInstant) {
        let work = WorkKey.pull(target)
        if isSettled(work) {
            // Nothing it reads changed since a plan found everything in place.
            reconcileDone(work)
            return
        }
        let r = Reconciliation(work, key: target, queuedAt: queuedAt, started: reactor.now, scope: nil)
        let reads = ReconcileReads { [weak self] overtaken in
            guard let self else { return }
            if overtaken {
                r.note(.again)
                self.finish(r)
            } else {
                self.planPull(r)
            }
        }
        if state.replicas[target] == nil, let asking = state.pulls.asking[target], asking.held == nil {
            read(target, as: reads, failed: r.fail) { [weak self] answer in
                guard let self else { return }
                switch answer {
                case .found(let object): self.trigger(self.state.recordPullTarget(target, object))
                case .gone: self.trigger(self.state.forgetPullTarget(target))
                }
            }
        }
        if let sourceKey = state.pullTarget(target).flatMap({ PullState.request(of: target, $0.object.annotations) }),
           let entry = state.sources[sourceKey], entry.payloadVersion != entry.meta.resourceVersion,
           let source = state.source(sourceKey),
           PullConsent.evaluate(source, into: target.namespace, options: options.contract).isAdmitted {
            read(sourceKey, as: reads, failed: r.fail) { [weak self] answer in
                switch answer {
                case .found(let object): self?.state.recordSource(sourceKey, object)
                case .gone: self?.state.forgetSource(sourceKey)
                }
            }
        }
        reads.seal()
    }

    private func planPull(_ r: Reconciliation) {
        guard !stopping else { return }
        let target = r.key
        guard r.outcome != .failed, let pullTarget = state.pullTarget(target) else {
            // A failed read, or the object is gone (nothing of it is left to plan).
            finish(r)
            return
        }
        r.generation = state.generation
        r.subject = EventSubject(key: target, uid: pullTarget.object.uid, resourceVersion: pullTarget.object.resourceVersion)
        let sourceKey = PullState.request(of: target, pullTarget.object.annotations)
        let otherKind = sourceKey.flatMap { key in
            Kind.allCases.first { $0 != key.kind }.flatMap { state.source(ObjectKey(kind: $0, namespace: key.namespace, name: key.name)) }
        }
        let pull = planner.planPull(pullTarget, source: sourceKey.flatMap { state.source($0) }, otherKind: otherKind,
                                    namespace: state.namespaces[target.namespace])
        r.plan = pull.plan
        r.auditSource = pull.source ?? pullTarget.object.sourceFrom ?? target
        if pull.awaitsSourceFinalizer, let source = pull.source {
            // The source's reconcile adds it; its change then plans this pull again.
            var triggers = Triggers.none
            triggers.insert(.source(source))
            trigger(triggers)
        }
        let held = pull.refusal == .targetHasData || pull.refusal == .owned
        conflictsByKey[r.work] = held ? [target.namespace] : nil
        auditSkips(r)
        // Counted once per refusal, when it first appears (as its Warning is posted).
        if let refusal = refusalMemory.fresh(r.work, pull.refusal.map { [$0] } ?? []).first {
            metrics.pullRefused(kind: target.kind.rawValue, reason: refusal.rawValue)
        }
        submitWrites(r)
    }
}
