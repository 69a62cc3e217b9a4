import FoundationEssentials
import SpillwayReactor
import KubeWire

/// async conveniences for tests and one-shot tools: callable from any thread or task; each hops
/// onto the reactor thread, runs the callback-style verb there and resumes with its result.
///
/// Each resumes exactly once: with the verb's result; or with `.cancelled` as soon as the task
/// awaiting it is cancelled (the request itself runs on, its answer unused), or when the work can
/// no longer answer (the client went away with the request in flight, or the loop dropped the
/// work unrun).
extension KubeClient {
    /// Runs `body` on the reactor thread and waits for the result it reports.
    public func onReactor<T: Sendable>(
        _ body: @escaping (KubeClient, @escaping (Result<T, KubeClientError>) -> Void) -> Void
    ) async throws(KubeClientError) -> T {
        let bound = ReactorBound(body)
        let cancellation = CancellationSlot<T>()
        let result: Result<T, KubeClientError> = await withTaskCancellationHandler {
            await withCheckedContinuation { continuation in
                let answer = Answer(continuation)
                cancellation.arm(answer)
                // Holding the client weakly here keeps the queued work from keeping it alive.
                transport.post { [weak self] in
                    guard let self else { return answer.resume(.failure(.cancelled)) }
                    bound.value(self) { answer.resume($0) }
                }
            }
        } onCancel: {
            cancellation.fire()
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

/// The one resumption of an async request's continuation. Whoever comes first wins: the
/// request's completion, the task's cancellation, or — when every holder let go without
/// answering — this object's end.
private final class Answer<T: Sendable>: @unchecked Sendable {
    private let lock = Lock()
    private var continuation: CheckedContinuation<Result<T, KubeClientError>, Never>?

    init(_ continuation: CheckedContinuation<Result<T, KubeClientError>, Never>) {
        self.continuation = continuation
    }

    func resume(_ result: Result<T, KubeClientError>) {
        let continuation = lock.withLock {
            defer { self.continuation = nil }
            return self.continuation
        }
        continuation?.resume(returning: result)
    }

    deinit {
        continuation?.resume(returning: .failure(.cancelled))
    }
}

/// Lets a task's cancellation reach its `Answer` without keeping it alive (so that the answer's
/// end still says when nobody can answer). Cancellation may come before the answer exists.
private final class CancellationSlot<T: Sendable>: @unchecked Sendable {
    private let lock = Lock()
    private weak var answer: Answer<T>?
    private var cancelled = false

    func arm(_ answer: Answer<T>) {
        let early = lock.withLock {
            self.answer = answer
            return cancelled
        }
        if early { answer.resume(.failure(.cancelled)) }
    }

    func fire() {
        let answer = lock.withLock {
            cancelled = true
            return self.answer
        }
        answer?.resume(.failure(.cancelled))
    }
}
