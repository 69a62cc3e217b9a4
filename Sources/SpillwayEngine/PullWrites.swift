import FoundationEssentials
import KubeClient
import KubeWire
import SpillwayContract

extension Engine {
    /// Performs the write of a pull's plan. The object is its namespace's own, so it is patched,
    /// not replaced: a JSON patch sets exactly what spillway manages (its labels and
    /// annotations as planned, which keep every one of the object's own, and its content),
    /// conditioned on the resourceVersion observed, and leaves everything else (owner
    /// references, other finalizers, fields spillway does not know) as it is. A change the API
    /// forbids in place (a new Secret type, an immutable object) is a delete and a create, as
    /// for a replica.
    func executePull(_ decision: Decision, _ r: Reconciliation, completion: @escaping () -> Void) {
        let target = r.key
        switch decision.action {
        case .update(let copy, let precondition):
            patchPull(target, Self.pullPatch(copy, precondition), decision, r, completion: completion)
        case .release(let labels, let annotations, let precondition):
            patchPull(target, Self.metadataPatch(labels: labels, annotations: annotations, precondition), decision, r,
                      completion: completion)
        case .recreate(let copy, let precondition):
            delete(target, precondition, decision, r) { [weak self] gone in
                guard let self, gone else { return completion() }
                self.create(copy, decision, r, completion: completion)
            }
        case .create, .delete, .unchanged, .skip:
            // A pull never creates an object of its own accord, nor deletes one but to recreate it.
            completion()
        }
    }

    /// The JSON patch operations that make the write conditional on `precondition`'s
    /// resourceVersion (a patch that sets another one is refused with 409, as a stale update)
    /// and set the labels and annotations.
    static func metadataPatch(labels: [String: String], annotations: [String: String], _ precondition: Precondition) -> [JSONValue] {
        [
            ["op": "replace", "path": "/metadata/resourceVersion", "value": .string(precondition.resourceVersion)],
            ["op": "add", "path": "/metadata/labels", "value": .stringMap(labels)],
            ["op": "add", "path": "/metadata/annotations", "value": .stringMap(annotations)],
        ]
    }

    private func patchPull(_ target: ObjectKey, _ operations: [JSONValue], _ decision: Decision, _ r: Reconciliation,
                           completion: @escaping () -> Void) {
        let ticket = state.tickets.issue(for: target)
        client.patch(ObjectCoding.resource(target.kind), namespace: target.namespace, name: target.name,
                     patch: .json(operations)) { [weak self] result in
            guard let self else { return }
            defer { completion() }
            let current = self.state.tickets.redeem(ticket)
            switch result {
            case .success(let object):
                if current { self.recordWritten(target, object) }
                self.succeeded(decision, r, Self.pullMessage(decision))
            case .failure(.api(let status)) where status.isConflict:
                self.audit("conflict", r, namespace: target.namespace, "\(target) changed before the write; planning again")
                r.note(.conflict)
            case .failure(.api(let status)) where status.isNotFound:
                if current {
                    self.trigger(self.state.forgetPullTarget(target))
                    self.trigger(self.replicaGone(target))
                }
                r.note(.again)
            case .failure(let error):
                self.failed(decision, r, error)
            }
        }
    }

    /// The audit action of a pull's successful write: `fill`, `empty`, `release`, `adopt`, or
    /// the write's verb (`update`, `recreate`) when it follows the source.
    static func pullAuditAction(_ decision: Decision) -> String {
        switch (decision.action, decision.cause) {
        case (.release, _): "release"
        case (_, .adopted): "adopt"
        case (_, .missing): "fill"
        case (_, .sourceDeleted), (_, .pullNotAllowed): "empty"
        default: decision.action.verb
        }
    }

    /// The audit line of a pull's successful patch.
    private static func pullMessage(_ decision: Decision) -> String {
        switch pullAuditAction(decision) {
        case "release": "pulled copy let go (\(decision.reason))"
        case "adopt": "object taken over by force-adopt (\(decision.reason))"
        case "fill": "pulled copy filled (\(decision.reason))"
        case "empty": "pulled copy emptied (\(decision.reason))"
        default: "pulled copy updated (\(decision.reason))"
        }
    }
}

extension Engine {
    /// The JSON patch that writes `copy` over the object observed at `precondition`: its labels,
    /// annotations and content (never its type: a type change is a recreate).
    static func pullPatch(_ copy: Replica, _ precondition: Precondition) -> [JSONValue] {
        var operations = metadataPatch(labels: copy.labels, annotations: copy.annotations, precondition)
        for (field, value) in ObjectCoding.content(of: copy.payload, kind: copy.key.kind) where field != "type" {
            operations.append(["op": "add", "path": .string("/\(field)"), "value": value])
        }
        if copy.key.kind == .configMap && copy.payload.binaryData.isEmpty {
            operations.append(["op": "add", "path": "/binaryData", "value": [:]])
        }
        return operations
    }

    /// `spillwayd uninstall --delete-replicas` on a pulled copy: reads it, then empties it and
    /// lets it go as the planner says (conditioned on what was read; a typed or immutable copy
    /// is deleted and created again, empty). Returns the failure, or nil.
    static func emptyPulledCopy(client: KubeClient, key: ObjectKey) async -> String? {
        let resource = ObjectCoding.resource(key.kind)
        do throws(KubeClientError) {
            let object = try await client.get(resource, namespace: key.namespace, name: key.name)
            guard let meta = ObjectMeta(object: object), Vocabulary.isPulledCopy(labels: meta.labels) else { return nil }
            let target = PullTarget(key: key, object: ObjectCoding.observed(meta, content: ObjectCoding.payload(kind: key.kind, object: object).digest))
            let decision = Planner().emptied(target, cause: .replicationStopped, reason: "spillwayd uninstall")
            switch decision.action {
            case .update(let emptied, let precondition):
                _ = try await client.patch(resource, namespace: key.namespace, name: key.name, patch: .json(pullPatch(emptied, precondition)))
            case .recreate(let emptied, let precondition):
                _ = try await client.delete(resource, namespace: key.namespace, name: key.name,
                                            options: DeleteOptions(preconditionUID: precondition.uid,
                                                                   preconditionResourceVersion: precondition.resourceVersion))
                _ = try await client.create(resource, namespace: key.namespace, object: ObjectCoding.body(of: emptied))
            default:
                break
            }
            return nil
        } catch where error.status?.isNotFound == true {
            return nil
        } catch {
            return "\(error)"
        }
    }
}
