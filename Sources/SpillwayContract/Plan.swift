import FoundationEssentials

/// What to do with one namespace's object.
public enum ReplicaAction: Sendable, Equatable {
    /// Create the replica (POST).
    case create(Replica)
    /// Replace the object with the replica (PUT carrying the precondition's uid and
    /// resourceVersion, so a concurrent change fails with 409 instead of being overwritten).
    case update(Replica, Precondition)
    /// Delete the object (with the precondition), then create the replica: for changes the API
    /// forbids in place (Secret type, immutable content).
    case recreate(Replica, Precondition)
    /// Delete the object, with the precondition.
    case delete(Precondition)
    /// Let a pulled copy go: its labels and annotations become these (spillway's markers
    /// removed), its content stays as it is. Written conditioned on the precondition.
    case release(labels: [String: String], annotations: [String: String], Precondition)
    /// The replica is in place: nothing to write.
    case unchanged
    /// Nothing is written; the decision's cause and reason say why.
    case skip

    /// The verb `spillwayd plan` shows, and the `action` label of metrics.
    public var verb: String {
        switch self {
        case .create: "create"
        case .update: "update"
        case .recreate: "recreate"
        case .delete: "delete"
        case .release: "release"
        case .unchanged: "unchanged"
        case .skip: "skip"
        }
    }

    /// Whether the action writes to the API.
    public var isWrite: Bool {
        switch self {
        case .create, .update, .recreate, .delete, .release: true
        case .unchanged, .skip: false
        }
    }
}

/// The plan for one namespace.
public struct Decision: Sendable, Equatable {
    public var namespace: String
    public var action: ReplicaAction
    public var cause: Cause
    /// For people: `spillwayd plan`, audit log lines, events.
    public var reason: String

    public init(namespace: String, action: ReplicaAction, cause: Cause, reason: String) {
        self.namespace = namespace
        self.action = action
        self.cause = cause
        self.reason = reason
    }
}

/// A write to the source object itself.
public enum SourceAction: Sendable, Equatable, Hashable {
    /// Add ``Vocabulary/finalizer`` to the source.
    case addFinalizer
    /// Take over from the original spillway: ``Vocabulary/legacyFinalizer`` is replaced by
    /// ``Vocabulary/finalizer`` in one write.
    case replaceLegacyFinalizer
    /// Remove ``Vocabulary/finalizer`` (and ``Vocabulary/legacyFinalizer``): only planned once no
    /// replica of the source remains.
    case removeFinalizer
    /// Set `expired-namespaces` to these names (comma-separated); remove the annotation when empty.
    case setExpiredNamespaces([String])
}

/// A Kubernetes event (events.k8s.io/v1) to emit on the source.
public struct EventIntent: Sendable, Equatable, Hashable, Codable {
    public enum EventType: String, Sendable, Equatable, Hashable, Codable {
        case normal = "Normal"
        case warning = "Warning"
    }

    public var type: EventType
    /// ``Vocabulary/reasonSkipped`` or ``Vocabulary/reasonFailed``; the engine emits
    /// ``Vocabulary/reasonSucceeded`` itself once its writes succeed.
    public var reason: String
    public var message: String

    public init(type: EventType, reason: String, message: String) {
        self.type = type
        self.reason = reason
        self.message = message
    }
}

/// The result of planning one source key: everything the executor should do, and why.
///
/// Execution order: ``sourceActions`` first (the finalizer must be on the source before any
/// replica exists, and `expired-namespaces` must record an expiry before the expired replica
/// is deleted, so a failure in between never recreates it), then the ``decisions`` that write.
/// A plan never holds ``SourceAction/removeFinalizer`` together with replica writes.
///
/// Events describe the current state; a plan made again on an unchanged world repeats them, so
/// the engine should not re-emit an identical event it emitted recently.
public struct Plan: Sendable, Equatable {
    public var source: ObjectKey
    /// One decision per namespace worth mentioning (targets, namespaces matched but skipped,
    /// namespaces holding an object of this name), sorted by namespace.
    public var decisions: [Decision]
    public var sourceActions: [SourceAction]
    public var events: [EventIntent]
    /// When to plan this source again even if nothing changes: the earliest `expires-at` of its
    /// replicas. nil when no replica expires.
    public var requeueAt: Date?

    public init(source: ObjectKey, decisions: [Decision] = [], sourceActions: [SourceAction] = [],
                events: [EventIntent] = [], requeueAt: Date? = nil) {
        self.source = source
        self.decisions = decisions
        self.sourceActions = sourceActions
        self.events = events
        self.requeueAt = requeueAt
    }

    /// The decisions that write to the API.
    public var writes: [Decision] { decisions.filter { $0.action.isWrite } }

    /// True when there is nothing to do at all: no replica write, no source write, no event.
    public var isSteadyState: Bool { writes.isEmpty && sourceActions.isEmpty && events.isEmpty }
}
