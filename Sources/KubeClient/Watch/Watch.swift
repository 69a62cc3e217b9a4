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
    public var object: JSONValue

    /// Decodes `{"type": …, "object": {…}}`.
    init(json: JSONValue) throws(KubeClientError) {
        guard let t = json["type"]?.stringValue, let kind = Kind(rawValue: t) else {
            throw .decoding("watch event without a known type: \(json["type"]?.jsonString ?? "none")")
        }
        guard let object = json["object"], object.objectValue != nil else {
            throw .decoding("watch \(t) event without an object")
        }
        self.kind = kind
        self.object = object
    }

    /// A BOOKMARK that ends the initial events of a streaming list.
    var isInitialEventsEnd: Bool {
        kind == .bookmark && object["metadata"]?["annotations"]?["k8s.io/initial-events-end"]?.stringValue == "true"
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
        call.stream = { [weak self, unowned call] chunk in
            guard failure == nil else { return }
            self?.heardStream()
            bytes()
            do throws(KubeClientError) {
                let values: [JSONValue]
                do {
                    values = try decoder.feed(chunk)
                } catch {
                    throw .decoding("watch stream of \(request.resource): \(error)")
                }
                for v in values {
                    let e = try WatchEvent(json: v)
                    event(e)
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
