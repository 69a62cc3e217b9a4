/// The names spillway reads and writes on Kubernetes objects. Every other module takes them
/// from here, so the contract has one spelling.
public enum Vocabulary {
    /// The prefix of every spillway annotation and label. Keys under it are never copied from
    /// a source to its replicas.
    public static let prefix = "spillway.kroy.io/"

    // On sources.
    public static let replicateTo = prefix + "replicate-to"
    public static let replicateToMatching = prefix + "replicate-to-matching"
    public static let excludeNamespaces = prefix + "exclude-namespaces"
    public static let includeKeys = prefix + "include-keys"
    public static let excludeKeys = prefix + "exclude-keys"
    public static let replicaTTL = prefix + "replica-ttl"
    public static let expiredNamespaces = prefix + "expired-namespaces"
    public static let forceAdopt = prefix + "force-adopt"
    /// The clusters to replicate into, by kubeconfig context name or glob; `local` is the watched
    /// cluster. Absent: the watched cluster only.
    public static let replicateToClusters = prefix + "replicate-to-clusters"

    // On namespaces.
    public static let acceptFrom = prefix + "accept-from"

    // Pull replication.
    /// On an object that asks for a copy: `namespace/name` of a source of its own kind.
    public static let replicateFrom = prefix + "replicate-from"
    /// On a source: the namespaces that may pull it (a target list, as `replicate-to`).
    public static let allowPullFrom = prefix + "allow-pull-from"
    /// Label on a pulled copy, beside ``managedByLabel``: the object is its namespace's own,
    /// filled on its request. spillway never deletes it, no source's push ever takes it, and it
    /// stays recognisable after its `replicate-from` is removed (so it is let go, not deleted).
    public static let pulledLabel = prefix + "pulled"
    public static let pulledValue = "true"

    // On replicas.
    public static let managedByLabel = prefix + "managed-by"
    public static let managedByValue = "spillway"
    public static let sourceFrom = prefix + "source-from"
    public static let expiresAt = prefix + "expires-at"
    /// On a replica in another cluster than its source's: the name of the source's cluster
    /// (`--cluster-name`). A replica without it belongs to a source of its own cluster.
    public static let sourceCluster = prefix + "source-cluster"
    /// In `replicate-to-clusters`, the cluster spillwayd watches (where the source lives).
    public static let localCluster = "local"
    /// On a replica a SpillwayProfile made (`namespace/name` of the profile): the profile owns
    /// it, whatever its `source-from` says; no annotation source and no other profile touches it.
    public static let profileRef = prefix + "profile-ref"

    // The SpillwayProfile custom resource.
    public static let profileGroup = "spillway.kroy.io"
    public static let profileKind = "SpillwayProfile"
    public static let profilePlural = "spillwayprofiles"
    /// The versions it is served at, preferred first: `v1` (stored), then the original's `v1alpha1`.
    public static let profileVersions = ["v1", "v1alpha1"]
    /// Condition types in a profile's status.
    public static let conditionSourcesAvailable = "SourcesAvailable"
    public static let conditionReady = "Ready"

    /// The finalizer spillway keeps on every source (and every SpillwayProfile) so that its
    /// replicas are deleted before it goes.
    public static let finalizer = prefix + "replicas"

    // Written by the original Go spillway (0.4 and earlier), which spillwayd replaces.
    /// The original's finalizer on sources. spillwayd takes it over on a live source (replaced by
    /// ``finalizer`` in one write) and releases it after cleanup on a source that is deleted or no
    /// longer replicates, so no source the original managed hangs in `Terminating`.
    public static let legacyFinalizer = prefix + "finalizer"
    /// The original marked its replicas with this annotation as well as the label. spillwayd
    /// neither writes nor needs it, and keeps it where it finds it, so adopting the original's
    /// replicas rewrites none of them.
    public static let legacyManagedByAnnotation = prefix + "managed-by"

    // Event reasons (events.k8s.io/v1, on the source).
    public static let reasonSucceeded = "ReplicationSucceeded"
    public static let reasonSkipped = "ReplicationSkipped"
    public static let reasonFailed = "ReplicationFailed"

    /// Whether the finalizers hold a source for spillway: its own, or the original's.
    public static func holdsFinalizer(_ finalizers: [String]) -> Bool {
        finalizers.contains(finalizer) || finalizers.contains(legacyFinalizer)
    }

    /// Whether the labels mark the object as a replica spillway manages.
    public static func isManaged(labels: [String: String]) -> Bool {
        labels[managedByLabel] == managedByValue
    }

    /// Whether an object is a replication source: it asks for replication through
    /// `replicate-to` or `replicate-to-matching` and is not itself a managed replica (a replica
    /// that carries the source's annotations is never a source, which prevents loops), nor an
    /// object that pulls (`replicate-from`: a pulled copy is never a source either).
    ///
    /// A non-source that still holds ``finalizer`` (or ``legacyFinalizer``) also needs a
    /// reconcile (to clean up and release it); the engine checks that separately.
    public static func isSource(labels: [String: String], annotations: [String: String]) -> Bool {
        !isManaged(labels: labels) && annotations[replicateFrom] == nil
            && (annotations[replicateTo] != nil || annotations[replicateToMatching] != nil)
    }

    /// Whether an object offers itself to pulls: it carries `allow-pull-from`, is not a managed
    /// object (replica or pulled copy) and does not pull itself. Only such an object is ever
    /// copied by a pull.
    public static func allowsPulls(labels: [String: String], annotations: [String: String]) -> Bool {
        !isManaged(labels: labels) && annotations[allowPullFrom] != nil && annotations[replicateFrom] == nil
    }

    /// Whether the labels mark a pulled copy: managed by spillway and labelled ``pulledLabel``.
    public static func isPulledCopy(labels: [String: String]) -> Bool {
        isManaged(labels: labels) && labels[pulledLabel] == pulledValue
    }

    /// Whether the pull path serves the object: one that asks (`replicate-from`) and is not
    /// someone else's replica, or a pulled copy (whose request may have been removed).
    public static func isPull(labels: [String: String], annotations: [String: String]) -> Bool {
        isManaged(labels: labels) ? isPulledCopy(labels: labels) : annotations[replicateFrom] != nil
    }
}
