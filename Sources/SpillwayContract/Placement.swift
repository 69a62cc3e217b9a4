/// Which cluster a plan writes into, as the contract sees it: the watched cluster itself (where
/// the sources live), or a target cluster of the kubeconfig.
///
/// The same planner serves both. What differs in a target cluster:
/// - it is planned only when `replicate-to-clusters` names it (the watched cluster is planned
///   when the annotation is absent or names `local`);
/// - its replicas carry `spillway.kroy.io/source-cluster` (the watched cluster's name), and only
///   a replica carrying this cluster's name belongs to a source here: anything else is another
///   owner's (another management host's, or a spillwayd running in that cluster);
/// - the namespace named like the source's own is a namespace like any other (the source is not
///   in that cluster);
/// - `accept-from` patterns without a cluster prefix do not admit the source (they admit
///   sources of the namespace's own cluster only, see ``AcceptPattern``);
/// - the plan has no source actions and no events about the source itself (the watched
///   cluster's plan owns the finalizer, `expired-namespaces` and annotation errors), and
///   `replica-ttl` does not apply (`expired-namespaces` names namespaces of the watched cluster).
public struct Placement: Sendable, Equatable {
    /// The target cluster's kubeconfig context name; nil for the watched cluster.
    public var cluster: String?
    /// The watched cluster's name (`--cluster-name`): the `source-cluster` of replicas written in
    /// target clusters, and what a `cluster:` prefix of `accept-from` is matched against. nil
    /// when not known (a daemon without target clusters).
    public var sourceCluster: String?
    /// The target clusters spillwayd may write to (`--target-contexts`). The watched cluster's
    /// plan warns about a `replicate-to-clusters` entry naming any other.
    public var allowedClusters: Set<String>

    public init(cluster: String? = nil, sourceCluster: String? = nil, allowedClusters: Set<String> = []) {
        self.cluster = cluster
        self.sourceCluster = sourceCluster
        self.allowedClusters = allowedClusters
    }

    /// The watched cluster, with nothing known of any other.
    public static let local = Placement()

    /// The watched cluster itself.
    public var isLocal: Bool { cluster == nil }

    /// The `source-cluster` a replica written here carries: nil in the watched cluster.
    var replicaSourceCluster: String? { isLocal ? nil : sourceCluster }

    /// Whether `replicate-to-clusters` (nil: absent) selects this cluster.
    public func isSelected(by clusters: [ClusterPattern]?) -> Bool {
        guard let clusters else { return isLocal }
        guard let cluster else { return clusters.contains(.local) }
        return clusters.contains { $0.matches(context: cluster) }
    }

    /// How a plan names this cluster to people: "the watched cluster" or "cluster prod-eu".
    var name: String { cluster.map { "cluster \($0)" } ?? "the watched cluster (\(Vocabulary.localCluster))" }

    /// `namespace/name` in the watched cluster, `namespace/name in cluster prod-eu` elsewhere.
    func describe(_ namespace: String, _ name: String) -> String {
        cluster.map { "\(namespace)/\(name) in cluster \($0)" } ?? "\(namespace)/\(name)"
    }
}
