import DequeModule
import SpillwayLoop

/// Bounds the reconciles in progress at once, per cluster written into
/// (`EngineOptions.maxReconcilesInFlight`).
///
/// A reconcile holds its source's content, its plan and its queued writes until its last write
/// is answered. Started all at once, as a start or a relist hands out every key, a thousand
/// reconciles hold all of that together, and malloc keeps the pages it spanned after it is
/// freed. Keys beyond the bound wait here, in the order the queue handed them out, and start
/// as reconciles of their cluster end. The bound is per cluster so that a target cluster that
/// stops answering, whose reconciles wait for their requests to time out, holds up only its
/// own work.
///
/// A plain value, confined to the reactor thread like the queue it follows.
struct ReconcileAdmission<Item, Partition: Hashable> {
    let limit: Int
    private let partition: (Item) -> Partition
    private var inProgress: [Partition: Int] = [:]
    private var held: [Partition: Deque<Item>] = [:]
    /// Items waiting for room, over all partitions.
    private(set) var heldCount = 0

    init(limit: Int, partition: @escaping (Item) -> Partition) {
        precondition(limit > 0, "the reconcile limit must be positive")
        self.limit = limit
        self.partition = partition
    }

    /// Reconciles in progress in `part`.
    func inProgress(_ part: Partition) -> Int { inProgress[part] ?? 0 }

    /// Whether a held item could start now.
    var canStartHeld: Bool {
        held.contains { inProgress($0.key) < limit }
    }

    /// An item the queue handed out: true when it starts now (and counts as in progress),
    /// false when it is held until its partition has room.
    mutating func offer(_ item: Item) -> Bool {
        let part = partition(item)
        if inProgress(part) < limit && held[part] == nil {
            inProgress[part, default: 0] += 1
            return true
        }
        held[part, default: []].append(item)
        heldCount += 1
        return false
    }

    /// The first held item of a partition with room, now in progress; nil when there is none.
    mutating func nextHeld() -> Item? {
        guard let part = held.first(where: { inProgress($0.key) < limit })?.key else { return nil }
        let item = held[part]!.removeFirst()
        if held[part]!.isEmpty { held[part] = nil }
        heldCount -= 1
        inProgress[part, default: 0] += 1
        return item
    }

    /// A reconcile in `part` ended; returns whether a held item can start in its place.
    mutating func ended(_ part: Partition) -> Bool {
        guard let count = inProgress[part], count > 0 else { return false }
        inProgress[part] = count > 1 ? count - 1 : nil
        return held[part] != nil
    }

    /// Forgets every held item and what is in progress (the engine stops).
    mutating func removeAll() {
        inProgress.removeAll()
        held.removeAll()
        heldCount = 0
    }
}

/// A key of work the queue handed out, as the engine admits it: when it was first added, and
/// the parts (namespaces) it was queued for (nil: the whole key).
struct QueuedWork {
    var key: WorkKey
    var queuedAt: MonotonicInstant
    var parts: Set<String>?
}
