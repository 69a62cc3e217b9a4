import SpillwayReactor

/// One listening address serving some of /metrics, /healthz and /readyz, on the daemon's loop
/// (the reactor's ``HTTPServer``): routes by path, GET and HEAD only.
final class HTTPEndpoint {
    typealias Response = HTTPServer.Response
    typealias Route = () -> Response

    let address: BindAddress
    private let server: HTTPServer

    /// The port actually bound (differs from `address.port` when that is 0).
    var port: UInt16 { server.port }

    init(address: BindAddress, routes: [String: Route], reactor: Reactor) throws {
        self.address = address
        do {
            server = try HTTPServer(host: address.host, port: address.port, reactor: reactor) { method, path in
                Self.answer(routes, method: method, path: path)
            }
        } catch {
            throw ListenError(address: address, reason: error.reason)
        }
    }

    /// Closes the socket and every connection. Idempotent.
    func stop() { server.stop() }

    private static func answer(_ routes: [String: Route], method: String, path: String) -> Response {
        let route = path.split(separator: "?", maxSplits: 1).first.map(String.init) ?? path
        guard let handler = routes[route] else { return .text(404, "not found\n") }
        guard method == "GET" || method == "HEAD" else { return .text(405, "method not allowed\n") }
        return handler()
    }
}

struct ListenError: Error, CustomStringConvertible {
    var address: BindAddress
    var reason: String
    var description: String { "cannot listen on \(address): \(reason)" }
}
