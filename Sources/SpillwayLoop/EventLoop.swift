/// The event loop as the layers above the reactor see it: monotonic time, timers and work
/// deferred to the end of the current turn, all on the loop's one thread.
///
/// `SpillwayReactor.Reactor` is the implementation (epoll and timerfd in the C shim); the
/// engine and the daemon's services program against this protocol, so they never reach the
/// shim and a test can hand them any loop.
public protocol EventLoop: AnyObject {
    /// Now on `CLOCK_MONOTONIC`, the clock of every timer.
    var now: MonotonicInstant { get }

    /// Runs `work` on the loop after the current dispatch, in the order queued.
    func runSoon(_ work: @escaping () -> Void)

    /// Calls `work` at `deadline`, and then every `interval` if one is given. Fails only when
    /// the loop cannot hold another timer (resource exhaustion).
    @discardableResult
    func schedule(at deadline: MonotonicInstant, repeating interval: Duration?, _ work: @escaping () -> Void) throws -> LoopTimer

    /// Removes a timer; its work is never called again. Cancelling twice, or a one-shot timer
    /// that already fired, does nothing.
    func cancel(_ timer: LoopTimer)
}

extension EventLoop {
    /// Calls `work` after `delay`, and then every `interval` if one is given.
    @discardableResult
    public func schedule(after delay: Duration, repeating interval: Duration? = nil, _ work: @escaping () -> Void) throws -> LoopTimer {
        try schedule(at: now + delay, repeating: interval, work)
    }

    @discardableResult
    public func schedule(at deadline: MonotonicInstant, _ work: @escaping () -> Void) throws -> LoopTimer {
        try schedule(at: deadline, repeating: nil, work)
    }
}

/// A timer of an ``EventLoop``, to cancel it.
public struct LoopTimer: Hashable, Sendable {
    public let id: UInt64
    public init(id: UInt64) { self.id = id }
}
