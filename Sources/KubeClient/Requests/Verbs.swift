import KubeWire

/// A patch body and its content type.
public enum Patch: Sendable {
    /// RFC 7386 merge patch; put `metadata.resourceVersion` in it to make it conditional.
    case merge(JSONValue)
    /// RFC 6902 JSON patch (a list of operations, `test` included).
    case json([JSONValue])
    /// Strategic merge patch (built-in types; behaves like merge for maps).
    case strategicMerge(JSONValue)

    var contentType: String {
        switch self {
        case .merge: return "application/merge-patch+json"
        case .json: return "application/json-patch+json"
        case .strategicMerge: return "application/strategic-merge-patch+json"
        }
    }

    var body: JSONValue {
        switch self {
        case .merge(let v), .strategicMerge(let v): return v
        case .json(let ops): return .array(ops)
        }
    }
}

/// What a DELETE did.
public enum DeleteOutcome: Sendable, Equatable {
    /// The object is gone (the server answered a Success Status).
    case deleted
    /// The object still exists with a deletionTimestamp, waiting for finalizers (200 + object).
    case pending(JSONValue)

    /// Reads the 2xx answer of a DELETE: a Success Status (or no body) when the object is gone,
    /// the object itself when finalizers hold it.
    init(answer body: [UInt8]) {
        guard let json = try? JSONParser.parse(body), json["kind"]?.stringValue != "Status" else {
            self = .deleted
            return
        }
        self = .pending(json)
    }
}

/// A list: every item and the list's resourceVersion (to watch from).
public struct ObjectList: Sendable {
    public var items: [JSONValue]
    public var resourceVersion: String
}

/// A write's answer read for its metadata alone: everything else in it (the data the caller
/// just sent, `managedFields`) is checked but never built. The bytes are kept for the rare
/// answer that is needed whole.
public struct WriteAnswer: Sendable {
    /// The object's metadata; nil when the answer has no `metadata.name`.
    public var metadata: ObjectMeta?
    /// The answer as the server sent it (valid JSON: it was checked when read).
    public var body: [UInt8]

    public init(metadata: ObjectMeta?, body: [UInt8]) {
        self.metadata = metadata
        self.body = body
    }

    /// The whole answer, parsed.
    public func object() throws(KubeClientError) -> JSONValue {
        do {
            return try JSONParser.parse(body)
        } catch {
            throw .decoding("response body is not JSON: \(error)")
        }
    }
}

/// Options of a list or watch.
public struct ListOptions: Sendable {
    public var selectors: Selectors
    /// Ask for PartialObjectMetadata (objects arrive without `data`).
    public var metadataOnly: Bool
    public var pageSize: Int

    public init(selectors: Selectors = .init(), metadataOnly: Bool = false, pageSize: Int = 500) {
        self.selectors = selectors
        self.metadataOnly = metadataOnly
        self.pageSize = pageSize
    }
}

enum Accept {
    static let json = "application/json"
    static let metadata = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
    static let metadataList = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
}

extension KubeClient {
    /// Reads one object.
    public func get(
        _ resource: Resource, namespace: String?, name: String, metadataOnly: Bool = false,
        completion: @escaping (Result<JSONValue, KubeClientError>) -> Void
    ) {
        send(.get, resource.path(namespace: namespace, name: name), accept: metadataOnly ? Accept.metadata : Accept.json,
             completion: Self.decodeObject(completion))
    }

    /// Creates an object (its `metadata.namespace` may be omitted).
    public func create(
        _ resource: Resource, namespace: String?, object: JSONValue, fieldManager: String? = nil,
        completion: @escaping (Result<JSONValue, KubeClientError>) -> Void
    ) {
        send(.create, resource.path(namespace: namespace) + Self.query(fieldManager: fieldManager),
             body: object, contentType: "application/json", completion: Self.decodeObject(completion))
    }

    /// Replaces an object (PUT); its `metadata.resourceVersion` makes it conditional (409 on a stale one).
    public func update(
        _ resource: Resource, namespace: String?, name: String, object: JSONValue, fieldManager: String? = nil,
        completion: @escaping (Result<JSONValue, KubeClientError>) -> Void
    ) {
        send(.update, resource.path(namespace: namespace, name: name) + Self.query(fieldManager: fieldManager),
             body: object, contentType: "application/json", completion: Self.decodeObject(completion))
    }

    /// Patches an object.
    public func patch(
        _ resource: Resource, namespace: String?, name: String, patch: Patch, fieldManager: String? = nil,
        completion: @escaping (Result<JSONValue, KubeClientError>) -> Void
    ) {
        send(.patch, resource.path(namespace: namespace, name: name) + Self.query(fieldManager: fieldManager),
             body: patch.body, contentType: patch.contentType, completion: Self.decodeObject(completion))
    }

    /// Creates an object from its JSON bytes and reads only the answer's metadata
    /// (``WriteAnswer``): for a caller that knows the content it wrote and needs the server's uid
    /// and resourceVersion, and that encodes the bodies itself (one encoding shared by many writes).
    /// The server is asked to answer with the metadata alone (PartialObjectMetadata), so the
    /// content is not sent back; a server that cannot answers the whole object.
    public func createReadingMetadata(
        _ resource: Resource, namespace: String?, json body: [UInt8], fieldManager: String? = nil,
        completion: @escaping (Result<WriteAnswer, KubeClientError>) -> Void
    ) {
        send(.create, resource.path(namespace: namespace) + Self.query(fieldManager: fieldManager), accept: Accept.metadata,
             encodedBody: body, contentType: "application/json", completion: Self.decodeWriteAnswer(completion))
    }

    /// Replaces an object (PUT, see ``update(_:namespace:name:object:fieldManager:completion:)``)
    /// from its JSON bytes and reads only the answer's metadata (``WriteAnswer``; asked for as
    /// PartialObjectMetadata, like a create's).
    public func updateReadingMetadata(
        _ resource: Resource, namespace: String?, name: String, json body: [UInt8], fieldManager: String? = nil,
        completion: @escaping (Result<WriteAnswer, KubeClientError>) -> Void
    ) {
        send(.update, resource.path(namespace: namespace, name: name) + Self.query(fieldManager: fieldManager),
             accept: Accept.metadata, encodedBody: body, contentType: "application/json",
             completion: Self.decodeWriteAnswer(completion))
    }

    /// Deletes an object, with preconditions and propagation policy.
    public func delete(
        _ resource: Resource, namespace: String?, name: String, options: DeleteOptions = .init(),
        completion: @escaping (Result<DeleteOutcome, KubeClientError>) -> Void
    ) {
        send(.delete, resource.path(namespace: namespace, name: name), body: options.json, contentType: "application/json") { r in
            completion(r.map { DeleteOutcome(answer: $0.body) })
        }
    }

    /// Lists every object, following `continue` in pages of `options.pageSize`; an expired
    /// continue token restarts one full list.
    public func list(
        _ resource: Resource, namespace: String?, options: ListOptions = .init(),
        completion: @escaping (Result<ObjectList, KubeClientError>) -> Void
    ) {
        var items: [JSONValue] = []
        listPages(resource, namespace: namespace, options: options, resourceVersion: nil, decode: Self.decodeListPage) {
            page, restarted in
            if restarted { items.removeAll() }
            items.append(contentsOf: page)
        } completion: { result in
            completion(result.map { ObjectList(items: items, resourceVersion: $0) })
        }
    }

    /// One page's items, the list's resourceVersion and the next page's continue token.
    typealias DecodedListPage<Item> = (items: [Item], resourceVersion: String, continueToken: String?)

    /// Decodes a list page into whole objects.
    static func decodeListPage(_ body: [UInt8]) -> Result<DecodedListPage<JSONValue>, ListDecodingError> {
        Result { () throws(ListDecodingError) in
            let page = try ListPage.decode(body)
            return (page.items, page.resourceVersion, page.continueToken)
        }
    }

    /// Decodes a list page into its items' metadata alone, building nothing else.
    static func decodeMetadataListPage(_ body: [UInt8]) -> Result<DecodedListPage<ObjectMeta>, ListDecodingError> {
        Result { () throws(ListDecodingError) in
            let page = try MetadataListPage.decode(body)
            return (page.items, page.resourceVersion, page.continueToken)
        }
    }

    /// The paged list underneath `list` and the informer: each page's body is decoded by
    /// `decode`, `page` gets its items as it arrives (`restarted` is true on the first page of
    /// a list restarted after an expired continue token: drop what earlier pages delivered);
    /// `completion` gets the list's RV.
    func listPages<Item>(
        _ resource: Resource, namespace: String?, options: ListOptions, resourceVersion: String?,
        decode: @escaping ([UInt8]) -> Result<DecodedListPage<Item>, ListDecodingError>,
        page: @escaping (_ items: [Item], _ restarted: Bool) -> Void,
        completion: @escaping (Result<String, KubeClientError>) -> Void
    ) {
        let accept = options.metadataOnly ? Accept.metadataList : Accept.json
        let base = resource.path(namespace: namespace)
        var restartedOnce = false
        var pendingRestartFlag = false

        func fetch(continueToken: String?, rv: String?) {
            var q = options.selectors.queryItems
            q.append(("limit", String(options.pageSize)))
            if let continueToken {
                q.append(("continue", continueToken))
            } else if let rv, !rv.isEmpty {
                q.append(("resourceVersion", rv))
            }
            send(.list, base + "?" + encodeQuery(q), accept: accept) { result in
                switch result {
                case .failure(let e):
                    if continueToken != nil, e.status?.isExpired == true, !restartedOnce {
                        // The continue token expired mid-list: one full, fresh list.
                        restartedOnce = true
                        pendingRestartFlag = true
                        fetch(continueToken: nil, rv: "")
                        return
                    }
                    completion(.failure(e))
                case .success(let resp):
                    let list: DecodedListPage<Item>
                    switch decode(resp.body) {
                    case .success(let decoded): list = decoded
                    case .failure(let error):
                        completion(.failure(.decoding("list of \(resource): \(error)")))
                        return
                    }
                    page(list.items, pendingRestartFlag)
                    pendingRestartFlag = false
                    if let next = list.continueToken {
                        fetch(continueToken: next, rv: nil)
                    } else {
                        completion(.success(list.resourceVersion))
                    }
                }
            }
        }
        fetch(continueToken: nil, rv: resourceVersion)
    }

    // MARK: - plumbing

    static func query(fieldManager: String?) -> String {
        guard let fieldManager else { return "" }
        return "?" + encodeQuery([("fieldManager", fieldManager)])
    }

    static func decodeObject(_ completion: @escaping (Result<JSONValue, KubeClientError>) -> Void) -> (Result<Response, KubeClientError>) -> Void {
        { result in
            completion(result.flatMap { resp in
                do {
                    return .success(try JSONParser.parse(resp.body))
                } catch {
                    return .failure(.decoding("response body is not JSON: \(error)"))
                }
            })
        }
    }

    static func decodeWriteAnswer(_ completion: @escaping (Result<WriteAnswer, KubeClientError>) -> Void) -> (Result<Response, KubeClientError>) -> Void {
        { result in
            completion(result.flatMap { resp in
                switch resp.body.withUnsafeBytes({ ObjectMeta.decode(jsonObject: $0) }) {
                case .success(let meta): return .success(WriteAnswer(metadata: meta, body: resp.body))
                case .failure(let error): return .failure(.decoding("response body is not JSON: \(error)"))
                }
            })
        }
    }

    func send(
        _ verb: APIVerb, _ path: String, accept: String = Accept.json, body: JSONValue? = nil, contentType: String? = nil,
        completion: @escaping (Result<Response, KubeClientError>) -> Void
    ) {
        send(verb, path, accept: accept, encodedBody: body?.encoded(), contentType: contentType, completion: completion)
    }

    func send(
        _ verb: APIVerb, _ path: String, accept: String = Accept.json, encodedBody: [UInt8]?, contentType: String?,
        completion: @escaping (Result<Response, KubeClientError>) -> Void
    ) {
        var headers: [(String, String)] = [("Accept", accept)]
        if let contentType { headers.append(("Content-Type", contentType)) }
        enqueue(Call(verb: verb, path: path, headers: headers, body: encodedBody, completion: completion))
    }
}
