import SpillwayContract
import SpillwayLoop

/// How the engine runs. The contract's own flags are in `contract`.
public struct EngineOptions: Sendable {
    /// `--protected-namespaces`, `--require-namespace-consent`, `--allow-force-adopt`, the
    /// deny-prefix lists.
    public var contract: SpillwayContract.Options
    /// `--sync-period`: every source is planned again this often.
    public var syncPeriod: Duration
    /// `--self-heal-interval`: likewise, more often; plans are cheap and a source whose
    /// replicas are in place costs no write.
    public var selfHealInterval: Duration
    /// `--orphan-audit-interval`: how often every replica is checked against its source (also
    /// once when the caches have synced).
    public var orphanAuditInterval: Duration
    /// Replica writes in flight at once, over all sources (shared fairly, see ``WriteLanes``).
    public var maxWritesInFlight: Int
    /// Reconciles in progress at once (reading, planning or writing); more wait in the queue.
    /// Each holds its source's content, its plan and its queued writes until its last write is
    /// answered, so starting every ready key at once makes a burst (a start, a relist) hold
    /// all of them together, and malloc keeps the pages they spanned. Several times
    /// `maxWritesInFlight`, so that sources with one or two writes each still keep every write
    /// slot busy, and a new source is not held up by a few large fan-outs (their writes share
    /// the slots fairly, see ``WriteLanes``).
    public var maxReconcilesInFlight: Int
    /// Per-key backoff after a failed reconcile.
    public var backoff: KeyBackoff
    /// How long ``Engine/stop(completion:)`` waits for writes in flight.
    public var stopTimeout: Duration
    /// Post Kubernetes Events on sources.
    public var emitEvents: Bool
    /// How a failed Event post is tried again (a few times, then dropped and counted).
    public var eventRetry: EventRetry
    /// `reportingInstance` of the Events: the daemon's identity (hostname).
    public var instance: String
    /// While the SpillwayProfile CRD is not installed (or not readable), how often the engine
    /// checks again, so that installing it later needs no restart.
    public var profileProbeInterval: Duration
    /// Wall time for what the API stores as a date: a replica's `expires-at`, TTL expiry and
    /// Event times. Timers and backoff run on the loop's monotonic clock instead.
    public var wallClock: WallClock
    /// `--cluster-name`: the watched cluster's name, written as `source-cluster` on replicas in
    /// target clusters. nil: the uid of its `kube-system` namespace, the same for every
    /// management host that watches it.
    public var clusterName: String?
    /// `--target-cleanup-timeout`: how long a source's finalizer waits for its replicas in a
    /// target cluster to be deleted (an unreachable cluster makes it wait) before the source is
    /// released anyway and what was left is recorded.
    public var targetCleanupTimeout: Duration

    public init(contract: SpillwayContract.Options = .init(),
                syncPeriod: Duration = .seconds(300),
                selfHealInterval: Duration = .seconds(60),
                orphanAuditInterval: Duration = .seconds(600),
                maxWritesInFlight: Int = 64,
                maxReconcilesInFlight: Int = 256,
                backoff: KeyBackoff = KeyBackoff(),
                stopTimeout: Duration = .seconds(10),
                emitEvents: Bool = true,
                eventRetry: EventRetry = EventRetry(),
                instance: String = "spillwayd",
                profileProbeInterval: Duration = .seconds(60),
                wallClock: WallClock = .system,
                clusterName: String? = nil,
                targetCleanupTimeout: Duration = .seconds(300)) {
        self.contract = contract
        self.syncPeriod = syncPeriod
        self.selfHealInterval = selfHealInterval
        self.orphanAuditInterval = orphanAuditInterval
        self.maxWritesInFlight = maxWritesInFlight
        self.maxReconcilesInFlight = maxReconcilesInFlight
        self.backoff = backoff
        self.stopTimeout = stopTimeout
        self.emitEvents = emitEvents
        self.eventRetry = eventRetry
        self.instance = instance
        self.profileProbeInterval = profileProbeInterval
        self.wallClock = wallClock
        self.clusterName = clusterName
        self.targetCleanupTimeout = targetCleanupTimeout
    }
}

/// How the engine tries a failed Event post again: Events are best-effort, so a few attempts
/// with a short backoff, then the Event is dropped (and counted) rather than queued without end.
public struct EventRetry: Sendable {
    /// Attempts per Event, the first one included.
    public var attempts: Int
    /// The wait before the second attempt; doubled for each further one, plus up to as much
    /// again of jitter.
    public var backoff: Duration
    /// Retries waiting at once; a failure beyond this is dropped at once.
    public var maxWaiting: Int

    public init(attempts: Int = 4, backoff: Duration = .milliseconds(500), maxWaiting: Int = 256) {
        self.attempts = attempts
        self.backoff = backoff
        self.maxWaiting = maxWaiting
    }
}
