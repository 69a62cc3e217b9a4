import Foundation
import KubeWire
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1

/// One open watch: a store observer that turns committed events into the chunked JSON event
/// stream on its connection. All its state lives on the connection's event loop; the store
/// hands events over with `execute`, so they are written in commit order.
final class WatchStream: StoreObserver, @unchecked Sendable {
    private let plan: WatchPlan
    private let context: ChannelHandlerContext
    private let eventLoop: EventLoop
    private let store: Store
    private let bookmarkInterval: TimeAmount
    private let onEnd: () -> Void
    private var closed = false
    private var silenced = false
    private var sentColumnDefinitions = false
    private var flushScheduled = false
    /// Events written and not handed to the connection yet, coalesced into writes of about
    /// `Self.writeSize` bytes (one DATA frame and, over TLS, one record each) as a real
    /// kube-apiserver's buffered HTTP/2 framer coalesces a burst: a streaming list of 20,000
    /// Secrets from kube-apiserver v1.32 reached a client in records of about 4 KiB, where one
    /// write per event cost the client a dozen times the reads.
    private var pending: ByteBuffer?
    private static let writeSize = 4 * 1024
    /// True while the initial events are written (in batches, over several loop turns); live
    /// events that arrive meanwhile wait in `heldBack`, in commit order.
    private var starting = false
    private var heldBack: [StoreEvent] = []
    private var timers: [Scheduled<Void>] = []
    private var bookmarkTask: RepeatedTask?
    /// Set by the emulator so faults can reach every open watch.
    var registry: WatchRegistry?

    init(plan: WatchPlan, context: ChannelHandlerContext, store: Store, bookmarkInterval: TimeAmount, onEnd: @escaping () -> Void) {
        self.plan = plan
        self.context = context
        self.eventLoop = context.eventLoop
        self.store = store
        self.bookmarkInterval = bookmarkInterval
        self.onEnd = onEnd
    }

    // MARK: StoreObserver (called under the store lock, from any thread)

    func enqueue(_ event: StoreEvent) {
        eventLoop.execute { self.deliver(event) }
    }

    func enqueueBookmark(_ resourceVersion: UInt64) {
        eventLoop.execute { self.sendBookmark(resourceVersion, initialEventsEnd: false) }
    }

    // MARK: Lifecycle (event loop)

    /// Starts the stream: the 200 head, then the initial or backlog events, then live ones.
    /// A too-old resourceVersion is answered the way the real server does once a watch is
    /// admitted: 200 with one ERROR event, then the end of the body.
    func start(head: HTTPRequestHead) throws {
        let begin: WatchStart
        do {
            begin = try store.startWatch(plan.type, resourceVersion: plan.resourceVersion, sendInitialEvents: plan.sendInitialEvents, observer: self)
        } catch let e as StatusError where e.code == 410 {
            writeHead(head)
            writeEvent(.error, e.json.encoded())
            finish()
            return
        }
        writeHead(head)
        starting = true
        writeInitial(begin, from: 0)
    }

    /// Writes the initial events from `start` on in batches of 500, each flushed, the next in a
    /// later loop turn: between turns the loop writes what was flushed (and reads the client's
    /// flow-control updates), so the client decodes the first events while later ones are
    /// encoded. Written in one turn, everything past the socket buffer waited until the last
    /// event was encoded, and a large initial list cost its encoding plus its decoding end to end.
    private func writeInitial(_ begin: WatchStart, from start: Int) {
        guard !closed, !silenced else { return }
        var i = start
        var written = 0
        while i < begin.initial.count && written < 500 {
            let o = begin.initial[i]
            i += 1
            if matches(o) {
                writeEvent(.added, bytes(o))
                written += 1
            }
        }
        if i < begin.initial.count {
            flush()
            eventLoop.assumeIsolated().execute { self.writeInitial(begin, from: i) }
            return
        }
        if plan.sendInitialEvents {
            sendBookmark(begin.resourceVersion, initialEventsEnd: true)
        }
        starting = false
        for e in begin.backlog { deliver(e) }
        for e in heldBack { deliver(e) }
        heldBack = []
        flush()
        let loop = eventLoop.assumeIsolated()
        timers.append(loop.scheduleTask(in: .seconds(Int64(plan.timeout))) { self.finish() })
        if plan.bookmarks {
            if plan.timeout > 2 {
                timers.append(loop.scheduleTask(in: .seconds(Int64(plan.timeout - 2))) { self.store.requestBookmark(self) })
            }
            bookmarkTask = eventLoop.scheduleRepeatedTask(initialDelay: bookmarkInterval, delay: bookmarkInterval) { _ in
                self.store.requestBookmark(self)
            }
        }
    }

    /// The body ends normally (timeout): the connection stays usable.
    func finish() {
        guard !closed else { return }
        stop()
        writePending()
        context.writeAndFlush(NIOAny(HTTPServerResponsePart.end(nil)), promise: nil)
        onEnd()
    }

    /// The connection went away: forget the watch.
    func stop() {
        guard !closed else { return }
        closed = true
        store.stopWatch(plan.type, observer: self)
        for t in timers { t.cancel() }
        bookmarkTask?.cancel()
        registry?.remove(self)
    }

    func drop() {
        eventLoop.execute {
            guard !self.closed else { return }
            self.stop()
            self.context.close(promise: nil)
        }
    }

    func silence() {
        eventLoop.execute {
            self.silenced = true
            for t in self.timers { t.cancel() }
            self.bookmarkTask?.cancel()
        }
    }

    // MARK: Events

    private func matches(_ o: StoredObject) -> Bool {
        if let ns = plan.namespace, o.namespace != ns { return false }
        return plan.label.matches(o.labels) && plan.field.matches { plan.type.fieldValue(o, $0) }
    }

    /// The cacher's rule: an object entering the selection is ADDED, one leaving it DELETED
    /// (with its previous content and the event's RV), one staying MODIFIED.
    private func deliver(_ e: StoreEvent) {
        guard !closed, !silenced else { return }
        if starting {
            heldBack.append(e)
            return
        }
        let cur = e.type != .deleted && matches(e.object)
        let old = e.prev.map(matches) ?? false
        switch (old, cur) {
        case (false, true): writeEvent(.added, bytes(e.object))
        case (true, true): writeEvent(.modified, bytes(e.object))
        case (true, false):
            let gone = e.type == .deleted ? e.object : e.prev!.withResourceVersion(e.resourceVersion)
            writeEvent(.deleted, bytes(gone))
        case (false, false): return
        }
        scheduleFlush()
    }

    private func sendBookmark(_ rv: UInt64, initialEventsEnd: Bool) {
        guard !closed, !silenced, plan.bookmarks || initialEventsEnd, !starting || initialEventsEnd else { return }
        // An empty object of the watched type: its zero creationTimestamp encodes as null.
        var meta: [String: JSONValue] = ["resourceVersion": .string(String(rv)), "creationTimestamp": .null]
        let (kind, apiVersion) = plan.format == .partialMetadata
            ? ("PartialObjectMetadata", "meta.k8s.io/v1") : (plan.type.kind, plan.type.apiVersion)
        if initialEventsEnd {
            // The blueprint is the empty list the initial events make up, for clients that
            // turn a streaming list back into a list.
            let blueprint = "{\"kind\":\"\(kind)List\",\"apiVersion\":\"\(apiVersion)\",\"metadata\":{},\"items\":null}\n"
            meta["annotations"] = [
                "k8s.io/initial-events-end": "true",
                "kubernetes.io/initial-events-list-blueprint": .string(Data(blueprint.utf8).base64EncodedString()),
            ]
        }
        let obj: JSONValue = ["kind": .string(kind), "apiVersion": .string(apiVersion), "metadata": .object(meta)]
        writeEvent(.bookmark, obj.encoded())
        flush()
    }

    private func bytes(_ stored: StoredObject) -> [UInt8] {
        let o = plan.type.present(stored)
        switch plan.format {
        case .full: return o.bytes
        case .partialMetadata: return o.partialMetadataBytes
        case .table(let v):
            defer { sentColumnDefinitions = true }
            return Tables.table(type: plan.type, objects: [o], rv: o.resourceVersion, continueToken: nil, version: v,
                                includeObject: nil, headers: !sentColumnDefinitions).encoded()
        }
    }

    // MARK: Output

    private func writeHead(_ req: HTTPRequestHead) {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: "application/json")
        headers.add(name: "Cache-Control", value: "no-cache, private")
        let head = HTTPResponseHead(version: req.version, status: .ok, headers: headers)
        context.write(NIOAny(HTTPServerResponsePart.head(head)), promise: nil)
    }

    private func writeEvent(_ type: WatchEventType, _ object: [UInt8]) {
        var buf = pending ?? context.channel.allocator.buffer(capacity: max(Self.writeSize, object.count + 32))
        buf.writeString("{\"type\":\"\(type.rawValue)\",\"object\":")
        buf.writeBytes(object)
        buf.writeString("}\n")
        pending = buf
        if buf.readableBytes >= Self.writeSize { writePending() }
    }

    private func writePending() {
        guard let buf = pending else { return }
        pending = nil
        context.write(NIOAny(HTTPServerResponsePart.body(.byteBuffer(buf))), promise: nil)
    }

    private func flush() {
        writePending()
        context.flush()
    }

    /// One flush after the events already handed to this loop: a burst of commits becomes a
    /// few large writes instead of a write (and, over TLS, a record) per event.
    private func scheduleFlush() {
        guard !flushScheduled else { return }
        flushScheduled = true
        eventLoop.assumeIsolated().execute {
            self.flushScheduled = false
            if !self.closed { self.flush() }
        }
    }
}

/// The open watches, so faults can drop or silence them all.
final class WatchRegistry: @unchecked Sendable {
    private let lock = NIOLockedValueBox<[ObjectIdentifier: WatchStream]>([:])

    func add(_ w: WatchStream) { lock.withLockedValue { $0[ObjectIdentifier(w)] = w } }
    func remove(_ w: WatchStream) { _ = lock.withLockedValue { $0.removeValue(forKey: ObjectIdentifier(w)) } }
    func forEach(_ body: (WatchStream) -> Void) {
        for w in lock.withLockedValue({ Array($0.values) }) { body(w) }
    }
    var count: Int { lock.withLockedValue { $0.count } }
}
