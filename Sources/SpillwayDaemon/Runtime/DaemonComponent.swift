/// What the daemon runs: the engine and leader election plug in here. All calls happen on the
/// daemon's loop thread.
public protocol DaemonComponent: AnyObject {
    /// Starts work; called once logging, metrics, endpoints and signal handling are up.
    func start(_ runtime: DaemonRuntime) throws
    /// Takes a new configuration after SIGHUP (its values already validated). Throws, before
    /// changing anything, when the configuration cannot be used (a kubeconfig that does not
    /// load): the daemon then keeps running with the configuration it had.
    func reload(_ settings: Settings) throws
    /// Stops work (release the lease, finish in-flight writes) and then calls `done`, possibly
    /// later from the loop. Components stop in reverse start order.
    func stop(_ done: @escaping () -> Void)
}
