// The reactor's API speaks SpillwayLoop's time (MonotonicInstant), so its users get it with it.
@_exported import SpillwayLoop

/// The reactor is the daemon's ``EventLoop``: the engine and the services schedule on it
/// through that protocol and never see the C shim.
extension Reactor: EventLoop {
    @discardableResult
    public func schedule(at deadline: MonotonicInstant, repeating interval: Duration?, _ work: @escaping () -> Void) throws -> LoopTimer {
        LoopTimer(id: try addTimer(at: deadline, repeating: interval, handler: work).id)
    }

    public func cancel(_ timer: LoopTimer) {
        cancel(ReactorSource(id: timer.id))
    }
}
