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

    // On namespaces.
    public static let acceptFrom = prefix + "accept-from"

    // On replicas.
    public static let managedByLabel = prefix + "managed-by"
    public static let managedByValue = "spillway"
    public static let sourceFrom = prefix + "source-from"
    public static let expiresAt = prefix + "expires-at"
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
    /// that carries the source's annotations is never a source, which prevents loops).
    ///
    /// A non-source that still holds ``finalizer`` (or ``legacyFinalizer``) also needs a
    /// reconcile (to clean up and release it); the engine checks that separately.
    public static func isSource(labels: [String: String], annotations: [String: String]) -> Bool {
        !isManaged(labels: labels)
            && (annotations[replicateTo] != nil || annotations[replicateToMatching] != nil)
    }
}
