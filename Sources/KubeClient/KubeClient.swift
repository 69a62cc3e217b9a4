import DequeModule
import FoundationEssentials
import KubeWire
import Logging
import SpillwayReactor

/// A Kubernetes API client on the reactor.
///
/// Every method takes a completion that is called on the reactor thread, and must itself be
/// called on the reactor thread (the async conveniences in `KubeClient+Async.swift` may be called
/// from anywhere). Requests share the reactor's HTTP/2 connections; watches and writes multiplex.
/// Every request's completion is called exactly once: releasing the client completes the
/// requests it still owes with `.cancelled`.
///
/// It is `@unchecked Sendable` only so that the async conveniences can hop onto the reactor
/// thread with it; its state is touched on that thread alone, which debug builds check at every
/// entry point (a call from another thread traps).
public final class KubeClient: @unchecked Sendable {
    public let configuration: ClientConfiguration
    public let rateLimit: RateLimitConfiguration
    let transport: Transport
    let authenticator: Authenticator
    let logger: Logger

    private var bucket: TokenBucket?
    private var bucketTimer: ReactorSource?
    private var inFlight = 0
    private var waiting = Deque<Call>()
    /// Calls waiting for their retry timer.
    private var retrying: [ObjectIdentifier: Call] = [:]
    private(set) var stats = Statistics()
    /// Waiting out a backoff after the server could not be reached (informers): run once when
    /// any request is next answered with a success, so that a server that is back is used at
    /// once rather than at the next timer.
    private var reachabilityWaiters: [Int: () -> Void] = [:]
    private var nextWaiter = 0

    /// Told about every request attempt and watch restart (metrics). Set it on the reactor thread.
    public var observer: (any KubeClientObserver)?
    /// What this client's own traffic says about the server (``ServerContact``).
    public internal(set) var contact: ServerContact
    /// Called on the reactor thread when ``contact`` changes its verdict (``ServerContact/problem``
    /// and what makes it up; not each time the server is heard from).
    public var onContactChange: ((ServerContact) -> Void)?

    /// Counters for tests, metrics and benchmarks.
    public struct Statistics: Sendable {
        public var requests = 0
        public var retries = 0
        public var refreshesAfter401 = 0
    }

    /// A client for `configuration` on `reactor`. Reads every file the configuration names now
    /// (a missing CA, key or token file is a configuration error before any request); call it
    /// on the reactor thread.
    public init(
        configuration: ClientConfiguration, reactor: Reactor, rateLimit: RateLimitConfiguration = .init(),
        logger: Logger = Logger(label: "spillway.kubeclient")
    ) throws {
        let transport = try Transport(reactor: reactor, logger: logger)
        self.configuration = configuration
        self.rateLimit = rateLimit
        self.transport = transport
        self.logger = logger
        self.authenticator = try Authenticator(
            config: configuration, now: { [unowned transport] in transport.now },
            offload: { [post = transport.post] work, done in
                let box = ReactorBound(done)
                detachThread {
                    let r = ReactorBound(work())
                    post { box.value(r.value) }
                }
            })
        self.contact = ServerContact(lastHeard: transport.now)
        if let qps = rateLimit.qps {
            bucket = TokenBucket(qps: qps, burst: rateLimit.burst, now: transport.now)
        }
    }

    deinit {
        // What is in flight on the HTTP client ends with it (as cancelled, through `begin`'s
        // completion); what never got that far is answered here.
        let owed = Array(waiting) + Array(retrying.values)
        waiting.removeAll()
        for call in retrying.values { transport.cancelTimer(call.retryTimer) }
        retrying.removeAll()
        for call in owed { call.completion(.failure(.cancelled)) }
    }

    public var statistics: Statistics { stats }

    /// Requests not yet answered: in flight, waiting their turn or their retry (watches not counted).
    public var requestsOutstanding: Int { inFlight + waiting.count + retrying.count }

    // MARK: - Request pipeline

    func enqueue(_ call: Call) {
        transport.reactor.assertOnLoopThread()
        if call.isWatch {
            begin(call)
        } else {
            waiting.append(call)
            pump()
        }
    }

    private func pump() {
        while inFlight < rateLimit.maxInFlight, let next = waiting.first {
            if next.cancelled {
                waiting.removeFirst()
                next.completion(.failure(.cancelled))
                continue
            }
            if bucket != nil, let wait = bucket!.take(now: transport.now) {
                if bucketTimer == nil {
                    bucketTimer = transport.schedule(after: wait) { [weak self] in
                        self?.bucketTimer = nil
                        self?.pump()
                    }
                }
                return
            }
            waiting.removeFirst()
            inFlight += 1
            begin(next)
        }
    }

    private func begin(_ call: Call) {
        authenticator.credentials { [weak self] result in
            guard let self else { return call.completion(.failure(.cancelled)) }
            if call.cancelled {
                self.finished(call, result: .failure(.cancelled))
                return
            }
            switch result {
            case .failure(let e):
                self.finished(call, result: .failure(e))
            case .success(let creds):
                var headers = call.headers
                if let a = creds.authorization { headers.append(("Authorization", a)) }
                headers.append(("User-Agent", "spillway/1"))
                self.stats.requests += 1
                let tls = TLSOptions(
                    caPEM: creds.caPEM, clientCertificatePEM: creds.clientCertificatePEM, clientKeyPEM: creds.clientKeyPEM,
                    insecureSkipVerify: self.configuration.insecureSkipTLSVerify, serverName: self.configuration.tlsServerName)
                let request = HTTPRequest(
                    method: call.method, url: self.configuration.server + call.path, headers: HTTPHeaders(headers),
                    body: call.body, tls: tls, proxy: self.configuration.proxyURL, connectTimeout: .seconds(30),
                    timeout: call.isWatch ? nil : .seconds(60))
                call.start(request, on: self.transport.http) { [weak self] call in
                    // Counted when the server answers: a watch is counted when it opens, not
                    // when it ends minutes later.
                    guard let self, let status = call.responseStatus else { return }
                    self.observer?.apiRequest(verb: call.verb, status: status)
                    self.heard(call, status: status)
                    if (200..<300).contains(status) { self.serverAnswered() }
                } done: { [weak self] call, result in
                    guard let self else { return call.completion(.failure(.cancelled)) }
                    if call.responseStatus == nil, Self.failedWithoutAnswer(result) {
                        self.observer?.apiRequest(verb: call.verb, status: nil)
                        if case .failure(let error) = result { self.unreachable(error) }
                    }
                    self.finished(call, result: result)
                }
            }
        }
    }

    /// Runs `body` once, on the reactor thread, when a request is next answered with a 2xx.
    /// Returns a token for `forgetReachabilityWaiter`.
    func whenServerAnswers(_ body: @escaping () -> Void) -> Int {
        nextWaiter += 1
        reachabilityWaiters[nextWaiter] = body
        return nextWaiter
    }

    func forgetReachabilityWaiter(_ token: Int) {
        reachabilityWaiters[token] = nil
    }

    private func serverAnswered() {
        guard !reachabilityWaiters.isEmpty else { return }
        let waiters = reachabilityWaiters
        reachabilityWaiters = [:]
        // Not from inside libcurl's header callback: the waiters start transfers of their own.
        transport.reactor.runSoon {
            for (_, body) in waiters.sorted(by: { $0.key < $1.key }) { body() }
        }
    }

    /// Whether an attempt failed in the transport (an attempt we cancelled is no failure).
    private static func failedWithoutAnswer(_ result: Result<Response, KubeClientError>) -> Bool {
        switch result {
        case .success, .failure(.cancelled): return false
        case .failure: return true
        }
    }

    /// A transfer ended: deliver, or retry per policy.
    func finished(_ call: Call, result: Result<Response, KubeClientError>) {
        let release = { [self] in
            if !call.isWatch {
                inFlight -= 1
                pump()
            }
        }
        if call.cancelled {
            release()
            call.completion(.failure(.cancelled))
            return
        }
        switch result {
        case .failure(let e):
            release()
            call.completion(.failure(e))
        case .success(let r) where (200..<300).contains(r.status):
            release()
            call.completion(.success(r))
        case .success(let r):
            let err = StatusError(httpCode: r.status, body: r.body, retryAfterHeader: r.headers["Retry-After"])
            if err.code == 401 && !call.refreshedAfter401 && authenticator.unauthorized() {
                call.refreshedAfter401 = true
                stats.refreshesAfter401 += 1
                logger.info("server answered 401; credentials refreshed, retrying", metadata: ["path": "\(call.path)"])
                begin(call)
                return
            }
            call.attempt += 1
            if !call.isWatch,
               let delay = RetryPolicy.delay(for: err, idempotent: call.idempotent, attempt: call.attempt, maxAttempts: rateLimit.maxAttempts)
            {
                stats.retries += 1
                logger.debug("retrying after server pushback", metadata: ["code": "\(err.code)", "delay": "\(delay)", "path": "\(call.path)"])
                retrying[ObjectIdentifier(call)] = call
                call.retryTimer = transport.schedule(after: delay) { [weak self] in
                    call.retryTimer = nil
                    guard let self else { return call.completion(.failure(.cancelled)) }
                    self.retrying[ObjectIdentifier(call)] = nil
                    self.begin(call)
                }
                return
            }
            release()
            refused(call, err)
            call.completion(.failure(.api(err)))
        }
    }

    /// Cancels a call; its completion reports `.cancelled`.
    func cancel(_ call: Call) {
        transport.reactor.assertOnLoopThread()
        guard !call.cancelled else { return }
        call.cancelled = true
        if let t = call.retryTimer {
            transport.cancelTimer(t)
            call.retryTimer = nil
            retrying[ObjectIdentifier(call)] = nil
            finished(call, result: .failure(.cancelled))
        } else if let t = call.transfer {
            t.cancel()
        }
    }
}

/// Carries a value confined to the reactor thread through a `@Sendable` hop back to it.
struct ReactorBound<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}
