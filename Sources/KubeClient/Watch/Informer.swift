import KubeWire
import Logging
import SpillwayReactor

/// What an informer tells its consumer, in order, on the reactor thread.
///
/// The informer keeps no store of its own (100,000 unrelated Secrets must cost the daemon
/// nothing): the consumer keeps what it cares about. A (re)list is bracketed: `replaceBegin`,
/// then `listed` for every object that exists, then `replaceEnd` — at which point every key the
/// consumer keeps that was not listed since `replaceBegin` is gone. A `replaceBegin` may come
/// again before `replaceEnd` (a list that failed half-way is started over): start over then too.
public enum InformerEvent: Sendable {
    case replaceBegin
    case listed(KubeObject)
    case replaceEnd
    case added(KubeObject)
    case modified(KubeObject)
    case deleted(KubeObject)
}

/// List+watch of one resource with client-go's reflector algorithm (docs/kubernetes.md §1):
/// list (paged, or a streaming list where the server supports it, falling back to LIST on 422),
/// then watch from the list's resourceVersion with bookmarks; resume from the last seen
/// resourceVersion after a normal close; relist at once on 410 Expired (and after a watch that
/// closed within a second with no event); back off exponentially with jitter on failures, capped
/// at 2 s and cut short when another request reaches the server; restart a watch that delivered
/// no byte for longer than the server promised to keep it open (a hung server must not leave the
/// daemon blind; a dead connection is noticed sooner by TCP keepalive, which fails the transfer).
public final class Informer {
    public struct Options: Sendable {
        public var resource: Resource
        /// Nil watches all namespaces.
        public var namespace: String?
        public var list: ListOptions
        /// Use a streaming list (sendInitialEvents) while the server accepts it.
        public var streamingList: Bool
        /// A watch that delivers no byte (not even a bookmark) for this long is restarted.
        /// Nil (the default): the watch's own `timeoutSeconds` plus `idleSlack`. A
        /// real kube-apiserver bookmarks a watch only when its resource's resourceVersion moved,
        /// so a quiet resource's watch may carry nothing until the server ends it at its timeout;
        /// a shorter timer would reopen healthy watches, one request each, all day.
        public var idleTimeout: Duration?
        /// How long past its own `timeoutSeconds` a silent watch is kept before it is presumed
        /// dead: the server ends a watch at its timeout, with a last bookmark 2 s before.
        public var idleSlack: Duration = defaultIdleSlack
        public static let defaultIdleSlack: Duration = .seconds(30)
        /// `timeoutSeconds` of each watch is drawn from this range (client-go: 300..<600).
        public var watchTimeoutSeconds: Range<Int>
        public static let defaultWatchTimeoutSeconds = 300..<600
        public var backoff: Backoff
        /// A 410 Expired relists at once, but at most once per this interval: a server that
        /// answers every watch with 410 makes the informer back off instead of spin.
        public var immediateRelistInterval: Duration

        public init(
            resource: Resource, namespace: String? = nil, selectors: Selectors = .init(), metadataOnly: Bool = false,
            streamingList: Bool = true, idleTimeout: Duration? = nil,
            watchTimeoutSeconds: Range<Int> = defaultWatchTimeoutSeconds, backoff: Backoff = Backoff(),
            immediateRelistInterval: Duration = .seconds(10)
        ) {
            self.resource = resource
            self.namespace = namespace
            self.list = ListOptions(selectors: selectors, metadataOnly: metadataOnly)
            self.streamingList = streamingList
            self.idleTimeout = idleTimeout
            self.watchTimeoutSeconds = watchTimeoutSeconds
            self.backoff = backoff
            self.immediateRelistInterval = immediateRelistInterval
        }
    }

    /// Counters for tests and metrics.
    public struct Statistics: Sendable {
        public var lists = 0
        public var streamingLists = 0
        public var watches = 0
        public var relists = 0
        public var idleRestarts = 0
        public var streamErrors = 0
        public var events = 0
        /// Watched objects delivered with their metadata alone, because `wantsBody` said no.
        public var bodiesSkipped = 0
        /// Retries started early because another request reached the server.
        public var earlyRetries = 0
    }

    public let options: Options
    /// For a full-object informer: asked, at the moment each watched object is delivered,
    /// whether its body is wanted. False delivers the object with its metadata alone
    /// (`object` nil) and its body is never built — for a consumer that already holds that
    /// version (the echo of its own write). Nil: every body is built. Set before `start`.
    public var wantsBody: ((ObjectMeta) -> Bool)?
    public private(set) var statistics = Statistics()
    /// True once the first full list has been delivered (`replaceEnd`).
    public private(set) var hasSynced = false
    /// The resourceVersion the next watch resumes from.
    public private(set) var resourceVersion: String?

    private let client: KubeClient
    private let handler: (InformerEvent) -> Void
    private let logger: Logger
    private var running = false
    private var backoff: Backoff
    private var streamingSupported: Bool
    /// Relist (rather than resume) at the next start; `expired` makes the list consistent ("").
    private var needsList = true
    private var expired = false
    private var watchCall: Call?
    private var listing = false
    private var timer: ReactorSource?
    private var idleTimer: ReactorSource?
    private var lastByte: MonotonicInstant
    /// The idle limit of the current watch (see ``Options/idleTimeout``).
    private var idleLimit: Duration = .seconds(600)
    private var watchOpenedAt: MonotonicInstant?
    private var eventsThisWatch = 0
    private var inInitialEvents = false
    /// Bumped on every start/stop so callbacks of a superseded list or watch are ignored.
    private var generation = 0
    /// When a 410 last made the informer relist at once.
    private var lastImmediateRelist: MonotonicInstant?
    /// Registered with the client while waiting out a backoff after an unreachable server.
    private var reachabilityWaiter: Int?
    /// The failure last logged, until the stream is healthy again.
    private var lastFailure: String?

    /// The longest a healthy watch of `options` can stay silent: the longest timeout drawn plus
    /// the slack. A client whose watches work hears from the server at least this often.
    public static func longestSilence(of options: Options) -> Duration {
        options.idleTimeout ?? .seconds(options.watchTimeoutSeconds.upperBound) + options.idleSlack
    }

    /// `handler` receives events on the reactor thread. Call `start` on the reactor thread.
    public init(client: KubeClient, options: Options, handler: @escaping (InformerEvent) -> Void) {
        self.client = client
        self.options = options
        self.handler = handler
        self.backoff = options.backoff
        self.streamingSupported = options.streamingList
        self.logger = client.logger
        self.lastByte = client.transport.now
    }

    public func start() {
        guard !running else { return }
        running = true
        cycle()
    }

    /// Stops listing and watching; no event is delivered after it returns.
    public func stop() {
        running = false
        generation += 1
        if let c = watchCall { client.cancel(c) }
        watchCall = nil
        listing = false
        cancelTimers()
    }

    private func cancelTimers() {
        if let w = reachabilityWaiter { client.forgetReachabilityWaiter(w) }
        reachabilityWaiter = nil
        if let t = timer { client.transport.cancelTimer(t) }
        if let t = idleTimer { client.transport.cancelTimer(t) }
        timer = nil
        idleTimer = nil
    }

    private var meta: Logger.Metadata { ["resource": "\(options.resource)", "namespace": "\(options.namespace ?? "*")"] }

    private func cycle() {
        guard running else { return }
        if needsList {
            if streamingSupported { watch(streaming: true) } else { list() }
        } else {
            watch(streaming: false)
        }
    }

    /// Waits `delay`, then lists or watches again. With `early`, a success of any other request
    /// (the server is back) ends the wait at once.
    private func retry(after delay: Duration, early: Bool = false) {
        guard running else { return }
        generation += 1
        let g = generation
        timer = client.transport.schedule(after: delay) { [weak self] in
            guard let self, g == self.generation else { return }
            self.timer = nil
            if let w = self.reachabilityWaiter { self.client.forgetReachabilityWaiter(w) }
            self.reachabilityWaiter = nil
            self.cycle()
        }
        guard early else { return }
        reachabilityWaiter = client.whenServerAnswers { [weak self] in
            guard let self, g == self.generation, self.running else { return }
            self.reachabilityWaiter = nil
            if let t = self.timer { self.client.transport.cancelTimer(t) }
            self.timer = nil
            self.statistics.earlyRetries += 1
            self.logger.debug("the API server answers again; retrying now", metadata: self.meta)
            self.cycle()
        }
    }

    /// A list or watch failed: back off (capped at a few seconds) and try again. `unreachable`
    /// failures (no answer from the server) also end early when another request succeeds.
    private func failed(_ why: String, relist: Bool, unreachable: Bool = false) {
        if relist { needsList = true }
        let delay = backoff.next(now: client.transport.now)
        // Retries come every second or two while the server is away: a lasting failure is
        // said once, and again only when it changes.
        logger.log(level: why == lastFailure ? .debug : .info, "\(why); retrying in \(delay)", metadata: meta)
        lastFailure = why
        retry(after: delay, early: unreachable)
    }

    /// The server no longer holds the history to resume from (410): list again, from a
    /// consistent read, at once — a restarted API server answers every old watch this way and a
    /// backoff would only keep the daemon blind. At once only once per
    /// `immediateRelistInterval`: a server that keeps answering 410 gets the backoff.
    private func historyExpired(_ why: String) {
        needsList = true
        expired = true
        let now = client.transport.now
        if let last = lastImmediateRelist, now - last < options.immediateRelistInterval {
            failed("\(why), again", relist: true)
            return
        }
        lastImmediateRelist = now
        logger.info("\(why); listing again", metadata: meta)
        retry(after: .zero)
    }

    /// The stream delivers: past failures are forgotten.
    private func healthy() {
        if backoff.isBackingOff { backoff.reset() }
        lastFailure = nil
    }

    private static func unreachable(_ error: KubeClientError) -> Bool {
        if case .transport = error { return true }
        return false
    }

    // MARK: list

    private func list() {
        generation += 1
        let g = generation
        listing = true
        statistics.lists += 1
        if hasSynced { statistics.relists += 1 }
        let rv = expired ? "" : "0"
        handler(.replaceBegin)
        let completion: (Result<String, KubeClientError>) -> Void = { [weak self] result in
            guard let self, g == self.generation else { return }
            self.listing = false
            switch result {
            case .success(let listRV):
                self.handler(.replaceEnd)
                self.hasSynced = true
                self.resourceVersion = listRV
                self.needsList = false
                self.expired = false
                self.cycle()
            case .failure(let e) where e.status?.isExpired == true:
                self.historyExpired("list failed: \(e)")
            case .failure(let e):
                self.failed("list failed: \(e)", relist: true, unreachable: Self.unreachable(e))
            }
        }
        if options.list.metadataOnly {
            // Straight into ObjectMeta: the items' other fields are never built.
            listPages(rv, generation: g, decode: KubeClient.decodeMetadataListPage, object: { KubeObject(metadata: $0, object: nil) },
                      completion: completion)
        } else {
            listPages(rv, generation: g, decode: KubeClient.decodeListPage, object: { KubeObject(json: $0, keepBody: true) },
                      completion: completion)
        }
    }

    /// The pages of one list, each item delivered as `object` makes it (nil: skipped).
    private func listPages<Item>(
        _ rv: String, generation g: Int,
        decode: @escaping ([UInt8]) -> Result<KubeClient.DecodedListPage<Item>, ListDecodingError>,
        object: @escaping (Item) -> KubeObject?, completion: @escaping (Result<String, KubeClientError>) -> Void
    ) {
        client.listPages(options.resource, namespace: options.namespace, options: options.list, resourceVersion: rv,
                         decode: decode) { [weak self] items, restarted in
            guard let self, g == self.generation else { return }
            if restarted { self.handler(.replaceBegin) }
            for item in items {
                if let o = object(item) { self.handler(.listed(o)) }
            }
        } completion: { completion($0) }
    }

    // MARK: watch

    private func watch(streaming: Bool) {
        generation += 1
        let g = generation
        statistics.watches += 1
        if streaming {
            statistics.streamingLists += 1
            if hasSynced { statistics.relists += 1 }
        }
        eventsThisWatch = 0
        watchOpenedAt = nil
        inInitialEvents = streaming
        let timeoutSeconds = Int.random(in: options.watchTimeoutSeconds)
        idleLimit = options.idleTimeout ?? .seconds(timeoutSeconds) + options.idleSlack
        let request = WatchRequest(
            resource: options.resource, namespace: options.namespace, options: options.list,
            resourceVersion: streaming ? (expired ? nil : resourceVersion) : resourceVersion,
            timeoutSeconds: timeoutSeconds, sendInitialEvents: streaming,
            deferObjects: !options.list.metadataOnly && wantsBody != nil)
        let keepBody = !options.list.metadataOnly
        lastByte = client.transport.now
        watchCall = client.watch(request) { [weak self] in
            guard let self, g == self.generation else { return }
            self.watchOpenedAt = self.client.transport.now
            if streaming { self.handler(.replaceBegin) }
            self.armIdleTimer(g)
        } bytes: { [weak self] in
            self?.lastByte = self?.client.transport.now ?? MonotonicInstant.now
        } event: { [weak self] event in
            guard let self, g == self.generation else { return }
            self.handle(event, keepBody: keepBody, generation: g)
        } closed: { [weak self] error in
            guard let self, g == self.generation else { return }
            self.watchCall = nil
            if let t = self.idleTimer { self.client.transport.cancelTimer(t); self.idleTimer = nil }
            self.watchClosed(error, streaming: streaming)
        }
    }

    private func handle(_ event: WatchEvent, keepBody: Bool, generation g: Int) {
        if event.kind == .error {
            let object = event.object ?? .null
            let status = StatusError(status: object) ?? StatusError(code: 500, reason: "", message: object.jsonString)
            abortWatch(g)
            if status.isExpired {
                restarted(.expired)
                historyExpired("watch history expired (\(status.message))")
            } else {
                restarted(.error)
                failed("watch error event: \(status)", relist: false)
            }
            return
        }
        healthy()
        if event.kind == .bookmark {
            if !event.resourceVersion.isEmpty { resourceVersion = event.resourceVersion }
            if inInitialEvents && event.isInitialEventsEnd {
                inInitialEvents = false
                handler(.replaceEnd)
                hasSynced = true
                needsList = false
                expired = false
            }
            return
        }
        guard let metadata = event.metadata else {
            abortWatch(g)
            statistics.streamErrors += 1
            restarted(.error)
            failed("watch \(event.kind.rawValue) event carried an object without metadata.name", relist: false)
            return
        }
        let skipsBody = keepBody && wantsBody?(metadata) == false
        if skipsBody { statistics.bodiesSkipped += 1 }
        let body = keepBody && !skipsBody ? event.wholeObject() : nil
        let object = KubeObject(metadata: metadata, object: body)
        eventsThisWatch += 1
        statistics.events += 1
        if !object.metadata.resourceVersion.isEmpty { resourceVersion = object.metadata.resourceVersion }
        switch event.kind {
        case .added: handler(inInitialEvents ? .listed(object) : .added(object))
        case .modified: handler(.modified(object))
        case .deleted: handler(.deleted(object))
        case .bookmark, .error: break
        }
    }

    /// Ends the current watch without its close callback (superseded by generation).
    private func abortWatch(_ g: Int) {
        if let c = watchCall { client.cancel(c) }
        watchCall = nil
        if let t = idleTimer { client.transport.cancelTimer(t); idleTimer = nil }
        if g == generation { generation += 1 }
    }

    private func watchClosed(_ error: KubeClientError?, streaming: Bool) {
        guard running else { return }
        // A streaming list that ended before its initial-events-end bookmark left `needsList`
        // set: the next attempt lists again from scratch.
        switch error {
        case nil:
            restarted(.closed)
            let now = client.transport.now
            if let opened = watchOpenedAt, now - opened < .seconds(1), eventsThisWatch == 0 {
                // client-go: a watch that closes at once with nothing to say hides a problem.
                failed("watch closed within a second without events", relist: true)
            } else {
                cycle()
            }
        case .api(let s) where streaming && (s.code == 422 || (s.code == 400 && s.message.contains("sendInitialEvents"))):
            logger.info("server does not support streaming lists (\(s.code)); using LIST", metadata: meta)
            streamingSupported = false
            cycle()
        case .api(let s) where s.isExpired:
            restarted(.expired)
            historyExpired("watch history expired (\(s.message))")
        case .decoding(let m):
            statistics.streamErrors += 1
            restarted(.error)
            failed("watch stream rejected: \(m)", relist: false)
        case let e?:
            restarted(.error)
            failed("watch failed: \(e)", relist: false, unreachable: Self.unreachable(e))
        }
    }

    /// The watch ended for `reason` and is started again (a streaming list the server refuses
    /// is not: that is the negotiation of how to list, once).
    private func restarted(_ reason: WatchRestartReason) {
        client.observer?.watchRestarted(resource: options.resource, reason: reason)
    }

    // MARK: idle detection

    private func armIdleTimer(_ g: Int) {
        let deadline = idleLimit - (client.transport.now - lastByte)
        idleTimer = client.transport.schedule(after: max(deadline, .milliseconds(1))) { [weak self] in
            guard let self, g == self.generation else { return }
            self.idleTimer = nil
            if self.client.transport.now - self.lastByte >= self.idleLimit {
                self.statistics.idleRestarts += 1
                self.restarted(.idle)
                self.logger.warning("watch delivered nothing for \(self.idleLimit); restarting it", metadata: self.meta)
                self.abortWatch(g)
                self.cycle()
            } else {
                self.armIdleTimer(g)
            }
        }
    }
}
