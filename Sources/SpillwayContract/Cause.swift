/// Why a namespace gets the decision it gets. Each decision of a plan carries one, so the
/// engine can count and audit-log decisions by category (create, update, delete, skip,
/// conflict, adopt, expiry, cleanup, consent denial); the decision's `reason` is for people.
public enum Cause: String, Sendable, Equatable, Hashable, Codable, CaseIterable {
    // Target selection.
    /// Named explicitly in `replicate-to`.
    case namedInReplicateTo
    /// Matched `all`, `*` or a glob of `replicate-to`.
    case matchedPattern
    /// Matched the `replicate-to-matching` selector.
    case matchedSelector
    /// Matched neither `replicate-to` nor `replicate-to-matching`.
    case notSelected
    /// Matched `exclude-namespaces`.
    case excluded
    /// A protected namespace reached only through a wildcard or a selector.
    case protectedNamespace
    /// The namespace's `accept-from` does not admit the source (or is absent while consent is required).
    case consentDenied
    /// The namespace's `accept-from` does not parse: the namespace is left untouched.
    case consentMalformed
    /// The namespace is terminating: nothing is created there, existing replicas are left to its deletion.
    case namespaceTerminating
    /// An object was observed in a namespace the engine does not (yet) know: left untouched.
    case namespaceUnknown

    // Planning.
    /// The replica is as desired.
    case inPlace
    /// No replica yet.
    case missing
    /// The replica's content or metadata differs from the source.
    case drifted
    /// The Secret type differs: the API forbids changing it, so the replica is recreated.
    case typeChanged
    /// The replica is immutable and differs: it is recreated.
    case immutableChanged
    /// An unmanaged object is taken over (`force-adopt` with `--allow-force-adopt`).
    case adopted
    /// The replica passed its `expires-at`, or the namespace is listed in `expired-namespaces`.
    case expired
    /// The source no longer asks for replication (annotations removed).
    case replicationStopped
    /// The source is terminating or gone.
    case sourceDeleted
    /// A same-name object not managed by spillway is in the way.
    case unmanagedObject
    /// A replica of another source with the same name is in the way; the existing owner wins.
    case ownedByAnotherSource
    /// The object is already being deleted.
    case objectTerminating

    // Pulls.
    /// The source a pull names is gone, or does not allow pulls into the namespace
    /// (`allow-pull-from`, `exclude-namespaces`, protected namespaces).
    case pullNotAllowed
    /// The object that asks holds data of its own: it is not overwritten.
    case targetHasData
    /// The source does not hold spillway's finalizer yet: the copy is filled once it does, so
    /// that deleting the source always empties its copies first.
    case awaitingSourceFinalizer
}
