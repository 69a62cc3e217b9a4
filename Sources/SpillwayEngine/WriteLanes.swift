import DequeModule

/// The fair write executor: each source's writes wait in their own lane, and free slots are
/// handed to the lanes in turn (round-robin), with at most `limit` writes in flight overall.
///
/// So a source fanning out to 5,000 namespaces holds at most one place in the rotation: a small
/// source's single write starts after at most one write of every other busy lane, not after
/// the 5,000. Confined to the reactor thread.
final class WriteLanes<Lane: Hashable> {
    /// A write: start it, and call the argument exactly once when it has finished.
    typealias Job = (_ done: @escaping () -> Void) -> Void

    let limit: Int
    private var lanes: [Lane: Deque<Job>] = [:]
    /// Lanes with waiting jobs, in turn order; each appears once.
    private var rotation = Deque<Lane>()
    private(set) var inFlight = 0
    private var pumping = false

    init(limit: Int) {
        precondition(limit > 0, "the write limit must be positive")
        self.limit = limit
    }

    /// Jobs waiting to start, over all lanes.
    var waitingCount: Int { lanes.values.reduce(0) { $0 + $1.count } }

    func submit(_ lane: Lane, _ job: @escaping Job) {
        if lanes[lane] == nil {
            lanes[lane] = Deque()
            rotation.append(lane)
        }
        lanes[lane]!.append(job)
        pump()
    }

    /// Drops every job that has not started (in-flight ones still finish).
    func dropWaiting() {
        lanes.removeAll()
        rotation.removeAll()
    }

    private func pump() {
        // A job may finish synchronously and call back into pump(): the outer loop carries on.
        guard !pumping else { return }
        pumping = true
        defer { pumping = false }
        while inFlight < limit, let lane = rotation.popFirst() {
            let job = lanes[lane]!.removeFirst()
            if lanes[lane]!.isEmpty {
                lanes[lane] = nil
            } else {
                rotation.append(lane)
            }
            inFlight += 1
            var finished = false
            job { [weak self] in
                guard let self, !finished else { return }
                finished = true
                self.inFlight -= 1
                self.pump()
            }
        }
    }
}
