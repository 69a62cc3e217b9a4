import KubeWire

extension KubeClient {
    /// Patches a subresource of an object (`status`): the API applies only that part of the
    /// patch (a custom resource's status subresource ignores everything but `status`).
    public func patch(
        _ resource: Resource, namespace: String?, name: String, subresource: String, patch: Patch,
        completion: @escaping (Result<JSONValue, KubeClientError>) -> Void
    ) {
        send(.patch, resource.path(namespace: namespace, name: name) + "/" + Resource.escape(subresource),
             body: patch.body, contentType: patch.contentType, completion: Self.decodeObject(completion))
    }
}
