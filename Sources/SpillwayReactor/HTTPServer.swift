import CSpillwayShims

/// A small HTTP/1.1 server driven by a ``Reactor`` (libmicrohttpd in external-epoll mode: no
/// thread of its own), for a daemon's `/metrics` and health endpoints. Confined to the
/// reactor's thread.
public final class HTTPServer {
    /// An answer: status, content type and body.
    public struct Response: Sendable, Equatable {
        public var status: UInt32
        public var contentType: String
        public var body: [UInt8]

        public init(status: UInt32, contentType: String, body: [UInt8]) {
            self.status = status
            self.contentType = contentType
            self.body = body
        }

        /// A `text/plain` answer.
        public static func text(_ status: UInt32, _ text: String) -> Response {
            Response(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
        }
    }

    /// Answers a request from its method and path (query included), on the reactor thread.
    public typealias Handler = (_ method: String, _ path: String) -> Response

    private let handler: Handler
    private let reactor: Reactor
    private var server: OpaquePointer?
    private var watch: ReactorSource?
    private var timer: ReactorSource?

    /// The port actually bound (differs from the one asked for when that was 0); 0 once stopped.
    public var port: UInt16 { server.map { spw_httpd_port($0) } ?? 0 }

    /// Listens on `host` (a numeric IPv4 or IPv6 address; "" = every interface) and `port`
    /// (0 = any free port). Fails with the reason the socket could not be bound.
    public init(host: String, port: UInt16, reactor: Reactor, handler: @escaping Handler) throws(HTTPServerError) {
        self.handler = handler
        self.reactor = reactor
        var error = [CChar](repeating: 0, count: 256)
        let started = spw_httpd_start(
            host, port,
            { context, request, method, path in
                let server = Unmanaged<HTTPServer>.fromOpaque(context!).takeUnretainedValue()
                let response = server.handler(String(cString: method!), String(cString: path!))
                _ = response.body.withUnsafeBytes { body in
                    spw_httpd_respond(request, response.status, response.contentType, body.baseAddress, body.count)
                }
            }, Unmanaged.passUnretained(self).toOpaque(), &error, error.count)
        guard let started else {
            let end = error.firstIndex(of: 0) ?? error.count
            throw HTTPServerError(reason: String(decoding: error[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        server = started
        do {
            watch = try reactor.watch(fd: spw_httpd_epoll_fd(started), events: .read) { [unowned self] _ in
                self.service()
            }
        } catch {
            spw_httpd_stop(started)
            server = nil
            throw HTTPServerError(reason: "\(error)")
        }
    }

    /// Closes the socket and every connection. Idempotent.
    public func stop() {
        if let watch { reactor.cancel(watch) }
        if let timer { reactor.cancel(timer) }
        if let server { spw_httpd_stop(server) }
        watch = nil
        timer = nil
        server = nil
    }

    deinit { stop() }

    /// Lets MHD do what is ready, then asks it when it next needs time (connection timeouts).
    private func service() {
        guard let server else { return }
        _ = spw_httpd_run(server)
        if let timer { reactor.cancel(timer) }
        timer = nil
        let milliseconds = spw_httpd_timeout_ms(server)
        guard milliseconds >= 0 else { return }
        // Only fails for lack of memory; MHD then times connections out on the next request.
        timer = try? reactor.addTimer(after: .milliseconds(milliseconds)) { [unowned self] in
            self.timer = nil
            self.service()
        }
    }
}

/// Why an ``HTTPServer`` could not listen (address in use, no such address, …).
public struct HTTPServerError: Error, Sendable, CustomStringConvertible {
    public var reason: String
    public var description: String { reason }
}
