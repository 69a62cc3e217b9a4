import FoundationEssentials
import KubeWire
import KubeClient
import SpillwayContract
import SpillwayLoop

/// A cluster the engine writes replicas into, as a reconcile sees it: the client that reaches
/// it, the cache of what it holds, the planner with its rules, and its own write lanes (so its
/// writes in flight are bounded apart from every other cluster's).
final class ClusterLink {
    /// The target cluster's context name; nil for the watched cluster.
    let name: String?
    let client: KubeClient
    let state: ObservedState
    var planner: Planner
    let lanes: WriteLanes<WorkKey>

    init(name: String?, client: KubeClient, state: ObservedState, planner: Planner, lanes: WriteLanes<WorkKey>) {
        self.name = name
        self.client = client
        self.state = state
        self.planner = planner
        self.lanes = lanes
    }

    var isLocal: Bool { name == nil }

    /// `Kind/namespace/name`, and `in cluster prod-eu` for a target cluster's object.
    func describe(_ key: ObjectKey) -> String {
        name.map { "\(key) in cluster \($0)" } ?? key.description
    }
}

/// A target cluster the daemon was allowed to write to: its own client (on the same reactor),
/// its own informers (namespaces; the managed replicas there), its own cache and lanes, and
/// what is known of its health.
final class TargetCluster {
    /// How one target cluster is reached and governed, as the daemon configured it.
    let configuration: TargetClusterConfiguration
    let link: ClusterLink
    var name: String { configuration.name }
    var client: KubeClient { configuration.client }
    var state: ObservedState { link.state }

    var informers: [Informer] = []
    var unsynced: Set<String> = []
    /// Every informer has delivered its first full list since the cluster was started.
    var isSynced: Bool { started && unsynced.isEmpty }
    /// The cache has been filled once: while the cluster is away it still says what was there.
    var everSynced = false
    var started = false
    /// The last request attempt was answered (any HTTP status): the API server is there.
    var isReachable = true
    /// When the cluster stopped answering.
    var unreachableSince: Date?
    /// Why it cannot be worked with (its client's ``ServerContact/problem``), or nil.
    var problem: String?

    init(configuration: TargetClusterConfiguration, sourceCluster: @escaping () -> String?) {
        self.configuration = configuration
        let name = configuration.name
        let state = ObservedState { replica, _ in
            sourceCluster().flatMap { WorkKey.owner(of: replica, inCluster: name, sourceCluster: $0) }
        }
        link = ClusterLink(name: name, client: configuration.client, state: state,
                           planner: Planner(options: configuration.contract, placement: Placement(cluster: name)),
                           lanes: WriteLanes(limit: max(1, configuration.maxWritesInFlight)))
    }

    /// Ready to be written to: synced and answering.
    var isReady: Bool { isSynced && isReachable }

    /// What `/readyz`, `STATUS=` and the log say about the cluster, with the number of replicas
    /// the engine manages there.
    func health(replicas: Int) -> ClusterHealth {
        let state: ClusterHealth.State
        if !isReachable {
            state = .unreachable(since: unreachableSince, problem: problem)
        } else if !isSynced {
            state = .syncing
        } else {
            state = .ready
        }
        return ClusterHealth(name: name, state: state, replicas: replicas)
    }
}

/// How a target cluster is reached and governed: built by the daemon from a kubeconfig context
/// and the per-cluster settings.
public struct TargetClusterConfiguration {
    /// The kubeconfig context name: what `replicate-to-clusters` names.
    public var name: String
    /// A client on the engine's reactor, reaching the cluster with its own credentials.
    public var client: KubeClient
    /// The cluster's own protected namespaces and consent requirement (and the daemon's other
    /// contract flags).
    public var contract: SpillwayContract.Options
    /// Replica writes in flight at once into this cluster.
    public var maxWritesInFlight: Int

    public init(name: String, client: KubeClient, contract: SpillwayContract.Options, maxWritesInFlight: Int = 64) {
        self.name = name
        self.client = client
        self.contract = contract
        self.maxWritesInFlight = maxWritesInFlight
    }
}

/// One target cluster's health, for `/readyz`, `STATUS=` and `spillway_cluster_ready`.
public struct ClusterHealth: Sendable, Equatable, CustomStringConvertible {
    public enum State: Sendable, Equatable {
        case ready
        /// Its informers have not delivered a first full list yet.
        case syncing
        /// Its API server does not answer, or refuses to be worked with (since then, when known;
        /// why, when known).
        case unreachable(since: Date?, problem: String?)
    }

    public var name: String
    public var state: State
    /// Replicas the daemon manages there.
    public var replicas: Int

    public var isReady: Bool { state == .ready }

    /// `prod-eu: ready`, `prod-us: unreachable since 2026-12-01T10:00:00Z`.
    public var description: String {
        switch state {
        case .ready: "\(name): ready"
        case .syncing: "\(name): syncing"
        case .unreachable(let since, let problem):
            "\(name): unreachable" + (since.map { " since \(Timestamp.format($0))" } ?? "") + (problem.map { " (\($0))" } ?? "")
        }
    }
}
