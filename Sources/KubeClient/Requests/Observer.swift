/// The Kubernetes verb of a request, as client-go's `rest_client_requests_total` reports it: a
/// GET of one object is `get`, of a collection `list`, of a watch stream `watch`.
public enum APIVerb: String, Sendable, CaseIterable {
    case get, list, watch, create, update, patch, delete

    var method: String {
        switch self {
        case .get, .list, .watch: return "GET"
        case .create: return "POST"
        case .update: return "PUT"
        case .patch: return "PATCH"
        case .delete: return "DELETE"
        }
    }
}

/// Why an informer started its watch again.
public enum WatchRestartReason: String, Sendable, CaseIterable {
    /// The server no longer has the history to resume from (410 Expired, as an answer or an
    /// ERROR event): the informer lists again.
    case expired
    /// The server ended the stream: its `timeoutSeconds` ran out or it closed the stream cleanly.
    case closed
    /// The transport failed, the server refused the watch, sent an ERROR event or bytes that do
    /// not decode.
    case error
    /// The stream delivered no byte, not even a bookmark, for the informer's idle timeout.
    case idle
}

/// Told, on the reactor thread, about every API request attempt a `KubeClient` makes and every
/// watch restart of the informers using it — the feed of request and watch metrics. Set it as
/// `KubeClient.observer`; with none set, nothing is computed.
public protocol KubeClientObserver: AnyObject {
    /// The server answered an attempt with HTTP `status` (a watch: when the stream opens), or
    /// the attempt failed without an answer (`status` nil: a transport error). Each retry (after
    /// 429, 5xx or a 401 credential refresh) is an attempt of its own; an attempt cancelled
    /// before any answer is not reported.
    func apiRequest(verb: APIVerb, status: Int?)

    /// An informer's watch of `resource` ended for `reason` and the informer starts again (it
    /// resumes, or lists first after `expired`). Stopping an informer is not a restart.
    func watchRestarted(resource: Resource, reason: WatchRestartReason)
}
