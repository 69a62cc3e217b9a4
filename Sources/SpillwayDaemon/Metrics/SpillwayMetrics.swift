import CoreMetrics
import KubeClient
import Prometheus
import Synchronization

/// The daemon's metric set: every name, label and help text in one place, each behind a method
/// named for the event it counts. The engine reports through these methods; `/metrics` renders
/// the registry.
///
/// Label values are closed sets the engine chooses from: `kind` is `Secret` or `ConfigMap`;
/// `result` is `success`, `skipped` or `failed`; `action` is `create`, `update`, `recreate`,
/// `delete`, `adopt`, `expire` or `release`; a pull refusal's `reason` is `not-allowed`,
/// `target-has-data`, `owned-elsewhere`, `type-denied` or `malformed`; `verb` is the Kubernetes verb (`get`, `list`, `watch`,
/// `create`, `update`, `patch`, `delete`); `code` is the HTTP status or `error` when no answer came;
/// a watch restart's `resource` is the informer's resource (`secrets`, `configmaps`,
/// `namespaces`, `spillwayprofiles.spillway.kroy.io`) and its `reason` one of `expired`, `closed`,
/// `error`, `idle`; `profile` is a SpillwayProfile's `namespace/name` (one series per profile).
public final class SpillwayMetrics: Sendable {
    public let registry: PrometheusCollectorRegistry

    private static let durationBuckets: [Duration] = [
        .milliseconds(1), .milliseconds(5), .milliseconds(10), .milliseconds(25), .milliseconds(50),
        .milliseconds(100), .milliseconds(250), .milliseconds(500), .seconds(1), .milliseconds(2500),
        .seconds(5), .seconds(10), .seconds(30),
    ]

    private let queueDepth: Prometheus.Gauge
    private let managedReplicasGauge: Prometheus.Gauge
    private let conflictsGauge: Prometheus.Gauge
    private let leaderGauge: Prometheus.Gauge
    private let queueWait: Prometheus.DurationHistogram
    private let propagation: Prometheus.DurationHistogram
    private let eventsDropped: Prometheus.Counter
    private let replications: MetricFamily<Prometheus.Counter>
    private let reconcileChanges: MetricFamily<Prometheus.Counter>
    private let pullRefusals: MetricFamily<Prometheus.Counter>
    private let cleanupDeletes: MetricFamily<Prometheus.Counter>
    private let watchRestarts: MetricFamily<Prometheus.Counter>
    private let apiRequests: MetricFamily<Prometheus.Counter>
    private let resyncPasses: MetricFamily<Prometheus.Counter>
    private let reconcileDuration: MetricFamily<Prometheus.DurationHistogram>
    private let leaderFigures = Mutex(LeaderFigures())

    /// What the engine last reported for the gauges that describe the replication a leader
    /// does. A standby's caches hold the same replicas, so it shows 0 for them: summed over the
    /// pods of a Deployment, every replica counts once.
    private struct LeaderFigures {
        var leading = false
        var queueDepth = 0
        var managedReplicas = 0
        var conflicts = 0
        /// Per SpillwayProfile (`namespace/name`), as its last reconcile left it.
        var profiles: [String: ProfileFigures] = [:]
    }

    private struct ProfileFigures {
        var replicas = 0
        var missingSources = 0
        var ready = false
    }

    public init(registry: PrometheusCollectorRegistry = PrometheusCollectorRegistry()) {
        self.registry = registry
        queueDepth = registry.makeGauge(
            descriptor: .spillway("workqueue_depth", unit: "", help: "Keys waiting in the work queue (0 on a standby)."))
        managedReplicasGauge = registry.makeGauge(
            descriptor: .spillway("managed_replicas", unit: "", help: "Replicas spillway currently manages (0 on a standby)."))
        conflictsGauge = registry.makeGauge(
            descriptor: .spillway("conflicts", unit: "", help: "Targets skipped because an object spillway does not manage, or another source, holds the name (0 on a standby)."))
        leaderGauge = registry.makeGauge(
            descriptor: .spillway("leader", unit: "", help: "1 while this process is the leader (or runs without leader election), else 0."))
        queueWait = registry.makeDurationHistogram(
            descriptor: .spillway("workqueue_wait", unit: "seconds", help: "Time a key waited in the work queue before a reconcile took it."), buckets: Self.durationBuckets)
        propagation = registry.makeDurationHistogram(
            descriptor: .spillway("propagation_latency", unit: "seconds", help: "Time from a source change being observed to every replica being written."), buckets: Self.durationBuckets)
        eventsDropped = registry.makeCounter(
            descriptor: .spillway("events_dropped", unit: "total", help: "Kubernetes Events given up on: refused, or still failing after the last retry."))
        replications = registry.counterFamily(
            "replications", unit: "total", help: "Replication attempts of a source into a target namespace, by outcome.", labels: ["kind", "result"])
        reconcileChanges = registry.counterFamily(
            "reconcile_changes", unit: "total", help: "Writes a reconcile made to replicas, by action.", labels: ["kind", "action"])
        pullRefusals = registry.counterFamily(
            "pull_refusals", unit: "total", help: "Pulls (replicate-from) that got nothing, by reason: not-allowed, target-has-data, owned-elsewhere, type-denied, malformed.", labels: ["kind", "reason"])
        cleanupDeletes = registry.counterFamily(
            "cleanup_deletes", unit: "total", help: "Replicas deleted because their source, its annotation or its target went away.", labels: ["kind"])
        watchRestarts = registry.counterFamily(
            "watch_restarts", unit: "total", help: "Watch streams restarted, by resource and reason.", labels: ["resource", "reason"])
        apiRequests = registry.counterFamily(
            "api_requests", unit: "total", help: "Kubernetes API requests, by verb and HTTP status code.", labels: ["verb", "code"])
        resyncPasses = registry.counterFamily(
            "resync_passes", unit: "total", help: "Periodic passes over every source (resync, self-heal); each plans only what changed since its last plan.", labels: ["trigger"])
        reconcileDuration = registry.durationHistogramFamily(
            "reconcile_duration", unit: "seconds", help: "Time one reconcile of one source took, writes included.", labels: ["kind"], buckets: Self.durationBuckets)
        registry.makeGauge(
            descriptor: .spillway("build", unit: "info", help: "Always 1; the version label says which build runs."), labels: [("version", SpillwayVersion.current)]).set(to: 1)
    }

    /// Also routes every swift-metrics user (libraries included) into this registry.
    public func bootstrapMetricsSystem() {
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
    }

    /// The Prometheus text exposition of every metric.
    public func exposition() -> [UInt8] {
        registry.emitToBuffer()
    }

    public func replication(kind: String, result: String) {
        replications(kind, result).increment()
    }

    public func reconcileChange(kind: String, action: String) {
        reconcileChanges(kind, action).increment()
    }

    public func pullRefused(kind: String, reason: String) {
        pullRefusals(kind, reason).increment()
    }

    public func cleanupDelete(kind: String) {
        cleanupDeletes(kind).increment()
    }

    public func reconcileDuration(kind: String, _ duration: Duration) {
        reconcileDuration(kind).record(duration)
    }

    public func workQueue(depth: Int) {
        updateLeaderFigures { $0.queueDepth = depth }
    }

    public func workQueueWait(_ duration: Duration) {
        queueWait.record(duration)
    }

    /// `reason`: `expired` (410), `closed` (server ended the stream), `error` (transport, refused
    /// watch, ERROR event or undecodable stream), `idle` (no bytes for too long).
    public func watchRestart(resource: String, reason: String) {
        watchRestarts(resource, reason).increment()
    }

    public func apiRequest(verb: String, code: String) {
        apiRequests(verb, code).increment()
    }

    public func managedReplicas(_ count: Int) {
        updateLeaderFigures { $0.managedReplicas = count }
    }

    public func conflicts(_ count: Int) {
        updateLeaderFigures { $0.conflicts = count }
    }

    public func leader(_ isLeader: Bool) {
        leaderGauge.set(to: isLeader ? 1 : 0)
        updateLeaderFigures { $0.leading = isLeader }
        leaderFigures.withLock { figures in
            for profile in figures.profiles.keys { showProfile(profile, figures) }
        }
    }

    private func updateLeaderFigures(_ change: (inout LeaderFigures) -> Void) {
        leaderFigures.withLock { figures in
            change(&figures)
            let shown = figures.leading ? figures : LeaderFigures()
            queueDepth.set(to: Double(shown.queueDepth))
            managedReplicasGauge.set(to: Double(shown.managedReplicas))
            conflictsGauge.set(to: Double(shown.conflicts))
        }
    }

    public func propagationLatency(_ duration: Duration) {
        propagation.record(duration)
    }

    public func eventDropped() {
        eventsDropped.increment()
    }

    public func resyncPass(trigger: String, planned: Int) {
        resyncPasses(trigger).increment()
    }

    /// The per-profile gauges: one series each per SpillwayProfile (`namespace/name`), never per
    /// namespace, so their number follows the profiles.
    private static let profileGauges: [(metric: String, help: String)] = [
        ("profile_replicas", "Replicas a SpillwayProfile holds after its last reconcile (0 on a standby)."),
        ("profile_sources_missing", "Sources a SpillwayProfile lists that do not exist (0 on a standby)."),
        ("profile_ready", "1 while the SpillwayProfile's Ready condition is True, else 0 (0 on a standby)."),
    ]

    private func profileGauge(_ index: Int, _ profile: String) -> Prometheus.Gauge {
        let (metric, help) = Self.profileGauges[index]
        return registry.makeGauge(descriptor: .spillway(metric, unit: "", help: help), labels: [("profile", profile)])
    }

    public func profile(_ profile: String, replicas: Int, missingSources: Int, ready: Bool) {
        leaderFigures.withLock { figures in
            figures.profiles[profile] = ProfileFigures(replicas: replicas, missingSources: missingSources, ready: ready)
            showProfile(profile, figures)
        }
    }

    public func profileRemoved(_ profile: String) {
        leaderFigures.withLock { figures in
            figures.profiles[profile] = nil
            for index in Self.profileGauges.indices { registry.unregisterGauge(profileGauge(index, profile)) }
        }
    }

    /// A profile's gauges as the leader knows them; 0 on a standby, like the other leader figures.
    private func showProfile(_ profile: String, _ figures: LeaderFigures) {
        let shown = figures.leading ? figures.profiles[profile] ?? ProfileFigures() : ProfileFigures()
        profileGauge(0, profile).set(to: Double(shown.replicas))
        profileGauge(1, profile).set(to: Double(shown.missingSources))
        profileGauge(2, profile).set(to: shown.ready ? 1 : 0)
    }

    // MARK: Target clusters (label `cluster`: the kubeconfig context name)

    /// A target cluster's health and the replicas spillway manages there. A standby reports 0
    /// replicas, as for `spillway_managed_replicas`.
    public func cluster(_ name: String, ready: Bool, replicas: Int) {
        registry.makeGauge(
            descriptor: .spillway("cluster_ready", unit: "", help: "1 while a target cluster is synced and answering, else 0."),
            labels: [("cluster", name)]).set(to: ready ? 1 : 0)
        let leading = leaderFigures.withLock { $0.leading }
        registry.makeGauge(
            descriptor: .spillway("cluster_replicas", unit: "", help: "Replicas spillway manages in a target cluster (0 on a standby)."),
            labels: [("cluster", name)]).set(to: leading ? Double(replicas) : 0)
    }

    public func clusterWrite(_ name: String, kind: String, action: String) {
        registry.makeCounter(
            descriptor: .spillway("cluster_writes", unit: "total", help: "Replica writes into a target cluster that succeeded, by action."),
            labels: [("cluster", name), ("kind", kind), ("action", action)]).increment()
    }

    public func clusterCleanupAbandoned(_ name: String) {
        registry.makeCounter(
            descriptor: .spillway("cluster_cleanup_abandoned", unit: "total", help: "Sources released although their replicas in a target cluster could not be deleted within --target-cleanup-timeout."),
            labels: [("cluster", name)]).increment()
    }

    /// Counts a target cluster's client's requests and watch restarts, with its `cluster` label.
    public func clusterObserver(_ name: String) -> KubeClientObserver {
        ClusterRequests(metrics: self, cluster: name)
    }

    fileprivate func clusterRequest(_ name: String, verb: String, code: String) {
        registry.makeCounter(
            descriptor: .spillway("cluster_api_requests", unit: "total", help: "Kubernetes API requests to a target cluster, by verb and HTTP status code."),
            labels: [("cluster", name), ("verb", verb), ("code", code)]).increment()
    }

    fileprivate func clusterWatchRestart(_ name: String, resource: String, reason: String) {
        registry.makeCounter(
            descriptor: .spillway("cluster_watch_restarts", unit: "total", help: "Watch streams to a target cluster restarted, by resource and reason."),
            labels: [("cluster", name), ("resource", resource), ("reason", reason)]).increment()
    }
}

/// A target cluster's client reports here (`spillway_cluster_api_requests_total`,
/// `spillway_cluster_watch_restarts_total`), apart from the watched cluster's figures.
private final class ClusterRequests: KubeClientObserver {
    let metrics: SpillwayMetrics
    let cluster: String

    init(metrics: SpillwayMetrics, cluster: String) {
        self.metrics = metrics
        self.cluster = cluster
    }

    func apiRequest(verb: APIVerb, status: Int?) {
        metrics.clusterRequest(cluster, verb: verb.rawValue, code: status.map(String.init) ?? "error")
    }

    func watchRestarted(resource: Resource, reason: WatchRestartReason) {
        metrics.clusterWatchRestart(cluster, resource: resource.description, reason: reason.rawValue)
    }
}

/// The Kubernetes client reports every request attempt and every watch restart here.
extension SpillwayMetrics: KubeClientObserver {
    public func apiRequest(verb: APIVerb, status: Int?) {
        apiRequest(verb: verb.rawValue, code: status.map(String.init) ?? "error")
    }

    public func watchRestarted(resource: Resource, reason: WatchRestartReason) {
        watchRestart(resource: resource.description, reason: reason.rawValue)
    }
}

extension MetricNameDescriptor {
    /// `spillway_<metric>_<unit>`, with the help text Prometheus shows.
    fileprivate static func spillway(_ metric: String, unit: String, help: String) -> MetricNameDescriptor {
        MetricNameDescriptor(namespace: "spillway", metricName: metric, unitName: unit, helpText: help)
    }
}
