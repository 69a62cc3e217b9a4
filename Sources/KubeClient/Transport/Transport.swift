/// One HTTP exchange as the client asks for it.
struct TransportRequest {
    var method: String
    var url: String
    var headers: [(String, String)]
    var body: [UInt8]?
    var credentials: RequestCredentials
    var insecureSkipTLSVerify: Bool
    var tlsServerName: String?
    var proxyURL: String?
    var acceptCompressed: Bool
    /// Watches have no total timeout; other requests get `requestTimeout`.
    var totalTimeout: Duration?
}

/// The response status and headers, known before the first body byte.
struct TransportResponseHead {
    var status: Int
    /// Looks a header up case-insensitively.
    var header: (String) -> String?
}

/// Receives one transfer's events on the reactor thread, in this order: `head` once, `body`
/// zero or more times, then `complete` exactly once (also after a cancel).
protocol TransportDelegate: AnyObject {
    func transportHead(_ head: TransportResponseHead)
    func transportBody(_ bytes: UnsafeRawBufferPointer)
    func transportComplete(_ error: KubeClientError?)
}

/// What the client needs from the event loop. Everything but `post` is used on the reactor
/// thread and calls back on it.
protocol ClientTransport: AnyObject {
    var now: ContinuousClock.Instant { get }
    func start(_ request: TransportRequest, delegate: TransportDelegate) -> TransferHandle
    func cancel(_ handle: TransferHandle)
    func schedule(after delay: Duration, _ body: @escaping () -> Void) -> TimerHandle
    func cancelTimer(_ handle: TimerHandle)
    /// Thread-safe (callable from any thread): runs its argument on the reactor thread soon.
    var post: @Sendable (@escaping @Sendable () -> Void) -> Void { get }
}

struct TransferHandle: Hashable { var id: UInt64 }
struct TimerHandle: Hashable { var id: UInt64 }
