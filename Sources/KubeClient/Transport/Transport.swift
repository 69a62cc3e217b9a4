import Logging
import SpillwayReactor

/// The client's view of the event loop: the reactor's HTTP client, its timers and its clock,
/// with the TLS material and request shape the API server needs. Confined to the reactor thread
/// except `post`.
final class Transport {
    let reactor: Reactor
    let http: HTTPClient
    let logger: Logger
    /// Thread-safe: runs its argument on the reactor thread soon.
    let post: @Sendable (@escaping @Sendable () -> Void) -> Void

    init(reactor: Reactor, logger: Logger) throws {
        self.reactor = reactor
        self.http = try HTTPClient(reactor: reactor)
        self.logger = logger
        let remote = reactor.remote
        self.post = { remote.post($0) }
    }

    var now: MonotonicInstant { reactor.now }

    /// Calls `body` after `delay` on the reactor thread.
    func schedule(after delay: Duration, _ body: @escaping () -> Void) -> ReactorSource? {
        do {
            return try reactor.addTimer(after: max(delay, .zero), handler: body)
        } catch {
            // Only resource exhaustion makes the timer heap refuse; running the work at once
            // is better than losing it.
            logger.error("reactor refused a timer (\(error)); running the work now")
            reactor.runSoon(body)
            return nil
        }
    }

    func cancelTimer(_ source: ReactorSource?) {
        if let source { reactor.cancel(source) }
    }
}
