import FoundationEssentials
import KubeClient
import KubeWire
import Logging
import SpillwayContract
import SpillwayLoop

/// Target clusters: sources of the watched cluster replicated into namespaces of other clusters
/// (`replicate-to-clusters`), on the same reactor, through the same queue.
///
/// Each target cluster has its own client, informers (its namespaces; the managed replicas in
/// it), cache (an ``ObservedState``), planner (its own protected namespaces and consent rule)
/// and write lanes. Its work is ``WorkKey/remote(_:cluster:)``: one key per source and cluster,
/// so the queue, the per-key backoff, the lanes' fairness and what is remembered between
/// reconciles come with it, and a cluster that is down or slow holds up its own keys only.
/// A cluster that is away parks its work (no backoff builds up); the moment it answers again,
/// all of its work is queued.
extension Engine {
    // MARK: - The watched cluster's name

    /// Without `--cluster-name`, the watched cluster is named by the uid of its `kube-system`
    /// namespace: the same for every management host that watches it, and never reused.
    func noteClusterIdentity(_ event: InformerEvent) {
        guard options.clusterName == nil, clusterName == nil else { return }
        switch event {
        case .listed(let object), .added(let object), .modified(let object):
            guard object.metadata.name == "kube-system", !object.metadata.uid.isEmpty else { return }
            clusterName = object.metadata.uid
            local.planner.placement.sourceCluster = object.metadata.uid
            if !clusters.isEmpty {
                logger.info("the watched cluster is named by its kube-system namespace's uid (set --cluster-name for a readable name)",
                            metadata: ["cluster_name": "\(object.metadata.uid)"])
            }
            if isSynced { startClusters() }
        default:
            return
        }
    }

    // MARK: - Starting and stopping

    /// Starts every target cluster's informers, once the watched cluster is synced (a replica's
    /// owner there is read from the watched cluster's name).
    func startClusters() {
        guard !clusters.isEmpty, !stopping else { return }
        guard let name = clusterName else {
            logger.error("""
                target clusters are not written to: the watched cluster has no name (no kube-system namespace to \
                take its uid from); set --cluster-name
                """)
            return
        }
        for cluster in clusters.values.sorted(by: { $0.name < $1.name }) where !cluster.started {
            start(cluster, sourceCluster: name)
        }
    }

    private func start(_ cluster: TargetCluster, sourceCluster: String) {
        cluster.started = true
        cluster.link.planner.placement.sourceCluster = sourceCluster
        // The cluster's health is what its own traffic says (ServerContact): its watches and writes.
        let previous = cluster.client.onContactChange
        cluster.client.onContactChange = { [weak self, name = cluster.name] contact in
            previous?(contact)
            self?.cluster(name, problem: contact.problem)
        }
        let managed = Vocabulary.managedByLabel + "=" + Vocabulary.managedByValue
        // The informers' handlers hold the cluster unowned: the cluster holds its informers.
        addClusterInformer(cluster, "namespaces", Informer.Options(resource: .namespaces)) { [unowned cluster] in
            cluster.state.applyNamespace($0)
        }
        for kind in Kind.allCases {
            let resource = ObjectCoding.resource(kind)
            let replicas = addClusterInformer(cluster, "\(resource) replicas",
                                              Informer.Options(resource: resource, selectors: Selectors(label: managed))) {
                [unowned self, unowned cluster] event in
                var triggers = cluster.state.applyReplica(kind, event)
                triggers.formUnion(self.sameNameTriggers(kind, event, in: cluster, sourceCluster: sourceCluster))
                return triggers
            }
            replicas.wantsBody = { [unowned cluster] in cluster.state.wantsReplicaBody(kind, $0) }
        }
        logger.info("starting target cluster", metadata: ["cluster": "\(cluster.name)", "server": "\(cluster.client.configuration.server)"])
        cluster.informers.forEach { $0.start() }
    }

    @discardableResult
    private func addClusterInformer(_ cluster: TargetCluster, _ name: String, _ informerOptions: Informer.Options,
                                    _ apply: @escaping (InformerEvent) -> Triggers) -> Informer {
        cluster.unsynced.insert(name)
        let informer = Informer(client: cluster.client, options: informerOptions) { [unowned self, unowned cluster] event in
            guard !self.stopping else { return }
            self.trigger(apply(event), cluster: cluster.name)
            if case .replaceEnd = event, cluster.unsynced.remove(name) != nil, cluster.unsynced.isEmpty {
                self.clusterSynced(cluster)
            }
        }
        cluster.informers.append(informer)
        return informer
    }

    /// A managed object of someone else's in a target cluster changed or went: our sources of
    /// its name may now find the namespace taken, or free (the existing owner is gone: take over).
    private func sameNameTriggers(_ kind: Kind, _ event: InformerEvent, in cluster: TargetCluster, sourceCluster: String) -> Triggers {
        let object: KubeObject
        let gone: Bool
        switch event {
        case .added(let o), .modified(let o): (object, gone) = (o, false)
        case .deleted(let o): (object, gone) = (o, true)
        default: return .none
        }
        let key = ObjectCoding.key(kind: kind, object.metadata)
        let observed = ObjectCoding.observed(object.metadata, content: nil)
        guard gone || WorkKey.owner(of: observed, inCluster: cluster.name, sourceCluster: sourceCluster) == nil else { return .none }
        var triggers = Triggers.none
        for source in state.sourceKeys(named: key) {
            triggers.insert(.remote(source, cluster: cluster.name), in: key.namespace)
        }
        for profile in profiles.profiles(naming: NameKey(key)) {
            triggers.insert(.remoteProfile(profile, cluster: cluster.name))
        }
        return triggers
    }

    func stopClusters() {
        for cluster in clusters.values {
            cluster.informers.forEach { $0.stop() }
            cluster.link.lanes.dropWaiting()
            cluster.client.onContactChange = nil
        }
    }

    private func clusterSynced(_ cluster: TargetCluster) {
        cluster.everSynced = true
        logger.info("target cluster synced", metadata: [
            "cluster": "\(cluster.name)", "namespaces": "\(cluster.state.namespaces.count)", "replicas": "\(cluster.state.replicas.count)",
        ])
        clusterBecameReady(cluster)
    }

    /// Synced, or answering again: every source is planned there at once (backoffs forgotten,
    /// so a long outage does not delay the catch-up), and its orphans are looked for.
    private func clusterBecameReady(_ cluster: TargetCluster) {
        publishStatus()
        guard cluster.isReady, !stopping else { return }
        let now = reactor.now
        for key in workKeys(in: cluster.name) {
            queue.forget(key)
            queue.add(key, now: now)
        }
        if isSynced && isLeader { auditOrphans(in: cluster) }
        schedulePump()
    }

    // MARK: - Health

    /// Told by a target cluster's client what its traffic says: nil when the cluster can be worked
    /// with, else why not (unreachable, credentials rejected, reads refused).
    func cluster(_ name: String, problem: String?) {
        guard let cluster = clusters[name], !stopping else { return }
        let answered = problem == nil
        cluster.problem = problem
        guard answered != cluster.isReachable else {
            publishStatus()
            return
        }
        cluster.isReachable = answered
        // Profile statuses say which of their clusters cannot be reached.
        if !profiles.profiles.isEmpty { refreshProfileStatuses() }
        if answered {
            let down = cluster.unreachableSince.map { " after \(Int(options.wallClock.now.timeIntervalSince($0).rounded())) s" } ?? ""
            cluster.unreachableSince = nil
            logger.info("target cluster reachable again\(down)", metadata: ["cluster": "\(name)"])
            clusterBecameReady(cluster)
        } else {
            cluster.unreachableSince = options.wallClock.now
            logger.warning("target cluster cannot be worked with: its work waits until it answers; the other clusters go on",
                           metadata: ["cluster": "\(name)", "server": "\(cluster.client.configuration.server)",
                                      "error": "\(problem ?? "")"])
            publishStatus()
        }
    }

    /// Each target cluster's health, by name.
    var clusterHealth: [ClusterHealth] {
        let sources = state.sourceKeys
        return clusters.values.sorted { $0.name < $1.name }.map { cluster in
            let replicas = sources.reduce(0) { $0 + cluster.state.replicaKeys(ownedBy: .remote($1, cluster: cluster.name)).count }
                + profiles.profiles.keys.reduce(0) { $0 + cluster.state.replicaKeys(ownedBy: .remoteProfile($1, cluster: cluster.name)).count }
            return cluster.health(replicas: replicas)
        }
    }

    // MARK: - Reconciling a source into a target cluster

    /// Plans and writes one source's replicas in one target cluster. A cluster that is away or
    /// not synced yet parks the work: it is queued again, whole, the moment the cluster is back.
    func reconcileRemote(_ key: ObjectKey, cluster name: String, queuedAt: MonotonicInstant, namespaces: Set<String>?) {
        let work = WorkKey.remote(key, cluster: name)
        guard let cluster = clusters[name], cluster.isReady else {
            reconcileDone(work)
            return
        }
        if namespaces == nil, isSettled(work) {
            reconcileDone(work)
            return
        }
        prepare(Reconciliation(work, key: key, queuedAt: queuedAt, started: reactor.now, scope: namespaces))
    }

    /// The generation of everything a plan into `link` reads: the watched cluster's cache, and a
    /// target cluster's own (both only grow, so their sum changes whenever either does).
    func generation(of link: ClusterLink) -> Int {
        link.isLocal ? state.generation : state.generation &+ link.state.generation
    }

    /// Queues the source's work in every target cluster.
    func queueRemoteWork(of key: ObjectKey) {
        queueRemoteWork(of: .source(key))
    }

    /// Queues the work of a source or profile of the watched cluster in every target cluster.
    func queueRemoteWork(of work: WorkKey) {
        guard !clusters.isEmpty else { return }
        let now = reactor.now
        for name in clusters.keys {
            if let remote = work.inCluster(name) { queue.add(remote, now: now) }
        }
        schedulePump()
    }

    /// After a target cluster's reconcile: a source or profile whose finalizer waits for this
    /// cluster may be released now.
    func remoteFinished(_ work: WorkKey) {
        guard let owner = work.inWatchedCluster, cleanupWaits[owner] != nil,
              link(for: work).state.replicaKeys(ownedBy: work).isEmpty else { return }
        queue.add(owner, now: reactor.now)
        schedulePump()
    }

    /// Whether the source's finalizer must stay for now (``holdsFinalizerForClusters(_:named:events:recordAbandoned:)``).
    func holdsFinalizerForClusters(_ r: Reconciliation) -> Bool {
        let key = r.key
        let named = state.sources[key].flatMap { try? ReplicationSpec.parse($0.meta.annotations) }?.clusters
        return holdsFinalizerForClusters(.source(key), named: named, events: &r.plan.events) { [self] cluster, message in
            audit("cleanup-abandoned", key, namespace: nil, message, level: .warning, cluster: cluster)
        }
    }

    /// Whether the finalizer of `owner` (a source, or a profile) must stay for now: its replicas
    /// in a target cluster are not gone yet (or, in a cluster never reached since start that it
    /// names in `named`, not known to be). The wait is bounded by `options.targetCleanupTimeout`:
    /// then it is released anyway and what was left is recorded (`recordAbandoned`'s log line, a
    /// Warning Event in `events`, `spillway_cluster_cleanup_abandoned_total`); the orphan audit
    /// removes it once the cluster is back.
    func holdsFinalizerForClusters(_ owner: WorkKey, named: [ClusterPattern]?, events: inout [EventIntent],
                                   recordAbandoned: (_ cluster: String, _ message: String) -> Void) -> Bool {
        guard !clusters.isEmpty else { return false }
        var pending: [(cluster: TargetCluster, left: [String]?)] = []
        for cluster in clusters.values.sorted(by: { $0.name < $1.name }) {
            guard let work = owner.inCluster(cluster.name) else { continue }
            if cluster.everSynced {
                let left = cluster.state.replicaKeys(ownedBy: work)
                if !left.isEmpty { pending.append((cluster, left.map(\.namespace).sorted())) }
            } else if Placement(cluster: cluster.name).isSelected(by: named) {
                pending.append((cluster, nil))
            }
        }
        guard !pending.isEmpty else {
            cleanupWaits[owner] = nil
            return false
        }
        let now = reactor.now
        let since = cleanupWaits[owner] ?? now
        cleanupWaits[owner] = since
        let timeout = options.targetCleanupTimeout
        let waited = since.duration(to: now)
        if waited >= timeout {
            cleanupWaits[owner] = nil
            for (cluster, left) in pending {
                metrics.clusterCleanupAbandoned(cluster.name)
                let what = left.map { "replicas left in \($0.joined(separator: ", "))" } ?? "it was never reached, so what it holds is not known"
                let message = "finalizer released after waiting \(GoDuration.format(timeout)) for cluster \(cluster.name): \(what); "
                    + "the orphan audit deletes them once the cluster is back"
                recordAbandoned(cluster.name, message)
                events.append(EventIntent(type: .warning, reason: Vocabulary.reasonFailed, message: message))
            }
            return false
        }
        let away = pending.filter { !$0.cluster.isReady }.map(\.cluster)
        if !away.isEmpty {
            let names = away.map { "\($0.name) (\($0.isReachable ? "not synced" : "unreachable"))" }.joined(separator: ", ")
            events.append(EventIntent(
                type: .warning, reason: Vocabulary.reasonSkipped,
                message: "finalizer kept: replicas in cluster \(names) must be deleted first; waiting at most "
                    + "\(GoDuration.format(timeout)) (--target-cleanup-timeout)"))
        }
        for (cluster, _) in pending {
            if let work = owner.inCluster(cluster.name) { queue.add(work, now: now) }
        }
        // Looked at again when a cluster's reconcile leaves none there (remoteFinished), every
        // 2 s while one is away, and when the wait runs out.
        queue.add(owner, after: min(timeout - waited, .seconds(2)), now: now)
        return true
    }

    // MARK: - Orphans and blockers

    /// Our replicas in `cluster` whose source is gone or no longer targets them there.
    func auditOrphans(in cluster: TargetCluster) {
        guard cluster.isReady, !stopping else { return }
        let sources = state.sourceKeys.compactMap { state.source($0) }
        let orphans = cluster.link.planner.auditOrphans(replicas: cluster.state.replicas, sources: sources,
                                                        namespaces: cluster.state.namespaceList, now: options.wallClock.now)
        let now = reactor.now
        for orphan in orphans {
            audit("orphan", orphan.source, namespace: orphan.replica.namespace, "orphaned replica found: \(orphan.reason)",
                  cluster: cluster.name)
            queue.add(.remote(orphan.source, cluster: cluster.name), now: now)
        }
        if !orphans.isEmpty { schedulePump() }
        auditProfileOrphans(in: cluster)
    }

    /// A target cluster is not watched for the unmanaged objects a create ran into (that would
    /// mean watching every Secret there): they are forgotten at each self-heal pass, so the next
    /// plan finds out again (a create, answered 409 and a GET) whether they are still there.
    func forgetClusterBlockers() {
        for cluster in clusters.values {
            for key in cluster.state.blockers.keys { cluster.state.refreshBlocker(key, nil) }
            for key in cluster.state.sources.keys { cluster.state.forgetSource(key) }
        }
    }
}
