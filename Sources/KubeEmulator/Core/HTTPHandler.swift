import Foundation
import KubeWire
import NIOCore
import NIOHTTP1
import NIOSSL

/// Serves one HTTP/1.1 connection or one HTTP/2 stream (both arrive as HTTP/1 parts):
/// collects the request, authenticates it, applies faults, and answers through `API` or
/// the admin endpoints, or hands the connection to a `WatchStream`.
final class HTTPHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    static let maxBody = 3 * 1024 * 1024

    private let emulator: KubeEmulator
    private var head: HTTPRequestHead?
    private var body: [UInt8] = []
    private var bodyTooLarge = false
    private var watch: WatchStream?
    private var certificateIdentity: Identity??

    init(emulator: KubeEmulator) { self.emulator = emulator }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let h):
            head = h
            body = []
            bodyTooLarge = false
        case .body(var buf):
            if body.count + buf.readableBytes > Self.maxBody {
                bodyTooLarge = true
            } else {
                body += buf.readBytes(length: buf.readableBytes) ?? []
            }
        case .end:
            guard let head else { return }
            self.head = nil
            handle(context: context, head: head)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        watch?.stop()
        watch = nil
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: Error) {
        context.close(promise: nil)
    }

    // MARK: Authentication

    private func peerIdentity(_ context: ChannelHandlerContext) -> Identity? {
        if let cached = certificateIdentity { return cached }
        guard emulator.configuration.tls else { return nil }
        // HTTP/1.1: the TLS handler is in this pipeline. HTTP/2: in the connection's, the
        // stream channel's parent (same event loop).
        let ssl = (try? context.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))
            ?? (try? context.channel.parent?.pipeline.syncOperations.handler(type: NIOSSLServerHandler.self))
        var id: Identity?
        if let ssl, let cert = ssl.peerCertificate, let der = try? cert.toDERBytes() {
            id = CertificateAuthority.identity(fromDER: der)
        }
        certificateIdentity = .some(id)
        return id
    }

    private func authenticate(_ context: ChannelHandlerContext, _ head: HTTPRequestHead) -> Identity? {
        if let auth = head.headers.first(name: "authorization") {
            guard auth.hasPrefix("Bearer ") else { return nil }
            let token = auth.utf8.dropFirst("Bearer ".count).drop { $0 == 0x20 || $0 == 0x09 }
            let end = token.lastIndex { $0 != 0x20 && $0 != 0x09 }.map { token.index(after: $0) } ?? token.startIndex
            return emulator.identity(forToken: String(Substring(token[token.startIndex..<end])))
        }
        if let id = peerIdentity(context) { return id }
        return emulator.configuration.tls ? nil : Identity.admin
    }

    // MARK: Dispatch

    private func handle(context: ChannelHandlerContext, head: HTTPRequestHead) {
        let (path, query) = Negotiation.splitURI(head.uri)
        guard let identity = authenticate(context, head) else {
            emulator.accounting.record(verb: head.method.rawValue.lowercased(), resource: path, namespace: "", name: "", code: 401, identity: Identity(user: "system:anonymous"))
            respond(context, head, .error(.unauthorized))
            return
        }
        let req = APIRequest(method: head.method, path: path, query: query, headers: head.headers, body: body, identity: identity)
        if bodyTooLarge {
            respond(context, head, .error(StatusError(code: 413, reason: "RequestEntityTooLarge", message: "Request entity too large: limit is \(Self.maxBody)")))
            return
        }
        if path.hasPrefix("/_emulator/") {
            guard identity.isAdmin else {
                respond(context, head, .error(StatusError(code: 403, reason: "Forbidden", message: "forbidden: User \"\(identity.user)\" cannot \(head.method.rawValue.lowercased()) path \"\(path)\"")))
                return
            }
            respond(context, head, emulator.admin(req))
            return
        }
        let api = emulator.api
        switch api.route(req) {
        case .other(let response):
            emulator.accounting.record(verb: head.method.rawValue.lowercased(), resource: path, namespace: "", name: "", code: status(of: response), identity: identity)
            respond(context, head, response)
        case .resource(let route):
            let latency = emulator.faults.latency
            if latency > .zero {
                context.eventLoop.assumeIsolated().scheduleTask(in: latency) {
                    self.serveResource(context, head, req, route)
                }
            } else {
                serveResource(context, head, req, route)
            }
        }
    }

    private func status(of r: APIResponse) -> Int {
        if case .body(let s, _, _, _, _) = r { return s }
        return 200
    }

    private func serveResource(_ context: ChannelHandlerContext, _ head: HTTPRequestHead, _ req: APIRequest, _ route: ResourceRoute) {
        let resource = route.type.qualifiedPlural
        func record(_ code: Int, name: String? = nil) {
            emulator.accounting.record(verb: route.verb, resource: resource, namespace: route.namespace, name: name ?? route.name, code: code,
                                       identity: req.identity)
        }
        if let failure = emulator.faults.draw() {
            record(failure.status)
            if failure.status == 429 {
                respond(context, head, .body(status: 429, contentType: "text/plain; charset=utf-8",
                                             bytes: Array("Too many requests, please try again later.\n".utf8),
                                             headers: [("Retry-After", String(failure.retryAfterSeconds))]))
            } else {
                var e = StatusError.internalError("injected fault")
                e.retryAfterSeconds = failure.retryAfterSeconds
                respond(context, head, .error(e))
            }
            return
        }
        do {
            try Authorizer.check(req.identity, rules: emulator.configuration.authorization, verb: route.verb, type: route.type,
                                 namespace: route.namespace, name: route.name, subresource: route.subresource)
        } catch let e as StatusError {
            record(e.code)
            respond(context, head, .error(e))
            return
        } catch {
            respond(context, head, .error(.internalError("\(error)")))
            return
        }
        let response = emulator.api.serve(req, route)
        if case .body(let code, _, _, _, let name) = response { record(code, name: name) } else { record(200) }
        switch response {
        case .watch(let plan):
            let stream = WatchStream(plan: plan, context: context, store: emulator.store, bookmarkInterval: emulator.configuration.bookmarkInterval) { [weak self] in
                self?.watch = nil
            }
            stream.registry = emulator.watches
            emulator.watches.add(stream)
            watch = stream
            do {
                try stream.start(head: head)
            } catch let e as StatusError {
                stream.stop()
                watch = nil
                respond(context, head, .error(e))
            } catch {
                stream.stop()
                watch = nil
                respond(context, head, .error(.internalError("\(error)")))
            }
        case .body:
            respond(context, head, response)
        }
    }

    private func respond(_ context: ChannelHandlerContext, _ req: HTTPRequestHead, _ response: APIResponse) {
        guard case .body(let status, let contentType, let bytes, let extra, _) = response else { return }
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Content-Length", value: String(bytes.count))
        headers.add(name: "Cache-Control", value: "no-cache, private")
        for (k, v) in extra { headers.add(name: k, value: v) }
        let head = HTTPResponseHead(version: req.version, status: HTTPResponseStatus(statusCode: status), headers: headers)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if req.method != .HEAD, let slow = emulator.faults.slowResponses, !req.uri.hasPrefix("/_emulator/") {
            context.flush()
            trickle(context, bytes[...], slow)
            return
        }
        if req.method != .HEAD {
            var buf = context.channel.allocator.buffer(capacity: bytes.count)
            buf.writeBytes(bytes)
            context.write(wrapOutboundOut(.body(.byteBuffer(buf))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
    }

    /// Sends `rest` a piece at a time (the slow-response fault), then ends the response.
    private func trickle(_ context: ChannelHandlerContext, _ rest: ArraySlice<UInt8>, _ slow: Faults.SlowResponses) {
        let piece = rest.prefix(slow.chunkBytes)
        if !piece.isEmpty {
            var buffer = context.channel.allocator.buffer(capacity: piece.count)
            buffer.writeBytes(piece)
            context.writeAndFlush(wrapOutboundOut(.body(.byteBuffer(buffer))), promise: nil)
        }
        let remaining = rest.dropFirst(piece.count)
        guard !remaining.isEmpty else {
            context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
            return
        }
        context.eventLoop.assumeIsolated().scheduleTask(in: slow.interval) {
            self.trickle(context, remaining, slow)
        }
    }
}
