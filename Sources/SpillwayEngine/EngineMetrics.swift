import CoreMetrics
import Metrics

/// Where the engine reports its figures. The names and labels are those of docs/operations.md;
/// the method names match the daemon's `SpillwayMetrics`, which can conform with an empty
/// extension and so give every metric its help text.
///
/// Label values: `kind` is `Secret` or `ConfigMap`; `result` is `success`, `skipped` or
/// `failed`; `action` is `create`, `update`, `recreate`, `delete`, `adopt`, `expire` or
/// `release`; a pull refusal's `reason` is a ``PullRefusal`` (five values). No label names an
/// object or a namespace, so their number stays fixed whatever the cluster holds.
public protocol EngineMetrics: AnyObject {
    /// `spillway_replications_total{kind,result}`: one per target namespace a reconcile acted
    /// on or had to skip.
    func replication(kind: String, result: String)
    /// `spillway_reconcile_changes_total{kind,action}`: one per replica write that succeeded.
    func reconcileChange(kind: String, action: String)
    /// `spillway_cleanup_deletes_total{kind}`: replicas deleted because their source, its
    /// annotation or its target went away.
    func cleanupDelete(kind: String)
    /// `spillway_reconcile_duration_seconds{kind}`.
    func reconcileDuration(kind: String, _ duration: Duration)
    /// `spillway_workqueue_depth`.
    func workQueue(depth: Int)
    /// `spillway_workqueue_wait_seconds`.
    func workQueueWait(_ duration: Duration)
    /// `spillway_managed_replicas`.
    func managedReplicas(_ count: Int)
    /// `spillway_conflicts`: targets held by an unmanaged object or another source.
    func conflicts(_ count: Int)
    /// `spillway_propagation_latency_seconds`: from a change being queued to its writes done.
    func propagationLatency(_ duration: Duration)
    /// `spillway_events_dropped_total`: Events given up on (refused, or still failing after
    /// the last retry).
    func eventDropped()
    /// `spillway_pull_refusals_total{kind,reason}`: pulls that got nothing, counted when the
    /// refusal first appears (not on every resync that finds it again).
    func pullRefused(kind: String, reason: String)
    /// `spillway_profile_replicas{profile}`, `spillway_profile_sources_missing{profile}` and
    /// `spillway_profile_ready{profile}`: one series each per SpillwayProfile (`namespace/name`),
    /// set after each of its reconciles.
    func profile(_ profile: String, replicas: Int, missingSources: Int, ready: Bool)
    /// The profile is gone: its series are removed.
    func profileRemoved(_ profile: String)
    /// `spillway_resync_passes_total{trigger}`: periodic passes (`resync`, `self-heal`); each
    /// queues only the keys that are not settled (`planned` of them).
    func resyncPass(trigger: String, planned: Int)
    /// `spillway_cluster_ready{cluster}` and `spillway_cluster_replicas{cluster}`: a target
    /// cluster's health and the replicas the engine manages there.
    func cluster(_ name: String, ready: Bool, replicas: Int)
    /// `spillway_cluster_writes_total{cluster,kind,action}`: one per replica write into a target
    /// cluster that succeeded (also counted in `spillway_reconcile_changes_total`).
    func clusterWrite(_ name: String, kind: String, action: String)
    /// `spillway_cluster_cleanup_abandoned_total{cluster}`: sources released while their
    /// replicas in the cluster could not be deleted within `--target-cleanup-timeout`.
    func clusterCleanupAbandoned(_ name: String)
}

extension EngineMetrics {
    public func pullRefused(kind: String, reason: String) {}
    public func resyncPass(trigger: String, planned: Int) {}
    // Defaults, so a sink that knows nothing of target clusters still conforms.
    public func cluster(_ name: String, ready: Bool, replicas: Int) {}
    public func clusterWrite(_ name: String, kind: String, action: String) {}
    public func clusterCleanupAbandoned(_ name: String) {}
}

/// ``EngineMetrics`` through swift-metrics (whatever backend `MetricsSystem` was bootstrapped
/// with), under the same names.
public final class SwiftMetricsEngineMetrics: EngineMetrics {
    private let factory: MetricsFactory

    public init(factory: MetricsFactory = MetricsSystem.factory) {
        self.factory = factory
    }

    public func replication(kind: String, result: String) {
        Counter(label: "spillway_replications_total", dimensions: [("kind", kind), ("result", result)], factory: factory).increment()
    }

    public func reconcileChange(kind: String, action: String) {
        Counter(label: "spillway_reconcile_changes_total", dimensions: [("kind", kind), ("action", action)], factory: factory).increment()
    }

    public func cleanupDelete(kind: String) {
        Counter(label: "spillway_cleanup_deletes_total", dimensions: [("kind", kind)], factory: factory).increment()
    }

    public func reconcileDuration(kind: String, _ duration: Duration) {
        Timer(label: "spillway_reconcile_duration_seconds", dimensions: [("kind", kind)], factory: factory).record(duration: duration)
    }

    public func workQueue(depth: Int) {
        Gauge(label: "spillway_workqueue_depth", factory: factory).record(depth)
    }

    public func workQueueWait(_ duration: Duration) {
        Timer(label: "spillway_workqueue_wait_seconds", factory: factory).record(duration: duration)
    }

    public func managedReplicas(_ count: Int) {
        Gauge(label: "spillway_managed_replicas", factory: factory).record(count)
    }

    public func conflicts(_ count: Int) {
        Gauge(label: "spillway_conflicts", factory: factory).record(count)
    }

    public func propagationLatency(_ duration: Duration) {
        Timer(label: "spillway_propagation_latency_seconds", factory: factory).record(duration: duration)
    }

    public func eventDropped() {
        Counter(label: "spillway_events_dropped_total", factory: factory).increment()
    }

    public func pullRefused(kind: String, reason: String) {
        Counter(label: "spillway_pull_refusals_total", dimensions: [("kind", kind), ("reason", reason)], factory: factory).increment()
    }

    public func profile(_ profile: String, replicas: Int, missingSources: Int, ready: Bool) {
        let dimensions = [("profile", profile)]
        Gauge(label: "spillway_profile_replicas", dimensions: dimensions, factory: factory).record(replicas)
        Gauge(label: "spillway_profile_sources_missing", dimensions: dimensions, factory: factory).record(missingSources)
        Gauge(label: "spillway_profile_ready", dimensions: dimensions, factory: factory).record(ready ? 1 : 0)
    }

    public func profileRemoved(_ profile: String) {
        let dimensions = [("profile", profile)]
        for label in ["spillway_profile_replicas", "spillway_profile_sources_missing", "spillway_profile_ready"] {
            Gauge(label: label, dimensions: dimensions, factory: factory).destroy()
        }
    }

    public func resyncPass(trigger: String, planned: Int) {
        Counter(label: "spillway_resync_passes_total", dimensions: [("trigger", trigger)], factory: factory).increment()
    }

    public func cluster(_ name: String, ready: Bool, replicas: Int) {
        Gauge(label: "spillway_cluster_ready", dimensions: [("cluster", name)], factory: factory).record(ready ? 1 : 0)
        Gauge(label: "spillway_cluster_replicas", dimensions: [("cluster", name)], factory: factory).record(replicas)
    }

    public func clusterWrite(_ name: String, kind: String, action: String) {
        Counter(label: "spillway_cluster_writes_total", dimensions: [("cluster", name), ("kind", kind), ("action", action)],
                factory: factory).increment()
    }

    public func clusterCleanupAbandoned(_ name: String) {
        Counter(label: "spillway_cluster_cleanup_abandoned_total", dimensions: [("cluster", name)], factory: factory).increment()
    }
}
