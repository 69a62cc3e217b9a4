import KubeWire

/// async conveniences for tests and one-shot tools: callable from any thread or task; each hops
/// onto the reactor thread, runs the callback-style verb there and resumes with its result.
extension KubeClient {
    /// Runs `body` on the reactor thread and waits for the result it reports.
    public func onReactor<T: Sendable>(
        _ body: @escaping (KubeClient, @escaping (Result<T, KubeClientError>) -> Void) -> Void
    ) async throws(KubeClientError) -> T {
        let bound = ReactorBound(body)
        let result: Result<T, KubeClientError> = await withCheckedContinuation { cont in
            transport.post { [self] in
                bound.value(self) { cont.resume(returning: $0) }
            }
        }
        return try result.get()
    }

    public func get(_ resource: Resource, namespace: String?, name: String, metadataOnly: Bool = false) async throws(KubeClientError) -> JSONValue {
        try await onReactor { c, done in c.get(resource, namespace: namespace, name: name, metadataOnly: metadataOnly, completion: done) }
    }

    public func list(_ resource: Resource, namespace: String?, options: ListOptions = .init()) async throws(KubeClientError) -> ObjectList {
        try await onReactor { c, done in c.list(resource, namespace: namespace, options: options, completion: done) }
    }

    public func create(_ resource: Resource, namespace: String?, object: JSONValue) async throws(KubeClientError) -> JSONValue {
        try await onReactor { c, done in c.create(resource, namespace: namespace, object: object, completion: done) }
    }

    public func update(_ resource: Resource, namespace: String?, name: String, object: JSONValue) async throws(KubeClientError) -> JSONValue {
        try await onReactor { c, done in c.update(resource, namespace: namespace, name: name, object: object, completion: done) }
    }

    public func patch(_ resource: Resource, namespace: String?, name: String, patch: Patch) async throws(KubeClientError) -> JSONValue {
        try await onReactor { c, done in c.patch(resource, namespace: namespace, name: name, patch: patch, completion: done) }
    }

    public func delete(_ resource: Resource, namespace: String?, name: String, options: DeleteOptions = .init()) async throws(KubeClientError) -> DeleteOutcome {
        try await onReactor { c, done in c.delete(resource, namespace: namespace, name: name, options: options, completion: done) }
    }
}
