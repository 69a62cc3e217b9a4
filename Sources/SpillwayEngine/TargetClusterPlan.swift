import FoundationEssentials
import KubeClient
import KubeWire
import Logging
import SpillwayContract

/// `spillwayd plan` and `spillwayd uninstall` in the target clusters (`--target-contexts`): the
/// watched cluster's sources and SpillwayProfiles planned against each target cluster's own
/// namespaces and objects by that cluster's planner, and the replicas this watched cluster wrote
/// there deleted — only those: they carry its `source-cluster` and spillway's managed-by label.
extension ClusterSnapshot {
    /// The plans of the watched cluster's sources and profiles (this snapshot) in the target
    /// cluster `target` (a snapshot of it), as `planner` (placed in that cluster) makes them,
    /// including those of gone sources and profiles that still have replicas there. Only plans
    /// with something to say are reported; with `namespaces`, only decisions in those are kept.
    public func targetReports(in target: ClusterSnapshot, cluster: String, planner: Planner, now: Date,
                              namespaces filter: Set<String>? = nil) -> [PlanReport] {
        let sourceCluster = planner.placement.sourceCluster
        // Everything of a name there: replicas (anyone's), and that cluster's own objects.
        let byName = target.objectsByName
        // The replicas this watched cluster's sources and profiles have there.
        var sourceKeys = Set(sources.keys)
        var owned: [NamespacedName: Set<ObjectKey>] = [:]
        for (key, object) in target.others where object.isManaged && object.annotations[Vocabulary.sourceCluster] == sourceCluster {
            if let ref = object.annotations[Vocabulary.profileRef] {
                guard let profile = ProfileObject.key(ref: ref) else { continue }
                owned[profile, default: []].insert(ObjectKey(kind: key.kind, namespace: profile.namespace ?? "", name: key.name))
            } else if let from = object.sourceFrom {
                sourceKeys.insert(from)
            }
        }
        let namespaceList = Array(target.namespaces.values)
        var reports: [PlanReport] = sourceKeys.sorted().compactMap { key in
            var plan = planner.plan(key: key, source: sources[key], namespaces: namespaceList,
                                    observedByNamespace: byName[NameKey(key)] ?? [:], now: now)
            if let filter { plan.decisions = plan.decisions.filter { filter.contains($0.namespace) } }
            guard !plan.decisions.isEmpty || !plan.events.isEmpty else { return nil }
            var report = PlanReport(plan)
            report.cluster = cluster
            return report
        }
        for key in Set(profiles.keys).union(owned.keys).sorted() {
            var profile = profiles[key]
            // The watched cluster's plan adds the finalizer first; the dry run shows what follows.
            if var live = profile, !live.isTerminating, !live.hasFinalizer {
                live.finalizers.append(Vocabulary.finalizer)
                profile = live
            }
            let mine = owned[key] ?? []
            var plan = planProfile(key, profile, owned: mine, objects: byName, namespaces: namespaceList, planner: planner, now: now,
                                   filter: filter)
            plan.plans = plan.plans.filter { !$0.decisions.isEmpty }
            reports += PlanReport.reports(plan, listed: profile?.sourceKeys ?? Array(mine)).map { report in
                var report = report
                report.cluster = cluster
                return report
            }
        }
        return reports
    }
}

extension Engine {
    /// `spillwayd plan` in one target cluster: reads its namespaces, the managed replicas there
    /// (with their content) and its objects named like a source of `watched` (metadata only),
    /// and plans `watched`'s sources and profiles there. Writes nothing.
    ///
    /// - Parameters:
    ///   - options: the contract as it applies in that cluster (its protected namespaces and
    ///     consent rule).
    ///   - sourceCluster: the watched cluster's name (`--cluster-name`, else its `kube-system`
    ///     namespace's uid).
    public static func planTargetCluster(_ cluster: String, client: KubeClient, watched: ClusterSnapshot,
                                         options: SpillwayContract.Options, sourceCluster: String,
                                         namespaces filter: Set<String>? = nil,
                                         now: Date = Date()) async throws(KubeClientError) -> [PlanReport] {
        var target = ClusterSnapshot()
        for namespace in try await client.list(.namespaces, namespace: nil).items { target.addNamespace(namespace) }
        let managed = Vocabulary.managedByLabel + "=" + Vocabulary.managedByValue
        let notManaged = Vocabulary.managedByLabel + "!=" + Vocabulary.managedByValue
        let names = Set(watched.sources.keys.map(NameKey.init) + watched.profiles.values.flatMap(\.sourceKeys).map(NameKey.init))
        for kind in Kind.allCases {
            let resource = ObjectCoding.resource(kind)
            for replica in try await client.list(resource, namespace: nil, options: ListOptions(selectors: Selectors(label: managed))).items {
                target.add(replica, kind: kind)
            }
            for item in try await client.list(resource, namespace: nil,
                                              options: ListOptions(selectors: Selectors(label: notManaged), metadataOnly: true)).items {
                guard let meta = ObjectMeta(object: item), names.contains(NameKey(kind: kind, name: meta.name)) else { continue }
                target.add(["metadata": metadataJSON(meta)], kind: kind)
            }
        }
        let planner = Planner(options: options, placement: Placement(cluster: cluster, sourceCluster: sourceCluster))
        return watched.targetReports(in: target, cluster: cluster, planner: planner, now: now, namespaces: filter)
    }

    /// `spillwayd uninstall --delete-replicas` in one target cluster: deletes the replicas the
    /// watched cluster `sourceCluster` wrote there — managed by spillway and carrying that
    /// `source-cluster` — and nothing else (that cluster's own replicas, another management
    /// host's, pulled copies), each conditioned on its uid.
    public static func uninstallTargetCluster(_ cluster: String, client: KubeClient, sourceCluster: String,
                                              logger: Logger = Logger(label: "spillway.uninstall")) async -> UninstallReport {
        var report = UninstallReport()
        report.cluster = cluster
        let managed = Vocabulary.managedByLabel + "=" + Vocabulary.managedByValue
        for kind in Kind.allCases {
            let resource = ObjectCoding.resource(kind)
            let items: [JSONValue]
            do throws(KubeClientError) {
                items = try await client.list(resource, namespace: nil, options: ListOptions(selectors: Selectors(label: managed), metadataOnly: true)).items
            } catch {
                report.failures.append("list \(resource) replicas in cluster \(cluster): \(error)")
                continue
            }
            for item in items {
                guard let meta = ObjectMeta(object: item), Vocabulary.isManaged(labels: meta.labels),
                      meta.annotations[Vocabulary.sourceCluster] == sourceCluster, !Vocabulary.isPulledCopy(labels: meta.labels)
                else { continue }
                let key = ObjectCoding.key(kind: kind, meta)
                do throws(KubeClientError) {
                    _ = try await client.delete(resource, namespace: meta.namespace, name: meta.name, options: DeleteOptions(preconditionUID: meta.uid))
                    report.replicasDeleted.append(key)
                    logger.info("replica deleted", metadata: ["kind": "\(kind)", "target_namespace": "\(key.namespace)", "name": "\(key.name)",
                                                              "action": "uninstall-delete", "cluster": "\(cluster)"])
                } catch where error.status?.isNotFound == true {
                    continue
                } catch {
                    report.failures.append("delete \(key) in cluster \(cluster): \(error)")
                }
            }
        }
        return report
    }
}
