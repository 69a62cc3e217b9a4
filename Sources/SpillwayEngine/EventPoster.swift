import FoundationEssentials
import KubeClient
import KubeWire
import Logging
import SpillwayLoop

/// Posts the engine's Events (events.k8s.io/v1) best-effort: a post that fails for a reason
/// that may pass (no answer, 429, 5xx, 408) is tried again after a backoff, a few times; one
/// the API refuses for good (403 without RBAC for events, 404 namespace gone, 422) is not.
/// After the last attempt, or when too many retries already wait, the Event is dropped, logged
/// and counted (`spillway_events_dropped_total`).
///
/// Posts never hold up a reconcile or a replica write: they are sent at once (the client's
/// in-flight bound is shared, but Events are a small fraction of the traffic), and retries
/// wait on reactor timers, at most ``EventRetry/maxWaiting`` at a time. Confined to the reactor
/// thread.
final class EventPoster {
    struct Post {
        var namespace: String
        var body: JSONValue
        /// `namespace/name` of the source, for the log.
        var source: String
        var reason: String
        var attempt = 1
    }

    private let reactor: any EventLoop
    private let client: KubeClient
    private let logger: Logger
    private let metrics: EngineMetrics
    let policy: EventRetry
    /// In [0, 1): jitter of the backoff.
    var random: () -> Double = { Double.random(in: 0..<1) }

    /// Posts sent and not answered yet.
    private(set) var inFlight = 0
    /// Failed posts waiting for their next attempt.
    private(set) var waiting = 0
    /// Events given up on since start.
    private(set) var dropped = 0
    private var stopped = false

    /// Posts not settled yet (sent, or waiting to be sent again).
    var pending: Int { inFlight + waiting }

    init(reactor: any EventLoop, client: KubeClient, logger: Logger, metrics: EngineMetrics, policy: EventRetry = EventRetry()) {
        self.reactor = reactor
        self.client = client
        self.logger = logger
        self.metrics = metrics
        self.policy = policy
    }

    func post(_ post: Post) {
        guard !stopped else { return }
        inFlight += 1
        client.create(.events, namespace: post.namespace, object: post.body) { [weak self] result in
            guard let self else { return }
            self.inFlight -= 1
            switch result {
            case .success:
                break
            case .failure(.api(let status)) where status.isAlreadyExists && post.attempt > 1:
                // An earlier attempt got through after all (its answer was lost).
                break
            case .failure(let error):
                self.failed(post, error)
            }
        }
    }

    /// Drops the waiting retries; posts in flight finish unobserved.
    func stop() {
        stopped = true
    }

    private func failed(_ post: Post, _ error: KubeClientError) {
        guard !stopped else { return }
        guard Self.mayPass(error) else {
            drop(post, "refused: \(error)")
            return
        }
        guard post.attempt < policy.attempts else {
            drop(post, "failed \(post.attempt) times, last: \(error)")
            return
        }
        guard waiting < policy.maxWaiting else {
            drop(post, "\(waiting) failed Events already wait to be posted again; last error: \(error)")
            return
        }
        let base = policy.backoff * (1 << (post.attempt - 1))
        let delay = base + base * random()
        logger.debug("posting an event failed; retrying in \(delay)", metadata: [
            "source": "\(post.source)", "reason": "\(post.reason)", "attempt": "\(post.attempt)", "error": "\(error)",
        ])
        var next = post
        next.attempt += 1
        waiting += 1
        do {
            try reactor.schedule(after: delay) { [weak self] in
                guard let self else { return }
                self.waiting -= 1
                self.post(next)
            }
        } catch {
            waiting -= 1
            drop(post, "cannot schedule a retry (\(error))")
        }
    }

    private func drop(_ post: Post, _ why: String) {
        dropped += 1
        metrics.eventDropped()
        logger.warning("event dropped: \(why)", metadata: [
            "source": "\(post.source)", "reason": "\(post.reason)", "action": "event", "events_dropped": "\(dropped)",
        ])
    }

    /// Whether a later attempt may succeed: no answer, or an answer that says "not now".
    static func mayPass(_ error: KubeClientError) -> Bool {
        switch error {
        case .transport: true
        case .api(let status): status.code == 408 || status.code == 429 || status.code >= 500
        case .decoding, .credentials, .cancelled: false
        }
    }
}
