import SpillwayReactor

/// A response with its whole body (everything but watches).
struct Response {
    /// The status line and headers (parsed only if read).
    var head: HTTPResponseHead
    var body: [UInt8]

    var status: Int { head.status }
    var headers: HTTPHeaders { head.headers }
}

/// One logical request through its attempts: pacing, credentials, 401 refresh and the
/// 429 / 5xx retry policy. A watch call streams its body to `stream` once the server has
/// answered 200 and is never retried here (the informer owns that decision).
final class Call {
    let verb: APIVerb
    let path: String
    let headers: [(String, String)]
    let body: [UInt8]?
    let isWatch: Bool
    var attempt = 0
    var refreshedAfter401 = false
    var cancelled = false
    var transfer: HTTPTransfer?
    var retryTimer: ReactorSource?

    private var head: HTTPResponseHead?
    private var buffer: [UInt8] = []
    /// Watches: called with the bytes of a 200 stream as they arrive.
    var stream: (([UInt8]) -> Void)?
    /// Watches: called once the server answered 200.
    var opened: (() -> Void)?
    let completion: (Result<Response, KubeClientError>) -> Void

    init(verb: APIVerb, path: String, headers: [(String, String)], body: [UInt8]?,
         completion: @escaping (Result<Response, KubeClientError>) -> Void) {
        self.verb = verb
        self.path = path
        self.headers = headers
        self.body = body
        self.isWatch = verb == .watch
        self.completion = completion
    }

    var method: String { verb.method }
    var idempotent: Bool { method == "GET" }
    /// The HTTP status of the current (or last) attempt, once the server answered.
    var responseStatus: Int? { head?.status }

    /// Starts one attempt on `http`; `answered` is called when the server's answer (its status
    /// line and headers) arrives, `done` with the attempt's outcome.
    func start(
        _ request: HTTPRequest, on http: HTTPClient, answered: @escaping (Call) -> Void,
        done: @escaping (Call, Result<Response, KubeClientError>) -> Void
    ) {
        head = nil
        buffer = []
        transfer = http.start(request, onResponse: { [unowned self] head in
            self.head = head
            answered(self)
            if isWatch && head.status == 200 { opened?() }
        }, onBody: { [unowned self] bytes in
            if isWatch && head?.status == 200 {
                stream?(bytes)
            } else if buffer.count < 64 << 20 {
                buffer.append(contentsOf: bytes)
            }
        }, completion: { [self] result in
            transfer = nil
            switch result {
            case .success(let h):
                done(self, .success(Response(head: h, body: buffer)))
            case .failure(.cancelled):
                done(self, .failure(.cancelled))
            case .failure(let e):
                done(self, .failure(.transport(e.description)))
            }
            buffer = []
        })
    }
}
