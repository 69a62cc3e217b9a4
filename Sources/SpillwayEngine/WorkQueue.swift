import DequeModule
import HeapModule
import SpillwayLoop

/// The reconcile queue: client-go's `workqueue` semantics, confined to the reactor thread.
///
/// - A key is queued at most once however often it is added (deduplicated).
/// - A key is never handed out while it is being processed: added meanwhile, it is marked dirty
///   and queued again when ``done(_:now:)`` is called, so the latest state is always reconciled
///   once more after the change, never twice at the same time.
/// - Failures back a key off exponentially per key (``KeyBackoff``); ``forget(_:)`` resets it.
/// - Delayed adds (backoff, TTL wake-ups) wait in a heap until due; the earliest deadline wins.
///
/// Time is passed in, never read, so the queue is a plain value that tests drive directly.
struct WorkQueue<Key: Hashable> {
    private var queue = Deque<Key>()
    /// Keys queued or to be queued again once processed, with when they were first added.
    private var dirty: [Key: MonotonicInstant] = [:]
    /// Queued keys whose next reconcile may be limited to these parts (namespaces); a key
    /// queued without an entry here is reconciled whole.
    private var parts: [Key: Set<String>] = [:]
    private var processing: Set<Key> = []
    private var failures: [Key: Int] = [:]
    private var waiting = Heap<Delayed>()
    private var deadlines: [Key: MonotonicInstant] = [:]
    private var sequence = 0
    let backoff: KeyBackoff

    init(backoff: KeyBackoff = KeyBackoff()) {
        self.backoff = backoff
    }

    /// Keys ready to be handed out.
    var readyCount: Int { queue.count }
    /// Keys waiting: ready to be handed out, or delayed (a key both queued and delayed counts
    /// twice; cheap to read on every change, which matters more for a gauge).
    var depth: Int { dirty.count + deadlines.count }
    var processingCount: Int { processing.count }
    /// The earliest deadline of a delayed key.
    var nextDeadline: MonotonicInstant? { waiting.min?.deadline }

    func failureCount(_ key: Key) -> Int { failures[key] ?? 0 }

    /// Queues `key` (once), unless it is already queued; it is reconciled whole.
    mutating func add(_ key: Key, now: MonotonicInstant) {
        parts[key] = nil
        guard dirty[key] == nil else { return }
        dirty[key] = now
        if !processing.contains(key) {
            queue.append(key)
        }
    }

    /// Queues `key` for some parts only: unless it is already queued whole, its next reconcile
    /// may be limited to these and to any other parts queued meanwhile.
    mutating func add(_ key: Key, parts added: Set<String>, now: MonotonicInstant) {
        if dirty[key] != nil {
            parts[key]?.formUnion(added)
            return
        }
        parts[key] = added
        dirty[key] = now
        if !processing.contains(key) {
            queue.append(key)
        }
    }

    /// Queues `key` after `delay` (at once if `delay` is not positive). A key already waiting
    /// keeps the earlier of its two deadlines.
    mutating func add(_ key: Key, after delay: Duration, now: MonotonicInstant) {
        guard delay > .zero else {
            add(key, now: now)
            return
        }
        let deadline = now + delay
        if let existing = deadlines[key], existing <= deadline { return }
        deadlines[key] = deadline
        sequence += 1
        waiting.insert(Delayed(deadline: deadline, sequence: sequence, key: key))
    }

    /// Records a failure of `key` and queues it after its backoff; returns the delay.
    @discardableResult
    mutating func addRateLimited(_ key: Key, now: MonotonicInstant, random: () -> Double) -> Duration {
        let count = (failures[key] ?? 0) + 1
        failures[key] = count
        let delay = backoff.delay(failures: count, random: random())
        add(key, after: delay, now: now)
        return delay
    }

    /// Clears the failure history of `key` (after a success).
    mutating func forget(_ key: Key) {
        failures[key] = nil
    }

    /// Moves every delayed key whose deadline has come into the queue.
    mutating func promoteDue(now: MonotonicInstant) {
        while let first = waiting.min, first.deadline <= now {
            waiting.removeMin()
            guard deadlines[first.key] == first.deadline else { continue } // superseded by an earlier one
            deadlines[first.key] = nil
            add(first.key, now: now)
        }
    }

    /// Hands out the next key, when it was first added, and the parts it was queued for (nil:
    /// the whole key); it is processing until ``done``.
    mutating func next() -> (key: Key, queuedAt: MonotonicInstant, parts: Set<String>?)? {
        guard let key = queue.popFirst() else { return nil }
        // A key enters the queue only with its add time recorded.
        guard let queuedAt = dirty.removeValue(forKey: key) else { preconditionFailure("queued key \(key) without its add time") }
        processing.insert(key)
        return (key, queuedAt, parts.removeValue(forKey: key))
    }

    /// Ends processing of `key`; if it was added meanwhile, it is queued again.
    mutating func done(_ key: Key) {
        processing.remove(key)
        if dirty[key] != nil {
            queue.append(key)
        }
    }

    /// Drops every key and failure record (the engine stops).
    mutating func removeAll() {
        queue.removeAll()
        dirty.removeAll()
        parts.removeAll()
        failures.removeAll()
        waiting = Heap()
        deadlines.removeAll()
    }

    private struct Delayed: Comparable {
        var deadline: MonotonicInstant
        var sequence: Int
        var key: Key

        static func < (a: Delayed, b: Delayed) -> Bool {
            (a.deadline, a.sequence) < (b.deadline, b.sequence)
        }

        static func == (a: Delayed, b: Delayed) -> Bool {
            a.deadline == b.deadline && a.sequence == b.sequence
        }
    }
}

/// Per-key exponential backoff: `base × 2^(failures−1)`, capped, then stretched by a random
/// jitter of up to `jitter` of itself (and capped again) so that keys which failed together
/// (an API server restart) do not come back together. client-go's defaults: 5 ms, 1000 s.
public struct KeyBackoff: Sendable, Equatable {
    public var base: Duration
    public var cap: Duration
    /// 0.5: a delay is drawn from [d, 1.5 d).
    public var jitter: Double

    public init(base: Duration = .milliseconds(5), cap: Duration = .seconds(1000), jitter: Double = 0.5) {
        self.base = base
        self.cap = cap
        self.jitter = jitter
    }

    /// The delay after the `failures`-th failure in a row; `random` is in [0, 1).
    public func delay(failures: Int, random: Double) -> Duration {
        let exponent = min(max(failures - 1, 0), 62)
        let raw = base.seconds * Double(UInt64(1) << UInt64(exponent))
        let capped = min(raw, cap.seconds)
        return .seconds(min(capped * (1 + jitter * random), cap.seconds))
    }
}

extension Duration {
    /// The duration in seconds, as a Double.
    var seconds: Double {
        let (s, attoseconds) = components
        return Double(s) + Double(attoseconds) / 1e18
    }
}
