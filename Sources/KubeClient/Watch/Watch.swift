import KubeWire

/// One event of a watch stream.
public struct WatchEvent: Sendable {
    public enum Kind: String, Sendable {
        case added = "ADDED"
        case modified = "MODIFIED"
        case deleted = "DELETED"
        case bookmark = "BOOKMARK"
        case error = "ERROR"
    }

    public var kind: Kind
    /// The whole object; nil when the watch decodes metadata only, or defers building the
    /// object until it is asked for (``wholeObject()``). An ERROR event always carries it (its
    /// Status is read whole).
    public var object: JSONValue?
    /// The event's bytes, kept when building the object is deferred.
    var deferredBytes: [UInt8]?
    /// The object's metadata, nil when it has no `metadata.name` (a BOOKMARK has none).
    public var metadata: ObjectMeta?
    /// The object's `metadata.resourceVersion`, named or not: where a BOOKMARK says the watch is.
    public var resourceVersion: String
    /// A BOOKMARK that ends the initial events of a streaming list.
    public var isInitialEventsEnd: Bool

    /// Decodes a parsed `{"type": …, "object": {…}}`, keeping the whole object.
    init(json: JSONValue) throws(KubeClientError) {
        guard let t = json["type"]?.stringValue, let kind = Kind(rawValue: t) else {
            throw .decoding("watch event without a known type: \(json["type"]?.jsonString ?? "none")")
        }
        guard let object = json["object"], object.objectValue != nil else {
            throw .decoding("watch \(t) event without an object")
        }
        self.kind = kind
        self.object = object
        self.metadata = ObjectMeta(object: object)
        self.resourceVersion = object["metadata"]?["resourceVersion"]?.stringValue ?? ""
        self.isInitialEventsEnd = kind == .bookmark
            && object["metadata"]?["annotations"]?["k8s.io/initial-events-end"]?.stringValue == "true"
    }

    /// The whole object: ``object``, or built now from the bytes kept for it.
    public func wholeObject() -> JSONValue? {
        if let object { return object }
        guard let deferredBytes else { return nil }
        // The bytes were checked when the event was read: parsing them cannot fail.
        return (try? JSONParser.parse(deferredBytes))?["object"]
    }

    /// Decodes the bytes of one event, reading only the object's metadata
    /// (``ObjectMeta/read(object:other:)``): its other fields are checked and skipped, never
    /// built. Bytes that are not JSON fail as the parser fails (the outer failure); an event
    /// that is JSON but not a watch event fails as ``init(json:)`` does (the inner one).
    static func metadataOnly(_ bytes: UnsafeRawBufferPointer) -> Result<Result<WatchEvent, KubeClientError>, JSONParseError> {
        scan(bytes, keepingBytes: false)
    }

    /// As ``metadataOnly(_:)``, keeping the event's bytes so that ``wholeObject()`` can build
    /// the object later, only if it is wanted.
    static func deferringObject(_ bytes: UnsafeRawBufferPointer) -> Result<Result<WatchEvent, KubeClientError>, JSONParseError> {
        scan(bytes, keepingBytes: true)
    }

    private static func scan(_ bytes: UnsafeRawBufferPointer, keepingBytes: Bool) -> Result<Result<WatchEvent, KubeClientError>, JSONParseError> {
        var s = JSONScanner(bytes)
        var type: JSONValue?
        var found: (meta: ObjectMeta, named: Bool)??
        do throws(JSONParseError) {
            try s.begin()
            try s.object { s, key throws(JSONParseError) in
                if key == "type" {
                    type = s.peekKind() == .string ? .string(try s.string() ?? "") : try s.value()
                } else if key == "object" {
                    if s.peekKind() == .object {
                        found = .some(try ObjectMeta.read(object: &s))
                    } else {
                        found = nil
                        try s.skipValue()
                    }
                }
            }
            try s.end()
        } catch {
            return .failure(error)
        }
        guard let t = type?.stringValue, let kind = Kind(rawValue: t) else {
            return .success(.failure(.decoding("watch event without a known type: \(type?.jsonString ?? "none")")))
        }
        guard let read = found else {
            return .success(.failure(.decoding("watch \(t) event without an object")))
        }
        // An ERROR's object is a Status, needed whole; such events are rare, so the event is
        // parsed again rather than every event's object built.
        let whole = kind == .error ? (try? JSONParser.parseResult(bytes).get())?["object"] : nil
        let meta = read?.meta
        return .success(.success(WatchEvent(
            kind: kind, object: whole, deferredBytes: keepingBytes && kind != .error ? Array(bytes) : nil,
            metadata: read?.named == true ? meta : nil, resourceVersion: meta?.resourceVersion ?? "",
            isInitialEventsEnd: kind == .bookmark && meta?.annotations["k8s.io/initial-events-end"] == "true")))
    }

    private init(kind: Kind, object: JSONValue?, deferredBytes: [UInt8]?, metadata: ObjectMeta?, resourceVersion: String,
                 isInitialEventsEnd: Bool) {
        self.kind = kind
        self.object = object
        self.deferredBytes = deferredBytes
        self.metadata = metadata
        self.resourceVersion = resourceVersion
        self.isInitialEventsEnd = isInitialEventsEnd
    }
}

/// Parameters of one watch request.
struct WatchRequest {
    var resource: Resource
    var namespace: String?
    var options: ListOptions
    var resourceVersion: String?
    var timeoutSeconds: Int
    /// A streaming list (sendInitialEvents) instead of a plain watch.
    var sendInitialEvents: Bool
    /// Full objects are built only when asked for (``WatchEvent/wholeObject()``).
    var deferObjects = false

    var path: String {
        var q = options.selectors.queryItems
        q.append(("watch", "true"))
        q.append(("allowWatchBookmarks", "true"))
        q.append(("timeoutSeconds", String(timeoutSeconds)))
        if sendInitialEvents {
            q.append(("sendInitialEvents", "true"))
            q.append(("resourceVersionMatch", "NotOlderThan"))
        }
        if let resourceVersion, !resourceVersion.isEmpty { q.append(("resourceVersion", resourceVersion)) }
        return resource.path(namespace: namespace) + "?" + encodeQuery(q)
    }
}

extension KubeClient {
    /// Opens a watch stream. `opened` is called when the server answered 200, `event` for
    /// each decoded event in order, `closed` once at the end: nil for a normal end of stream,
    /// else the error (a non-200 answer as `.api`, undecodable bytes as `.decoding` — the
    /// transfer is then cancelled). Cancel with `cancelWatch`.
    func watch(
        _ request: WatchRequest, opened: @escaping () -> Void, bytes: @escaping () -> Void,
        event: @escaping (WatchEvent) -> Void, closed: @escaping (KubeClientError?) -> Void
    ) -> Call {
        var decoder = JSONStreamDecoder()
        var failure: KubeClientError?
        let accept = request.options.metadataOnly ? Accept.metadata : Accept.json
        let call = Call(verb: .watch, path: request.path, headers: [("Accept", accept)], body: nil) { result in
            switch result {
            case .success:
                if failure == nil && decoder.hasPartialEvent {
                    failure = .decoding("watch stream ended inside an event")
                }
                closed(failure)
            case .failure(.cancelled) where failure != nil:
                closed(failure)
            case .failure(let e):
                closed(e)
            }
        }
        call.opened = opened
        let metadataOnly = request.options.metadataOnly
        let deferObjects = request.deferObjects
        call.stream = { [weak self, unowned call] chunk in
            guard failure == nil else { return }
            self?.heardStream()
            bytes()
            do throws(KubeClientError) {
                let events: [Result<WatchEvent, KubeClientError>]
                do {
                    if metadataOnly {
                        events = try decoder.feed(chunk, decode: WatchEvent.metadataOnly)
                    } else if deferObjects {
                        events = try decoder.feed(chunk, decode: WatchEvent.deferringObject)
                    } else {
                        events = try decoder.feed(chunk).map { json in Result { () throws(KubeClientError) in try WatchEvent(json: json) } }
                    }
                } catch {
                    throw .decoding("watch stream of \(request.resource): \(error)")
                }
                for decoded in events {
                    event(try decoded.get())
                    if call.cancelled { return }
                }
            } catch {
                failure = error
                self?.cancel(call)
            }
        }
        enqueue(call)
        return call
    }
}
