import FoundationEssentials
import KubeClient
import Logging
import SpillwayContract
import SpillwayLoop

/// The replication engine: informers → observed state → work queue → planner → fair writes.
///
/// Everything runs on the reactor thread: construct it, call every method and read every
/// property there. The informers start at ``start()`` and stay warm; reconciles (and so
/// writes) run only once every cache has synced and while ``setLeader(_:)`` says this process
/// leads. Level-triggered: a reconcile re-reads the caches and never trusts the event that
/// queued it.
public final class Engine {
    /// The figures of the STATUS line and of `/readyz`.
    public struct Status: Sendable, Equatable {
        /// Objects that are sources by the contract.
        public var sources: Int
        /// Managed replicas observed.
        public var replicas: Int
        /// Targets held by an unmanaged object or another source's replica.
        public var conflicts: Int
        /// The latest failure, for an operator; cleared by a later success of the same source.
        public var lastError: String?
        /// Keys waiting in the queue (ready or backing off).
        public var queueDepth: Int
        /// Each target cluster's health, by name (empty without target clusters).
        public var clusters: [ClusterHealth] = []
    }

    /// What the caches hold: what memory grows with.
    public struct CacheCounts: Sendable, Equatable {
        public var namespaces: Int
        /// Kept sources (and former sources still holding the finalizer).
        public var sources: Int
        /// Sources whose content is held.
        public var payloads: Int
        public var replicas: Int
        /// Unmanaged same-name objects a create ran into.
        public var blockers: Int
        /// Objects that pull (asking, or pulled copies).
        public var pulls: Int
        /// SpillwayProfiles.
        public var profiles: Int
        /// Sources SpillwayProfiles list, and those whose content is held.
        public var profileSources: Int
        public var profilePayloads: Int
    }

    /// The loop everything runs on (the daemon's reactor).
    let reactor: any EventLoop
    let client: KubeClient
    let options: EngineOptions
    let logger: Logger
    let metrics: EngineMetrics
    /// The watched cluster's planner.
    var planner: Planner { local.planner }
    let state = ObservedState()
    /// SpillwayProfiles and the sources they list (ProfileState.swift).
    let profiles = ProfileState()
    var queue: WorkQueue<WorkKey>
    let lanes: WriteLanes<WorkKey>
    /// Keys the queue handed out whose cluster has `maxReconcilesInFlight` reconciles in
    /// progress wait here (ReconcileAdmission.swift).
    private var admission: ReconcileAdmission<QueuedWork, String?>
    /// The watched cluster as a reconcile writes into it.
    private(set) var local: ClusterLink!
    /// The target clusters (`--target-contexts`), by context name.
    private(set) var clusters: [String: TargetCluster] = [:]
    /// The watched cluster's name: `options.clusterName`, else the uid of its `kube-system`
    /// namespace once the namespaces are listed (nil until then, or without one).
    var clusterName: String?
    /// Sources (``WorkKey/source(_:)``) and profiles (``WorkKey/profile(_:)``) whose finalizer
    /// waits for their replicas in target clusters to go, since when.
    var cleanupWaits: [WorkKey: MonotonicInstant] = [:]
    var eventMemory = OutcomeMemory<EventIntent>()
    var skipMemory = OutcomeMemory<SkipOutcome>()
    /// Per pull, why it got nothing last time (its refusal is counted once).
    var refusalMemory = OutcomeMemory<PullRefusal>()
    /// Per key, the namespaces where an unmanaged object or another owner's replica holds its
    /// target.
    var conflictsByKey: [WorkKey: Set<String>] = [:]
    /// Per key, the state generation of its last plan that found everything in place; a whole
    /// reconcile at the same generation would plan the same and is skipped.
    var settledAt: [WorkKey: Int] = [:]
    var failureByKey: [WorkKey: String] = [:]
    var lastError: String?
    var eventSequence = 0
    /// Posts the Events, retrying a few times (they are best-effort and never hold a reconcile).
    let events: EventPoster
    /// In [0, 1): jitter of the backoff.
    var random: () -> Double = { Double.random(in: 0..<1) }

    var informers: [Informer] = []
    private var unsynced: Set<String> = []
    private var running = false
    var stopping = false
    public private(set) var isLeader = false
    private var auditedSinceLeading = false
    private var timers: [LoopTimer] = []
    private var queueTimer: (source: LoopTimer, deadline: MonotonicInstant)?
    private var pumpScheduled = false
    private var stopCompletion: (() -> Void)?
    private var lastStatus: Status?
    private var statusScheduled = false

    /// Called once, on the reactor thread, when every informer has delivered its first list.
    public var onSynced: (() -> Void)?
    /// Called on the reactor thread whenever ``status`` changes.
    public var onStatusChange: ((Status) -> Void)?
    /// Called on the reactor thread when a burst of work is over: the initial lists read, or
    /// 1,000 reconciles and writes, and then 2 s without either nor a request outstanding
    /// (``BurstEnd``). The daemon hands the memory the burst freed back to the system then.
    public var onBurstEnd: (() -> Void)?
    private var burstEnd = BurstEnd()

    /// A new engine; nothing happens until ``start()``. Call on the reactor thread.
    ///
    /// - Parameter targets: the target clusters it may write replicas into besides the watched
    ///   one (sources name them in `replicate-to-clusters`); each with a client on `reactor`.
    public init(reactor: any EventLoop, client: KubeClient, options: EngineOptions = EngineOptions(),
                logger: Logger = Logger(label: "spillway.engine"),
                metrics: EngineMetrics = SwiftMetricsEngineMetrics(), targets: [TargetClusterConfiguration] = []) {
        self.reactor = reactor
        self.client = client
        self.options = options
        self.logger = logger
        self.metrics = metrics
        self.queue = WorkQueue(backoff: options.backoff)
        self.admission = ReconcileAdmission(limit: max(1, options.maxReconcilesInFlight)) { $0.key.cluster }
        self.lanes = WriteLanes(limit: max(1, options.maxWritesInFlight))
        self.events = EventPoster(reactor: reactor, client: client, logger: logger, metrics: metrics, policy: options.eventRetry)
        self.clusterName = options.clusterName
        local = ClusterLink(
            name: nil, client: client, state: state,
            planner: Planner(options: options.contract, placement: Placement(sourceCluster: options.clusterName,
                                                                           allowedClusters: Set(targets.map(\.name)))),
            lanes: lanes)
        for target in targets {
            clusters[target.name] = TargetCluster(configuration: target) { [unowned self] in self.clusterName }
        }
    }

    // MARK: - Public surface

    /// True once every informer has delivered its first full list.
    public var isSynced: Bool { running && unsynced.isEmpty }

    public var status: Status {
        Status(sources: state.sourceCount, replicas: state.replicas.count,
               conflicts: conflictsByKey.values.reduce(0) { $0 + $1.count }, lastError: lastError, queueDepth: queueDepth,
               clusters: clusterHealth)
    }

    public var cacheCounts: CacheCounts {
        CacheCounts(namespaces: state.namespaces.count, sources: state.sources.count, payloads: state.payloadCount,
                    replicas: state.replicas.count, blockers: state.blockers.count, pulls: state.pulls.count,
                    profiles: profiles.profiles.count, profileSources: profiles.sourceCount,
                    profilePayloads: profiles.payloadCount)
    }

    /// Starts the informers and the periodic resync, self-heal and orphan-audit timers.
    public func start() {
        guard !running, !stopping else { return }
        running = true
        let managed = Vocabulary.managedByLabel + "=" + Vocabulary.managedByValue
        let notManaged = Vocabulary.managedByLabel + "!=" + Vocabulary.managedByValue
        addInformer("namespaces", Informer.Options(resource: .namespaces)) { [unowned self] in
            self.noteClusterIdentity($0)
            return self.state.applyNamespace($0)
        }
        for kind in Kind.allCases {
            let resource = ObjectCoding.resource(kind)
            addInformer("\(resource) candidates",
                        Informer.Options(resource: resource, selectors: Selectors(label: notManaged), metadataOnly: true)) {
                [unowned self] in self.observeCandidate(kind, $0)
            }
            let replicas = addInformer("\(resource) replicas", Informer.Options(resource: resource, selectors: Selectors(label: managed))) {
                [unowned self] in self.observeReplica(kind, $0)
            }
            replicas.wantsBody = { [unowned self] in self.state.wantsReplicaBody(kind, $0) }
        }
        startProfiles()
        repeating(options.syncPeriod) { [unowned self] in self.periodicPass("resync") }
        repeating(options.selfHealInterval) { [unowned self] in
            self.forgetClusterBlockers()
            self.periodicPass("self-heal")
        }
        repeating(options.orphanAuditInterval) { [unowned self] in self.auditOrphans() }
        informers.forEach { $0.start() }
    }

    /// Lets reconciles run (true) or holds them (false). Informers stay warm either way; a new
    /// leader plans every source once and audits for orphans.
    public func setLeader(_ leader: Bool) {
        guard leader != isLeader else { return }
        isLeader = leader
        logger.info(leader ? "leading: reconciling every source" : "no longer leading: writes paused")
        if leader {
            auditedSinceLeading = false
            enqueueAll("leadership acquired")
            if isSynced { startLeading() }
        }
    }

    /// Stops taking work: informers and timers stop, queued writes are dropped (the next
    /// leader or start reconciles them), writes in flight may finish for up to
    /// `options.stopTimeout`; then `completion` runs, once, on the reactor thread.
    public func stop(completion: @escaping () -> Void) {
        guard !stopping else { return }
        stopping = true
        informers.forEach { $0.stop() }
        stopClusters()
        timers.forEach { reactor.cancel($0) }
        timers.removeAll()
        if let timer = queueTimer { reactor.cancel(timer.source) }
        queueTimer = nil
        lanes.dropWaiting()
        events.stop()
        queue.removeAll()
        admission.removeAll()
        if writesInFlight == 0 {
            completion()
            return
        }
        logger.info("stopping: waiting for \(writesInFlight) write(s) in flight")
        stopCompletion = completion
        do {
            timers.append(try reactor.schedule(after: options.stopTimeout) { [weak self] in
                guard let self, self.stopCompletion != nil else { return }
                self.logger.warning("stopping: \(self.writesInFlight) write(s) still in flight after \(self.options.stopTimeout); not waiting longer")
                self.finishStopping()
            })
        } catch {
            logger.warning("stopping: cannot time the wait for writes in flight (\(error)); not waiting")
            finishStopping()
        }
    }

    // MARK: - Informers and triggers

    @discardableResult
    private func addInformer(_ name: String, _ informerOptions: Informer.Options,
                             _ apply: @escaping (InformerEvent) -> Triggers) -> Informer {
        unsynced.insert(name)
        let informer = Informer(client: client, options: informerOptions) { [unowned self] event in
            guard !self.stopping else { return }
            self.trigger(apply(event))
            guard case .replaceEnd = event else { return }
            if self.unsynced.remove(name) != nil {
                if self.unsynced.isEmpty { self.synced() }
            } else {
                // A relist (after a 410, or an API server that came back without its watch
                // cache) read every object again: a burst like the first lists.
                self.burstListed()
            }
        }
        informers.append(informer)
        return informer
    }

    /// Holds the engine unsynced until ``releaseSync(_:)`` (a watch started later).
    func holdSync(_ name: String) {
        unsynced.insert(name)
    }

    /// Lets the engine count as synced without `name` any more.
    func releaseSync(_ name: String) {
        if unsynced.remove(name) != nil, unsynced.isEmpty, running { synced() }
    }

    private func synced() {
        logger.info("caches synced", metadata: ["sources": "\(state.sourceCount)", "replicas": "\(state.replicas.count)",
                                                "namespaces": "\(state.namespaces.count)"])
        onSynced?()
        burstListed()
        startClusters()
        if isLeader { startLeading() }
        publishStatus()
    }

    private func startLeading() {
        if !auditedSinceLeading {
            auditedSinceLeading = true
            auditOrphans()
        }
        schedulePump()
    }

    /// Queues the work a change of the watched cluster's cache concerns (`cluster` nil), or of
    /// the target cluster `cluster`'s: whole work, work in some namespaces, or all work (of that
    /// cluster only: a namespace there says nothing about any other cluster).
    func trigger(_ triggers: Triggers, cluster: String? = nil) {
        let now = reactor.now
        let clusterKeys = { cluster.map { self.workKeys(in: $0) } ?? self.localWorkKeys }
        if triggers.all {
            for key in clusterKeys() { queue.add(key, now: now) }
        } else if !triggers.namespaces.isEmpty {
            for key in clusterKeys() { queue.add(key, parts: triggers.namespaces, now: now) }
        }
        for key in triggers.keys {
            if let namespaces = triggers.scopes[key] {
                queue.add(key, parts: namespaces, now: now)
            } else {
                queue.add(key, now: now)
                // The source itself changed (or went): what every target cluster holds of it may
                // change too.
                switch key {
                case .source(let source):
                    for name in clusters.keys { queue.add(.remote(source, cluster: name), now: now) }
                case .profile(let profile):
                    for name in clusters.keys { queue.add(.remoteProfile(profile, cluster: name), now: now) }
                case .pull, .remote, .remoteProfile:
                    break
                }
            }
        }
        if triggers.all || !triggers.keys.isEmpty || !triggers.namespaces.isEmpty { schedulePump() }
    }

    /// Every key the engine serves: what a resync, a new leader or a namespace change plans.
    var workKeys: [WorkKey] { localWorkKeys + clusters.keys.flatMap { workKeys(in: $0) } }

    /// The keys that write into the watched cluster: sources, pulls and SpillwayProfiles.
    var localWorkKeys: [WorkKey] { workKeys(in: nil) + state.pulls.keys.map(WorkKey.pull) + profileWorkKeys }

    /// The replication work of one cluster: every source, for the watched cluster (nil) or a
    /// target cluster (there, every profile's too: the watched cluster's profiles are in
    /// ``localWorkKeys``).
    func workKeys(in cluster: String?) -> [WorkKey] {
        guard let cluster else { return state.sourceKeys.map(WorkKey.source) }
        return state.sourceKeys.map { WorkKey.remote($0, cluster: cluster) }
            + profileWorkKeys.compactMap { $0.profile.map { WorkKey.remoteProfile($0, cluster: cluster) } }
    }

    func enqueueAll(_ why: String?) {
        let now = reactor.now
        let keys = workKeys
        for key in keys { queue.add(key, now: now) }
        if let why { logger.debug("\(why): planning every source", metadata: ["keys": "\(keys.count)"]) }
        schedulePump()
    }

    /// A periodic pass (resync, self-heal): queues every key except the settled ones — those
    /// whose last plan found everything in place, with nothing it read changed since, which
    /// would plan that same nothing again (a due TTL expiry is never settled: it is queued for
    /// its time). An engine at rest walks its keys and reconciles none.
    func periodicPass(_ trigger: String) {
        let now = reactor.now
        var planned = 0, total = 0
        for key in workKeys {
            total += 1
            guard !isSettled(key) else { continue }
            queue.add(key, now: now)
            planned += 1
        }
        metrics.resyncPass(trigger: trigger, planned: planned)
        logger.debug("\(trigger): planning what changed", metadata: ["keys": "\(planned) of \(total)"])
        if planned > 0 { schedulePump() }
    }

    /// Finds replicas whose source is gone or no longer targets them and queues their sources;
    /// the reconcile of each deletes exactly those (with preconditions).
    func auditOrphans() {
        guard isSynced, isLeader, !stopping else { return }
        let sources = state.sourceKeys.compactMap { state.source($0) }
        let orphans = planner.auditOrphans(replicas: state.replicas, sources: sources,
                                           namespaces: state.namespaceList, now: options.wallClock.now)
        let now = reactor.now
        for orphan in orphans {
            audit("orphan", orphan.source, namespace: orphan.replica.namespace, "orphaned replica found: \(orphan.reason)")
            queue.add(.source(orphan.source), now: now)
        }
        if !orphans.isEmpty { schedulePump() }
        auditProfileOrphans()
        for cluster in clusters.values { auditOrphans(in: cluster) }
    }

    // MARK: - Queue

    func schedulePump() {
        guard !pumpScheduled, !stopping else { return }
        pumpScheduled = true
        reactor.runSoon { [weak self] in self?.pump() }
    }

    /// Hands ready keys to reconciles, a bounded number per reactor turn so that planning a
    /// large cluster never holds up the watches, and no more in progress per cluster than
    /// ``ReconcileAdmission`` lets through (``reconcileDone(_:)`` pumps again when one ends).
    private func pump() {
        pumpScheduled = false
        guard running, !stopping else { return }
        let now = reactor.now
        queue.promoteDue(now: now)
        if isSynced && isLeader {
            var budget = 64
            while budget > 0 {
                budget -= 1
                let work: QueuedWork
                if let held = admission.nextHeld() {
                    work = held
                } else if let (key, queuedAt, parts) = queue.next() {
                    work = QueuedWork(key: key, queuedAt: queuedAt, parts: parts)
                    guard admission.offer(work) else { continue }
                } else {
                    break
                }
                metrics.workQueueWait(work.queuedAt.duration(to: now))
                burstWorked(now: now)
                reconcile(work.key, queuedAt: work.queuedAt, namespaces: work.parts)
            }
            if queue.readyCount > 0 || admission.canStartHeld { schedulePump() }
        }
        armQueueTimer()
        metrics.workQueue(depth: queueDepth)
    }

    /// Reconciles in progress for the watched cluster.
    var reconcilesInProgress: Int { admission.inProgress(nil) }

    /// Keys waiting: in the queue, or handed out and held for room (`spillway_workqueue_depth`).
    private var queueDepth: Int { queue.depth + admission.heldCount }

    private func armQueueTimer() {
        guard let deadline = queue.nextDeadline else { return }
        if let current = queueTimer {
            if current.deadline <= deadline { return }
            reactor.cancel(current.source)
        }
        do {
            let source = try reactor.schedule(at: deadline) { [weak self] in
                self?.queueTimer = nil
                self?.pump()
            }
            queueTimer = (source, deadline)
        } catch {
            logger.error("reactor refused a timer (\(error)); polling the queue")
            schedulePump()
        }
    }

    private func repeating(_ interval: Duration, _ body: @escaping () -> Void) {
        do {
            timers.append(try reactor.schedule(after: interval, repeating: interval, body))
        } catch {
            logger.error("reactor refused a periodic timer (\(error)); the \(interval) safety net is off")
        }
    }

    // MARK: - Completion bookkeeping

    /// Called after every write finished.
    func writeFinished() {
        if stopCompletion != nil && writesInFlight == 0 {
            finishStopping()
        }
        burstWorked(now: reactor.now)
    }

    /// The initial lists, or an informer's relist, were read (``BurstEnd/listed(now:)``).
    private func burstListed() {
        if onBurstEnd != nil, burstEnd.listed(now: reactor.now) { awaitBurstEnd(after: burstEnd.quiet) }
    }

    /// A reconcile started or a replica write finished (``BurstEnd/worked(now:)``).
    private func burstWorked(now: MonotonicInstant) {
        if onBurstEnd != nil, burstEnd.worked(now: now) { awaitBurstEnd(after: burstEnd.quiet) }
    }

    private func awaitBurstEnd(after delay: Duration) {
        do {
            try reactor.schedule(after: delay) { [weak self] in
                guard let self, !self.stopping else { return }
                let busy = self.client.requestsOutstanding > 0 || self.writesInFlight > 0
                if let rest = self.burstEnd.fired(now: self.reactor.now, busy: busy) {
                    self.awaitBurstEnd(after: rest)
                } else {
                    self.onBurstEnd?()
                }
            }
        } catch {
            burstEnd.forget()
        }
    }

    /// Replica writes in flight, into every cluster.
    var writesInFlight: Int { clusters.values.reduce(lanes.inFlight) { $0 + $1.link.lanes.inFlight } }

    private func finishStopping() {
        let completion = stopCompletion
        stopCompletion = nil
        completion?()
    }

    /// Publishes the status soon: coalesced, because a resync of thousands of sources
    /// finishes thousands of reconciles and counting is linear in the sources.
    func publishStatus() {
        guard !statusScheduled, !stopping else { return }
        statusScheduled = true
        do {
            try reactor.schedule(after: .milliseconds(100)) { [weak self] in
                self?.statusScheduled = false
                self?.publishStatusNow()
            }
        } catch {
            statusScheduled = false
            publishStatusNow()
        }
    }

    private func publishStatusNow() {
        let current = status
        metrics.managedReplicas(current.replicas)
        metrics.conflicts(current.conflicts)
        for cluster in current.clusters {
            metrics.cluster(cluster.name, ready: cluster.isReady, replicas: cluster.replicas)
        }
        guard current != lastStatus else { return }
        lastStatus = current
        onStatusChange?(current)
    }

    /// Forgets what was remembered of a key that is gone for good (its events, skips, conflicts,
    /// failure and settled plan).
    func forget(_ key: WorkKey) {
        eventMemory.forget(key)
        skipMemory.forget(key)
        refusalMemory.forget(key)
        conflictsByKey[key] = nil
        failureByKey[key] = nil
        settledAt[key] = nil
    }

    /// Whether `key`'s last plan found everything in place and nothing that plan read changed
    /// since: planning it again would give the same plan.
    func isSettled(_ key: WorkKey) -> Bool {
        guard let settled = settledAt[key] else { return false }
        switch key {
        case .source, .pull: return settled == state.generation
        case .profile: return settled == profileGeneration
        case .remote(_, let cluster): return clusters[cluster].map { settled == generation(of: $0.link) } ?? false
        case .remoteProfile(_, let cluster): return clusters[cluster].map { settled == profileGeneration &+ $0.state.generation } ?? false
        }
    }

    /// Ends a reconcile: requeue per outcome, and mark the key done.
    func reconcileDone(_ key: WorkKey) {
        queue.done(key)
        let heldCanStart = admission.ended(key.cluster)
        if queue.readyCount > 0 || heldCanStart { schedulePump() }
        armQueueTimer()
    }
}
