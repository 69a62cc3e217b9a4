/// A response with its whole body (everything but watches).
struct Response {
    var status: Int
    var body: [UInt8]
    var header: (String) -> String?
}

/// One logical request through its attempts: pacing, credentials, 401 refresh and the
/// 429 / 5xx retry policy. A watch call streams its body to `stream` once the server has
/// answered 200 and is never retried here (the informer owns that decision).
final class Call: TransportDelegate {
    let method: String
    let path: String
    let headers: [(String, String)]
    let body: [UInt8]?
    let isWatch: Bool
    var attempt = 0
    var refreshedAfter401 = false
    var cancelled = false
    var handle: TransferHandle?
    var retryTimer: TimerHandle?
    weak var client: KubeClient?

    private var status = 0
    private var header: (String) -> String? = { _ in nil }
    private var buffer: [UInt8] = []
    /// Watches: called with the bytes of a 200 stream as they arrive.
    var stream: ((UnsafeRawBufferPointer) -> Void)?
    /// Watches: called once the server answered 200.
    var opened: (() -> Void)?
    let completion: (Result<Response, KubeClientError>) -> Void

    init(method: String, path: String, headers: [(String, String)], body: [UInt8]?, isWatch: Bool,
         completion: @escaping (Result<Response, KubeClientError>) -> Void) {
        self.method = method
        self.path = path
        self.headers = headers
        self.body = body
        self.isWatch = isWatch
        self.completion = completion
    }

    var idempotent: Bool { method == "GET" }

    func resetForAttempt() {
        status = 0
        header = { _ in nil }
        buffer = []
        handle = nil
    }

    func transportHead(_ head: TransportResponseHead) {
        status = head.status
        header = head.header
        if isWatch && status == 200 { opened?() }
    }

    func transportBody(_ bytes: UnsafeRawBufferPointer) {
        if isWatch && status == 200 {
            stream?(bytes)
        } else if buffer.count < 64 << 20 {
            buffer.append(contentsOf: bytes)
        }
    }

    func transportComplete(_ error: KubeClientError?) {
        handle = nil
        client?.finished(self, result: error.map { .failure($0) } ?? .success(Response(status: status, body: buffer, header: header)))
    }
}
