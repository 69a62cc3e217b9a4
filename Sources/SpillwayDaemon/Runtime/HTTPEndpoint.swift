import CSpillwayShims
import SpillwayReactor

/// One listening address serving some of /metrics, /healthz and /readyz, driven by the daemon's
/// loop (libmicrohttpd in external-epoll mode: no thread of its own).
final class HTTPEndpoint {
    struct Response {
        var status: UInt32
        var contentType: String
        var body: [UInt8]

        static func text(_ status: UInt32, _ text: String) -> Response {
            Response(status: status, contentType: "text/plain; charset=utf-8", body: Array(text.utf8))
        }
    }

    typealias Route = () -> Response

    let address: BindAddress
    private let routes: [String: Route]
    private let reactor: Reactor
    private var server: OpaquePointer?
    private var watch: ReactorSource?
    private var timer: ReactorSource?

    /// The port actually bound (differs from `address.port` when that is 0).
    var port: UInt16 { server.map { spw_httpd_port($0) } ?? 0 }

    init(address: BindAddress, routes: [String: Route], reactor: Reactor) throws {
        self.address = address
        self.routes = routes
        self.reactor = reactor
        var error = [CChar](repeating: 0, count: 256)
        let started = spw_httpd_start(
            address.host, address.port,
            { context, request, method, path in
                let endpoint = Unmanaged<HTTPEndpoint>.fromOpaque(context!).takeUnretainedValue()
                let response = endpoint.answer(method: String(cString: method!), path: String(cString: path!))
                _ = response.body.withUnsafeBytes { body in
                    spw_httpd_respond(request, response.status, response.contentType, body.baseAddress, body.count)
                }
            }, Unmanaged.passUnretained(self).toOpaque(), &error, error.count)
        guard let started else {
            throw ListenError(address: address, reason: String(decoding: error.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self))
        }
        server = started
        do {
            watch = try reactor.watch(fd: spw_httpd_epoll_fd(started), events: .read) { [unowned self] _ in
                self.service()
            }
        } catch {
            spw_httpd_stop(started)
            server = nil
            throw error
        }
    }

    /// Closes the socket and every connection. Idempotent.
    func stop() {
        if let watch { reactor.cancel(watch) }
        if let timer { reactor.cancel(timer) }
        if let server { spw_httpd_stop(server) }
        watch = nil
        timer = nil
        server = nil
    }

    deinit { stop() }

    private func answer(method: String, path: String) -> Response {
        let route = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        guard let handler = routes[route] else { return .text(404, "not found\n") }
        guard method == "GET" || method == "HEAD" else { return .text(405, "method not allowed\n") }
        return handler()
    }

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

struct ListenError: Error, CustomStringConvertible {
    var address: BindAddress
    var reason: String
    var description: String { "cannot listen on \(address): \(reason)" }
}
