import FoundationEssentials
import KubeClient
import KubeWire
import Logging
import SpillwayContract

/// What `spillwayd uninstall` did.
public struct UninstallReport: Sendable, Equatable {
    /// Sources whose spillway finalizer (or the original spillway's) was removed.
    public var finalizersRemoved: [ObjectKey] = []
    /// SpillwayProfiles whose finalizer was removed.
    public var profileFinalizersRemoved: [NamespacedName] = []
    /// Replicas deleted (only with `deleteReplicas`).
    public var replicasDeleted: [ObjectKey] = []
    /// Pulled copies emptied and let go (only with `deleteReplicas`): they are their
    /// namespaces' own objects, so they stay, without the data spillway put there.
    public var pulledCopiesEmptied: [ObjectKey] = []
    /// What could not be done, one line each; empty when everything was.
    public var failures: [String] = []
    /// The target cluster this report is about; nil for the watched cluster.
    public var cluster: String?

    public init() {}

    public var lines: [String] {
        let place = cluster.map { " in cluster \($0)" } ?? ""
        return finalizersRemoved.map { "finalizer removed  \($0)" }
            + profileFinalizersRemoved.map { "finalizer removed  \(Vocabulary.profileKind)/\($0)" }
            + replicasDeleted.map { "replica deleted    \($0)\(place)" }
            + pulledCopiesEmptied.map { "pulled copy emptied \($0)" }
            + failures.map { "failed             \($0)" }
    }
}

extension Engine {
    /// Removes spillway from a cluster so that nothing is stranded: with `deleteReplicas`,
    /// every managed replica is deleted first (uid precondition: an object that was replaced
    /// meanwhile is left alone) and every pulled copy emptied and let go (it is its namespace's
    /// own object: it stays, without spillway's data and markers), then the finalizer is removed from every object holding it,
    /// the original spillway's `spillway.kroy.io/finalizer` too (a merge patch conditioned on
    /// the resourceVersion, retried on conflict), SpillwayProfiles included when the CRD is
    /// served (their replicas are managed replicas like any other). Run it after
    /// stopping the daemon, or the daemon adds its finalizers back. Callable from any task
    /// while the client's reactor runs.
    public static func uninstall(client: KubeClient, deleteReplicas: Bool,
                                 logger: Logger = Logger(label: "spillway.uninstall")) async -> UninstallReport {
        var report = UninstallReport()
        let managed = Vocabulary.managedByLabel + "=" + Vocabulary.managedByValue
        for kind in Kind.allCases {
            let resource = ObjectCoding.resource(kind)
            if deleteReplicas {
                do throws(KubeClientError) {
                    let replicas = try await client.list(resource, namespace: nil,
                                                         options: ListOptions(selectors: Selectors(label: managed), metadataOnly: true))
                    // A replica carrying a source-cluster is a management host's, written into
                    // this cluster from another one: never this cluster's spillway's to delete.
                    for item in replicas.items {
                        guard let meta = ObjectMeta(object: item), meta.annotations[Vocabulary.sourceCluster] == nil else { continue }
                        let key = ObjectCoding.key(kind: kind, meta)
                        if Vocabulary.isPulledCopy(labels: meta.labels) {
                            if let failure = await emptyPulledCopy(client: client, key: key) {
                                report.failures.append("empty \(key): \(failure)")
                            } else {
                                report.pulledCopiesEmptied.append(key)
                                logger.info("pulled copy emptied", metadata: ["kind": "\(kind)", "target_namespace": "\(key.namespace)",
                                                                            "action": "uninstall-empty", "name": "\(key.name)"])
                            }
                            continue
                        }
                        do throws(KubeClientError) {
                            _ = try await client.delete(resource, namespace: meta.namespace, name: meta.name,
                                                        options: DeleteOptions(preconditionUID: meta.uid))
                            report.replicasDeleted.append(key)
                            logger.info("replica deleted", metadata: ["kind": "\(kind)", "target_namespace": "\(key.namespace)",
                                                                      "action": "uninstall-delete", "name": "\(key.name)"])
                        } catch where error.status?.isNotFound == true {
                            continue
                        } catch {
                            report.failures.append("delete \(key): \(error)")
                        }
                    }
                } catch {
                    report.failures.append("list \(resource) replicas: \(error)")
                }
            }
            do throws(KubeClientError) {
                let objects = try await client.list(resource, namespace: nil, options: ListOptions(metadataOnly: true))
                for item in objects.items {
                    guard let meta = ObjectMeta(object: item), Vocabulary.holdsFinalizer(meta.finalizers) else { continue }
                    let key = ObjectCoding.key(kind: kind, meta)
                    if let failure = await removeFinalizer(client: client, resource: resource, meta: meta) {
                        report.failures.append("remove finalizer from \(key): \(failure)")
                    } else {
                        report.finalizersRemoved.append(key)
                        logger.info("finalizer removed", metadata: ["source": "\(key.namespace)/\(key.name)", "kind": "\(kind)",
                                                                    "action": "uninstall-finalizer"])
                    }
                }
            } catch {
                report.failures.append("list \(resource): \(error)")
            }
        }
        await removeProfileFinalizers(client: client, logger: logger, into: &report)
        return report
    }

    /// Releases every SpillwayProfile (at the first version served; none when the CRD is not
    /// installed).
    private static func removeProfileFinalizers(client: KubeClient, logger: Logger, into report: inout UninstallReport) async {
        for version in Vocabulary.profileVersions {
            let resource = Resource.spillwayProfiles(version)
            let profiles: [JSONValue]
            do throws(KubeClientError) {
                profiles = try await client.list(resource, namespace: nil, options: ListOptions(metadataOnly: true)).items
            } catch where error.status?.isNotFound == true {
                continue
            } catch {
                report.failures.append("list \(resource): \(error)")
                return
            }
            for item in profiles {
                guard let meta = ObjectMeta(object: item), Vocabulary.holdsFinalizer(meta.finalizers) else { continue }
                let key = NamespacedName(namespace: meta.namespace ?? "", name: meta.name)
                if let failure = await removeFinalizer(client: client, resource: resource, meta: meta) {
                    report.failures.append("remove finalizer from \(Vocabulary.profileKind) \(key): \(failure)")
                } else {
                    report.profileFinalizersRemoved.append(key)
                    logger.info("finalizer removed", metadata: ["profile": "\(key)", "kind": "\(Vocabulary.profileKind)",
                                                                "action": "uninstall-finalizer"])
                }
            }
            return
        }
    }

    /// Removes the finalizer with a conditional merge patch; on a conflict, reads the object
    /// again and retries (a few times). Returns the failure, or nil.
    private static func removeFinalizer(client: KubeClient, resource: Resource, meta: ObjectMeta) async -> String? {
        var meta = meta
        for _ in 0..<5 {
            guard Vocabulary.holdsFinalizer(meta.finalizers) else { return nil }
            let patch: JSONValue = ["metadata": [
                "resourceVersion": .string(meta.resourceVersion),
                "finalizers": .array(meta.finalizers.filter { $0 != Vocabulary.finalizer && $0 != Vocabulary.legacyFinalizer }
                    .map { .string($0) }),
            ]]
            do throws(KubeClientError) {
                _ = try await client.patch(resource, namespace: meta.namespace, name: meta.name, patch: .merge(patch))
                return nil
            } catch where error.status?.isNotFound == true {
                return nil
            } catch where error.status?.isConflict == true {
                do throws(KubeClientError) {
                    guard let fresh = ObjectMeta(object: try await client.get(resource, namespace: meta.namespace, name: meta.name,
                                                                              metadataOnly: true))
                    else { return "the object has no metadata" }
                    meta = fresh
                } catch where error.status?.isNotFound == true {
                    return nil
                } catch {
                    return "\(error)"
                }
            } catch {
                return "\(error)"
            }
        }
        return "the object kept changing; try again"
    }
}
