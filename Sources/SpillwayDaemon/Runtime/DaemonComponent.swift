/// What the daemon runs: the engine and leader election plug in here. All calls happen on the
/// daemon's loop thread.
public protocol DaemonComponent: AnyObject {
    /// Starts work; called once logging, metrics, endpoints and signal handling are up.
    func start(_ runtime: DaemonRuntime) throws
    /// Takes a new configuration after SIGHUP (already validated).
    func reload(_ settings: Settings)
    /// Stops work (release the lease, finish in-flight writes) and then calls `done`, possibly
    /// later from the loop. Components stop in reverse start order.
    func stop(_ done: @escaping () -> Void)
}
