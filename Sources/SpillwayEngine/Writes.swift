import Foundation
import KubeClient
import KubeWire
import Logging
import SpillwayContract

extension Engine {
    /// Performs one replica write of a plan and applies its answer to the caches at once.
    func execute(_ decision: Decision, _ r: Reconciliation, completion: @escaping () -> Void) {
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
        case .unchanged, .skip:
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

    private func succeeded(_ decision: Decision, _ r: Reconciliation, _ message: String) {
        let action = metricAction(decision)
        r.changes[action, default: 0] += 1
        let kind = r.key.kind.rawValue
        metrics.reconcileChange(kind: kind, action: action)
        metrics.replication(kind: kind, result: "success")
        let cleanup: Set<Cause> = [.sourceDeleted, .replicationStopped, .notSelected, .excluded, .protectedNamespace, .consentDenied]
        let auditAction: String
        if case .delete = decision.action, cleanup.contains(decision.cause) {
            metrics.cleanupDelete(kind: kind)
            auditAction = "cleanup"
        } else {
            auditAction = action
        }
        audit(auditAction, r.key, namespace: decision.namespace, message, profile: r.profile)
    }

    private func failed(_ decision: Decision, _ r: Reconciliation, _ error: KubeClientError) {
        metrics.replication(kind: r.key.kind.rawValue, result: "failed")
        let message = "\(decision.action.verb) \(r.key.kind) \(decision.namespace)/\(r.key.name) failed: \(error)"
        audit(decision.action.verb, r.key, namespace: decision.namespace, message, level: .warning, profile: r.profile)
        r.fail(message)
    }

    private func create(_ replica: Replica, _ decision: Decision, _ r: Reconciliation, completion: @escaping () -> Void) {
        let target = replica.key
        let planned = state.replicas[target]?.resourceVersion
        client.create(ObjectCoding.resource(target.kind), namespace: target.namespace,
                      object: ObjectCoding.body(of: replica)) { [weak self] result in
            guard let self else { return }
            defer { completion() }
            switch result {
            case .success(let object):
                self.recordWritten(target, object, planned: planned)
                self.succeeded(decision, r, "replica created (\(decision.reason))")
            case .failure(.api(let status)) where status.isAlreadyExists:
                // Someone holds the name: find out who before planning again.
                r.pendingWrites += 1
                self.inspectExisting(target, r) {
                    r.pendingWrites -= 1
                    if r.pendingWrites == 0 { self.finish(r) }
                }
            case .failure(.api(let status)) where Self.isNamespaceTerminating(status):
                self.audit("skip", r.key, namespace: target.namespace, "namespace is terminating; nothing created", level: .debug, profile: r.profile)
            case .failure(.api(let status)) where status.isNotFound:
                self.audit("skip", r.key, namespace: target.namespace, "namespace is gone; nothing created", level: .debug, profile: r.profile)
            case .failure(let error):
                self.failed(decision, r, error)
            }
        }
    }

    /// After a create answered AlreadyExists: read the object; a stranger's becomes a blocker
    /// (the next plan skips it with an event), a replica goes to the cache.
    private func inspectExisting(_ target: ObjectKey, _ r: Reconciliation, completion: @escaping () -> Void) {
        client.get(ObjectCoding.resource(target.kind), namespace: target.namespace, name: target.name) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(let object):
                self.observeExisting(target, object)
                self.audit("conflict", r.key, namespace: target.namespace, "an object of this name already exists; planning again", profile: r.profile)
            case .failure(let error) where error.status?.isNotFound == true:
                break
            case .failure(let error):
                r.fail("reading \(target) after a create conflict failed: \(error)")
            }
            r.note(.again)
            completion()
        }
    }

    private func update(_ replica: Replica, _ precondition: Precondition, _ decision: Decision, _ r: Reconciliation,
                        completion: @escaping () -> Void) {
        let target = replica.key
        let planned = state.replicas[target]?.resourceVersion
        client.update(ObjectCoding.resource(target.kind), namespace: target.namespace, name: target.name,
                      object: ObjectCoding.body(of: replica, precondition: precondition)) { [weak self] result in
            guard let self else { return }
            defer { completion() }
            switch result {
            case .success(let object):
                self.recordWritten(target, object, planned: planned)
                self.succeeded(decision, r, decision.cause == .adopted
                               ? "unmanaged object adopted (force-adopt)" : "replica updated (\(decision.reason))")
            case .failure(.api(let status)) where status.isConflict:
                self.audit("conflict", r.key, namespace: target.namespace, "replica changed before the update; planning again", profile: r.profile)
                r.note(.conflict)
            case .failure(.api(let status)) where status.isNotFound:
                self.state.removeReplica(target)
                r.note(.again)
            case .failure(let error):
                self.failed(decision, r, error)
            }
        }
    }

    /// Deletes with uid and resourceVersion preconditions; `completion(true)` once the object
    /// is gone (or was already).
    private func delete(_ target: ObjectKey, _ precondition: Precondition, _ decision: Decision, _ r: Reconciliation,
                        completion: @escaping (_ gone: Bool) -> Void) {
        let deleteOptions = DeleteOptions(preconditionUID: precondition.uid,
                                          preconditionResourceVersion: precondition.resourceVersion)
        client.delete(ObjectCoding.resource(target.kind), namespace: target.namespace, name: target.name,
                      options: deleteOptions) { [weak self] result in
            guard let self else { return }
            switch result {
            case .success(.deleted):
                self.trigger(self.replicaGone(target))
                if case .delete = decision.action {
                    self.succeeded(decision, r, "replica deleted (\(decision.reason))")
                }
                completion(true)
            case .success(.pending(let object)):
                // Someone's finalizer holds it: the watch tells when it is gone.
                if let pending = KubeObject(json: object, keepBody: true) { self.state.recordReplica(target, pending) }
                if case .delete = decision.action {
                    self.succeeded(decision, r, "replica deletion requested (\(decision.reason)); waiting for its finalizers")
                }
                completion(false)
            case .failure(.api(let status)) where status.isNotFound:
                self.trigger(self.replicaGone(target))
                completion(true)
            case .failure(.api(let status)) where status.isConflict:
                self.audit("conflict", r.key, namespace: target.namespace, "replica changed before the delete; planning again", profile: r.profile)
                r.note(.conflict)
                completion(false)
            case .failure(let error):
                self.failed(decision, r, error)
                completion(false)
            }
        }
    }

    /// Caches a replica as a write answered it — unless the watch brought news of it while
    /// the write was in flight (`planned` is the version cached when it was sent): its echo
    /// (the same version), or a later change, which the answer must not overwrite.
    private func recordWritten(_ target: ObjectKey, _ object: JSONValue, planned: String?) {
        guard state.replicas[target]?.resourceVersion == planned,
              let written = KubeObject(json: object, keepBody: true)
        else { return }
        state.recordReplica(target, written)
    }

    static func isNamespaceTerminating(_ status: StatusError) -> Bool {
        status.isForbidden && (status.causes.contains { $0.reason == "NamespaceTerminating" }
                               || status.message.contains("being terminated"))
    }
}
