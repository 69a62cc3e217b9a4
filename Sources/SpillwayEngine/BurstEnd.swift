import SpillwayLoop

/// Notices the end of a burst of work: the initial lists or a relist read, or at least `work` reconciles
/// and replica writes, followed by `quiet` without either and with no request outstanding. The
/// buffers of such a burst (list pages, request and answer bodies) are freed by then, but malloc
/// keeps the pages they used; the end of a burst is when the daemon hands them back
/// (``Engine/onBurstEnd``).
///
/// A piece of work costs a counter and a clock read; the timer is armed once per burst and,
/// when it fires while work goes on, re-armed for what is left of the quiet.
struct BurstEnd {
    let work: Int
    let quiet: Duration
    private var workSinceEnd = 0
    private var burst = false
    private var lastWork: MonotonicInstant?
    private(set) var armed = false

    init(work: Int = 1000, quiet: Duration = .seconds(2)) {
        self.work = work
        self.quiet = quiet
    }

    /// The initial lists, or one informer's relist, were read: a burst in itself. Returns whether to arm the timer.
    mutating func listed(now: MonotonicInstant) -> Bool {
        burst = true
        lastWork = now
        return arm()
    }

    /// A reconcile started, or a replica write finished. Returns whether to arm the timer.
    mutating func worked(now: MonotonicInstant) -> Bool {
        workSinceEnd += 1
        lastWork = now
        if workSinceEnd >= work { burst = true }
        return burst && arm()
    }

    /// The timer fired (`busy`: requests or writes are outstanding): nil when the burst is over (and
    /// forgotten), else how long to wait on.
    mutating func fired(now: MonotonicInstant, busy: Bool) -> Duration? {
        armed = false
        let since = lastWork.map { $0.duration(to: now) } ?? quiet
        if busy || since < quiet {
            armed = true
            return busy ? quiet : quiet - since
        }
        forget()
        return nil
    }

    /// Forgets the burst in progress (its end will not be reported); counting starts again.
    mutating func forget() {
        armed = false
        burst = false
        workSinceEnd = 0
    }

    private mutating func arm() -> Bool {
        guard !armed else { return false }
        armed = true
        return true
    }
}
