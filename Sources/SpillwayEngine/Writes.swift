import FoundationEssentials
import KubeClient
import KubeWire
import Logging
import SpillwayContract

extension Engine {
    /// Performs one replica write of a plan and applies its answer to the caches at once.
    func execute(_ decision: Decision, _ r: Reconciliation, completion: @escaping () -> Void) {
        if case .pull = r.work { return executePull(decision, r, completion: completion) }
        let target = r.key.inNamespace(decision.namespace)
        switch decision.action {
        case .create(let replica):
            create(replica, decision, r, completion: completion)
        case .update(let replica, let precondition):
            update(replica, precondition, decision, r, completion: completion)
        case .recreate(let replica, let precondition):
            delete(target, precondition, decision, r) { [weak self] gone in
                guard let self, gone else { return completion() }
                self.create(replica, decision, r, completion: completion)
            }
        case .delete(let precondition):
            delete(target, precondition, decision, r) { _ in completion() }
        case .unchanged, .skip, .release:
            completion()
        }
    }

    /// The `action` label of a successful write.
    private func metricAction(_ decision: Decision) -> String {
        switch decision.cause {
        case .adopted: "adopt"
        case .expired: "expire"
        default: decision.action.verb
        }
    }

    func succeeded(_ decision: Decision, _ r: Reconciliation, _ message: String) {
        let action = metricAction(decision)
        r.changes[action, default: 0] += 1
        let kind = r.key.kind.rawValue
        metrics.reconcileChange(kind: kind, action: action)
        metrics.replication(kind: kind, result: "success")
        if let cluster = r.work.cluster { metrics.clusterWrite(cluster, kind: kind, action: action) }
        let auditAction: String
        if case .delete = decision.action, Self.cleanupCauses.contains(decision.cause) {
            metrics.cleanupDelete(kind: kind)
            auditAction = "cleanup"
        } else if case .pull = r.work {
            auditAction = Self.pullAuditAction(decision)
        } else {
            auditAction = action
        }
        audit(auditAction, r, namespace: decision.namespace, message)
    }

    /// The causes of a delete that the audit log calls `cleanup`.
    private static let cleanupCauses: Set<Cause> = [.sourceDeleted, .replicationStopped, .notSelected, .excluded,
                                                    .protectedNamespace, .consentDenied]

    func failed(_ decision: Decision, _ r: Reconciliation, _ error: KubeClientError) {
        metrics.replication(kind: r.key.kind.rawValue, result: "failed")
        let whereTo = r.work.cluster.map { " in cluster \($0)" } ?? ""
        let message = "\(decision.action.verb) \(r.key.kind) \(decision.namespace)/\(r.key.name)\(whereTo) failed: \(error)"
        audit(decision.action.verb, r, namespace: decision.namespace, message, level: .warning)
        r.fail(message)
    }

    func create(_ replica: Replica, _ decision: Decision, _ r: Reconciliation, completion: @escaping () -> Void) {
        let target = replica.key
        let link = link(for: r.work)
        let ticket = link.state.tickets.issue(for: target, writing: true)
        let body = r.body(of: replica)
        link.client.createReadingMetadata(ObjectCoding.resource(target.kind), namespace: target.namespace,
                                          json: body.bytes()) { [weak self] result in
            let current = link.state.tickets.redeem(ticket)
            guard let self else { return }
            defer { completion() }
            switch result {
            case .success(let answer):
                self.cacheWritten(target, answer, content: body.digest, current: current, in: link)
                self.succeeded(decision, r, "\(Self.noun(r)) created (\(decision.reason))")
            case .failure(.api(let status)) where status.isAlreadyExists:
                // Someone holds the name: find out who before planning again.
                r.pendingWrites += 1
                self.inspectExisting(target, r) {
                    r.pendingWrites -= 1
                    if r.pendingWrites == 0 { self.finish(r) }
                }
            case .failure(.api(let status)) where Self.isNamespaceTerminating(status):
                self.audit("skip", r, namespace: target.namespace, "namespace is terminating; nothing created", level: .debug)
            case .failure(.api(let status)) where status.isNotFound:
                self.audit("skip", r, namespace: target.namespace, "namespace is gone; nothing created", level: .debug)
            case .failure(let error):
                self.failed(decision, r, error)
            }
        }
    }

    /// After a create answered AlreadyExists: read the object; a stranger's becomes a blocker
    /// (the next plan skips it with an event), a replica goes to the cache.
    private func inspectExisting(_ target: ObjectKey, _ r: Reconciliation, completion: @escaping () -> Void) {
        let link = link(for: r.work)
        let ticket = link.state.tickets.issue(for: target)
        link.client.get(ObjectCoding.resource(target.kind), namespace: target.namespace, name: target.name) { [weak self] result in
            guard let self else { return }
            let current = link.state.tickets.redeem(ticket)
            switch result {
            case .success(let object):
                if current { self.observeExisting(target, object, in: link) }
                self.audit("conflict", r, namespace: target.namespace, "an object of this name already exists; planning again")
            case .failure(let error) where error.status?.isNotFound == true:
                break
            case .failure(let error):
                r.fail("reading \(link.describe(target)) after a create conflict failed: \(error)")
            }
            r.note(.again)
            completion()
        }
    }

    private func update(_ replica: Replica, _ precondition: Precondition, _ decision: Decision, _ r: Reconciliation,
                        completion: @escaping () -> Void) {
        let target = replica.key
        let link = link(for: r.work)
        let ticket = link.state.tickets.issue(for: target, writing: true)
        let body = r.body(of: replica)
        link.client.updateReadingMetadata(ObjectCoding.resource(target.kind), namespace: target.namespace, name: target.name,
                                          json: body.bytes(precondition: precondition)) { [weak self] result in
            let current = link.state.tickets.redeem(ticket)
            guard let self else { return }
            defer { completion() }
            switch result {
            case .success(let answer):
                self.cacheWritten(target, answer, content: body.digest, current: current, in: link)
                self.succeeded(decision, r, decision.cause == .adopted
                               ? "unmanaged object adopted (force-adopt)" : "replica updated (\(decision.reason))")
            case .failure(.api(let status)) where status.isConflict:
                self.audit("conflict", r, namespace: target.namespace, "replica changed before the update; planning again")
                r.note(.conflict)
            case .failure(.api(let status)) where status.isNotFound:
                if current { link.state.removeReplica(target) }
                r.note(.again)
            case .failure(let error):
                self.failed(decision, r, error)
            }
        }
    }

    /// Deletes with uid and resourceVersion preconditions; `completion(true)` once the object
    /// is gone (or was already).
    func delete(_ target: ObjectKey, _ precondition: Precondition, _ decision: Decision, _ r: Reconciliation,
                        completion: @escaping (_ gone: Bool) -> Void) {
        let deleteOptions = DeleteOptions(preconditionUID: precondition.uid,
                                          preconditionResourceVersion: precondition.resourceVersion)
        let link = link(for: r.work)
        let ticket = link.state.tickets.issue(for: target)
        link.client.delete(ObjectCoding.resource(target.kind), namespace: target.namespace, name: target.name,
                           options: deleteOptions) { [weak self] result in
            guard let self else { return }
            // Overtaken by the watch, the answer changes nothing the watch has not said.
            let current = link.state.tickets.redeem(ticket)
            switch result {
            case .success(.deleted):
                if current { self.replicaDeleted(target, in: link) }
                if case .delete = decision.action {
                    self.succeeded(decision, r, "replica deleted (\(decision.reason))")
                }
                completion(true)
            case .success(.pending(let object)):
                // Someone's finalizer holds it: the watch tells when it is gone.
                if current, let pending = KubeObject(json: object, keepBody: true) { link.state.recordReplica(target, pending) }
                if case .delete = decision.action {
                    self.succeeded(decision, r, "replica deletion requested (\(decision.reason)); waiting for its finalizers")
                }
                completion(false)
            case .failure(.api(let status)) where status.isNotFound:
                if current { self.replicaDeleted(target, in: link) }
                completion(true)
            case .failure(.api(let status)) where status.isConflict:
                self.audit("conflict", r, namespace: target.namespace, "replica changed before the delete; planning again")
                r.note(.conflict)
                completion(false)
            case .failure(let error):
                self.failed(decision, r, error)
                completion(false)
            }
        }
    }

    /// Caches a replica as a write answered it, so a resync before the watch's echo does not
    /// write again. Only for an answer the watch has not overtaken (see AnswerTickets): its
    /// echo or a later change is as new or newer, and must not be overwritten.
    func recordWritten(_ target: ObjectKey, _ object: JSONValue, in link: ClusterLink? = nil) {
        guard let written = KubeObject(json: object, keepBody: true) else { return }
        let link = link ?? local!
        trigger(link.state.recordReplica(target, written), cluster: link.name)
    }

    /// A delete of `target` in `link` succeeded (or found it gone): the caches forget it, and the
    /// work that may take the name over is queued.
    private func replicaDeleted(_ target: ObjectKey, in link: ClusterLink) {
        if link.isLocal {
            trigger(replicaGone(target))
        } else {
            trigger(link.state.removeReplica(target), cluster: link.name)
        }
    }

    /// The same for a create or update whose answer was read for its metadata alone: the
    /// content is what was written (`content` is its digest). The server answers with the
    /// metadata alone (PartialObjectMetadata); one that sent the whole object has it read whole
    /// only when it is not a managed replica (a webhook took the label away: the cache then needs
    /// its content). A metadata answer of that kind is cached without content, which is read
    /// before anything is planned from it.
    func recordWritten(_ target: ObjectKey, _ answer: WriteAnswer, content: ContentDigest, in link: ClusterLink) {
        guard let meta = answer.metadata else { return }
        if Vocabulary.isManaged(labels: meta.labels) {
            trigger(link.state.recordManagedReplica(target, meta, content: content), cluster: link.name)
        } else if let object = try? answer.object() {
            if object["kind"]?.stringValue == "PartialObjectMetadata" {
                trigger(link.state.recordReplica(target, KubeObject(metadata: meta, object: nil)), cluster: link.name)
            } else {
                recordWritten(target, object, in: link)
            }
        }
    }

    /// Caches the answer to a replica create or update. One the watch has not overtaken is
    /// cached whole (``recordWritten(_:_:content:in:)``); one it has only lends the digest of
    /// what was written to the version the watch delivered without its content, if that is
    /// the version this write made (see ``ObservedState/isBeingWritten(_:_:)``).
    private func cacheWritten(_ target: ObjectKey, _ answer: WriteAnswer, content: ContentDigest, current: Bool,
                              in link: ClusterLink) {
        if current {
            recordWritten(target, answer, content: content, in: link)
        } else if let meta = answer.metadata, Vocabulary.isManaged(labels: meta.labels) {
            link.state.fillWrittenContent(target, resourceVersion: meta.resourceVersion, content: content)
        }
    }

    /// What a reconcile writes, for its audit lines.
    static func noun(_ r: Reconciliation) -> String {
        if case .pull = r.work { "pulled copy" } else { "replica" }
    }

    static func isNamespaceTerminating(_ status: StatusError) -> Bool {
        status.isForbidden && (status.causes.contains { $0.reason == "NamespaceTerminating" }
                               || status.message.contains("being terminated"))
    }
}
