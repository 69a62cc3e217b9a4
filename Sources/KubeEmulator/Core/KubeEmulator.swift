import Foundation
import KubeWire
import NIOConcurrencyHelpers
import NIOCore
import NIOHTTP1
import NIOHTTP2
import NIOPosix
import NIOSSL

/// A Kubernetes API server emulator for tests, benchmarks and demos.
///
/// ```swift
/// let emu = try KubeEmulator.start(.init(tls: true))
/// defer { emu.shutdown() }
/// try emu.writeKubeconfig(to: "/tmp/kubeconfig")
/// ```
/// The blocking `start`, `restart` and `shutdown` are meant for synchronous XCTest code.
public final class KubeEmulator: @unchecked Sendable {
    public struct Configuration: Sendable {
        /// Serve HTTPS (HTTP/2 and HTTP/1.1 by ALPN) with a CA made at start; otherwise plain
        /// HTTP/1.1 where a request without credentials is the admin.
        public var tls: Bool
        public var host: String
        /// 0 picks a free port.
        public var port: Int
        public var bookmarkInterval: TimeAmount
        /// Events kept for watch resumption and exact-RV pagination; older RVs get 410.
        public var historyLimit: Int
        /// Watch duration when the client sends no timeoutSeconds (the real server picks 30–60 min).
        public var defaultWatchTimeoutSeconds: Int
        /// The WatchList feature gate: off answers `sendInitialEvents` with 422, as 1.33 does.
        public var watchList: Bool
        /// Bearer tokens and who they stand for (the admin token is added automatically).
        public var tokens: [String: Identity]
        /// Who may do what, for identities outside system:masters.
        public var authorization: [AccessRule]
        /// Create default, kube-system, kube-public and kube-node-lease at start.
        public var defaultNamespaces: Bool
        /// Load the state from this file at start (when it exists) and save it at shutdown.
        public var stateFile: String?
        /// Extra kinds to serve (custom resources), beside the built-in ones.
        public var extraTypes: [ResourceType]
        /// Event loop threads (default: one per core).
        public var threads: Int

        public init(tls: Bool = false, host: String = "127.0.0.1", port: Int = 0, bookmarkInterval: TimeAmount = .seconds(60),
                    historyLimit: Int = 10_000, defaultWatchTimeoutSeconds: Int = 1800, watchList: Bool = true,
                    tokens: [String: Identity] = [:], authorization: [AccessRule] = [], defaultNamespaces: Bool = true,
                    stateFile: String? = nil, extraTypes: [ResourceType] = [], threads: Int = System.coreCount) {
            self.tls = tls
            self.host = host
            self.port = port
            self.bookmarkInterval = bookmarkInterval
            self.historyLimit = historyLimit
            self.defaultWatchTimeoutSeconds = defaultWatchTimeoutSeconds
            self.watchList = watchList
            self.tokens = tokens
            self.authorization = authorization
            self.defaultNamespaces = defaultNamespaces
            self.stateFile = stateFile
            self.extraTypes = extraTypes
            self.threads = threads
        }
    }

    /// How a kubeconfig written by `writeKubeconfig` authenticates.
    public enum KubeconfigIdentity: Sendable {
        case admin
        case token(String)
        case clientCertificate(commonName: String, groups: [String])
    }

    public let configuration: Configuration
    public let store: Store
    public let faults = Faults()
    public let accounting = RequestAccounting()
    /// The token of the admin identity (system:masters).
    public let adminToken: String
    let watches = WatchRegistry()
    private let group: MultiThreadedEventLoopGroup
    private let ca: CertificateAuthority?
    private let serving: CertificateAndKey?
    private let sslContext: NIOSSLContext?
    private let state = NIOLockedValueBox<(server: Channel?, connections: [ObjectIdentifier: Channel], port: Int)>((nil, [:], 0))

    /// The CA that signed the serving certificate (nil in plain-HTTP mode).
    public var caPEM: String? { ca?.certificatePEM }
    public var port: Int { state.withLockedValue { $0.port } }
    public var baseURL: String { "\(configuration.tls ? "https" : "http")://\(configuration.host):\(port)" }
    public var requests: RequestAccounting.Snapshot { accounting.snapshot }

    var api: API { API(store: store, config: configuration, serverAddress: "\(configuration.host):\(port)") }

    private init(_ config: Configuration) throws {
        configuration = config
        store = Store(types: ResourceType.builtIn + config.extraTypes, historyLimit: config.historyLimit)
        adminToken = (0..<4).map { _ in String(UInt64.random(in: .min ... .max), radix: 36) }.joined()
        group = MultiThreadedEventLoopGroup(numberOfThreads: max(1, config.threads))
        if config.tls {
            let ca = try CertificateAuthority()
            let serving = try ca.issueServing()
            var tlsConfig = TLSConfiguration.makeServerConfiguration(
                certificateChain: [.certificate(try NIOSSLCertificate(bytes: Array(serving.certificatePEM.utf8), format: .pem))],
                privateKey: .privateKey(try NIOSSLPrivateKey(bytes: Array(serving.privateKeyPEM.utf8), format: .pem)))
            tlsConfig.applicationProtocols = ["h2", "http/1.1"]
            tlsConfig.certificateVerification = .optionalVerification
            tlsConfig.trustRoots = .certificates([try NIOSSLCertificate(bytes: Array(ca.certificatePEM.utf8), format: .pem)])
            self.ca = ca
            self.serving = serving
            self.sslContext = try NIOSSLContext(configuration: tlsConfig)
        } else {
            ca = nil
            serving = nil
            sslContext = nil
        }
        faults.emulator = self
        let loop = group.next()
        store.scheduleNamespaceSweep = { [unowned store] ns in
            loop.execute { store.sweepNamespace(ns) }
        }
    }

    /// Starts an emulator and waits until it listens.
    public static func start(_ config: Configuration = Configuration()) throws -> KubeEmulator {
        let emu = try KubeEmulator(config)
        do {
            if let path = config.stateFile, FileManager.default.fileExists(atPath: path) {
                try emu.loadState(from: path)
            } else if config.defaultNamespaces {
                for ns in ["default", "kube-system", "kube-public", "kube-node-lease"] {
                    try emu.store.create(.namespace, namespace: "", ["metadata": ["name": .string(ns)]])
                }
            }
            try emu.bind(port: config.port)
        } catch {
            try? emu.group.syncShutdownGracefully()
            throw error
        }
        return emu
    }

    private func bind(port: Int) throws {
        let bootstrap = ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: 256)
            .serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
            .childChannelOption(.socketOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { [weak self] channel in
                guard let self else { return channel.close() }
                self.track(channel)
                return channel.eventLoop.makeCompletedFuture { try self.configure(channel) }
            }
        let server = try bootstrap.bind(host: configuration.host, port: port).wait()
        state.withLockedValue {
            $0.server = server
            $0.port = server.localAddress?.port ?? port
        }
    }

    private func track(_ channel: Channel) {
        let id = ObjectIdentifier(channel)
        state.withLockedValue { $0.connections[id] = channel }
        channel.closeFuture.whenComplete { [weak self] _ in
            _ = self?.state.withLockedValue { $0.connections.removeValue(forKey: id) }
        }
    }

    private func configure(_ channel: Channel) throws {
        let sync = channel.pipeline.syncOperations
        guard let sslContext else {
            try sync.configureHTTPServerPipeline(withErrorHandling: true)
            try sync.addHandler(HTTPHandler(emulator: self))
            return
        }
        try sync.addHandler(NIOSSLServerHandler(context: sslContext))
        try sync.addHandler(WriteCoalescer())
        _ = channel.configureCommonHTTPServerPipeline(
            connectionConfiguration: NIOHTTP2Handler.ConnectionConfiguration(), streamConfiguration: Self.http2Streams
        ) { stream in
            stream.eventLoop.makeCompletedFuture {
                try stream.pipeline.syncOperations.addHandler(HTTPHandler(emulator: self))
            }
        }
    }

    /// libcurl (7.88) ends many completed streams with RST_STREAM. The API server (Go) takes
    /// that in its stride; NIO's rapid-reset defence (200 resets in 30 s) would close the
    /// connection after about 200 requests, failing the requests in flight on it.
    private static let http2Streams: NIOHTTP2Handler.StreamConfiguration = {
        var c = NIOHTTP2Handler.StreamConfiguration()
        c.streamResetFrameRateLimit.maximumCount = 1 << 30
        return c
    }()

    /// Stops listening and closes every connection, then listens again on the same port
    /// with the same state (a restarted API server: clients see their watches end).
    ///
    /// `losingWatchCache`: the restarted server's watch cache starts at the current
    /// resourceVersion, as a real API server's does after a restart: a watch resumed from an
    /// earlier resourceVersion, and a continue token from before, get 410 Expired.
    public func restart(losingWatchCache: Bool = false) throws {
        try stopListening()
        if losingWatchCache { store.compact() }
        try bind(port: port)
    }

    /// An outage: the listener and every connection close (clients see refused connections);
    /// the store, its history and the port stay for `comeBack`.
    public func goAway() throws {
        try stopListening()
    }

    /// The end of an outage: listening again on the same port.
    public func comeBack() throws {
        try bind(port: port)
    }

    /// Aborts every client connection with a TCP reset (SO_LINGER 0), as a dying server host or
    /// a load balancer dropping its flows does: requests in flight fail, watches end.
    public func resetConnections() {
        let connections = state.withLockedValue { Array($0.connections.values) }
        for connection in connections {
            // SO_LINGER with a zero timeout: close() sends RST instead of FIN.
            guard let socket = connection as? SocketOptionProvider else {
                connection.close(promise: nil)
                continue
            }
            socket.setSoLinger(linger(l_onoff: 1, l_linger: 0)).whenComplete { _ in connection.close(promise: nil) }
        }
    }

    private func stopListening() throws {
        let (server, conns) = state.withLockedValue { s -> (Channel?, [Channel]) in
            let r = (s.server, Array(s.connections.values))
            s.server = nil
            return r
        }
        try server?.close().wait()
        for c in conns { try? c.close().wait() }
    }

    /// Stops the server (saving the state file, if configured) and its threads.
    public func shutdown() {
        try? stopListening()
        if let path = configuration.stateFile {
            do { try saveState(to: path) } catch {
                FileHandle.standardError.write(Data("kube-emulator: could not save state to \(path): \(error)\n".utf8))
            }
        }
        try? group.syncShutdownGracefully()
    }

    // MARK: State file

    public func saveState(to path: String) throws {
        let tmp = path + ".tmp"
        try Data(store.snapshot().encoded()).write(to: URL(fileURLWithPath: tmp))
        // rename(2) replaces the old file atomically: a crash leaves the old or the new state.
        guard rename(tmp, path) == 0 else {
            throw StatusError.internalError("rename \(tmp) to \(path): \(String(cString: strerror(errno)))")
        }
    }

    public func loadState(from path: String) throws {
        let data = try Data(contentsOf: URL(fileURLWithPath: path))
        do {
            try store.restore(try JSONParser.parse(Array(data)))
        } catch let e as JSONParseError {
            throw StatusError.badRequest("state file \(path): \(e.message)")
        }
    }

    // MARK: Identities and kubeconfig

    func identity(forToken token: String) -> Identity? {
        if token == adminToken { return .admin }
        return configuration.tokens[token]
    }

    /// A client certificate signed by the emulator's CA: CN = user, O = groups.
    public func issueClientCertificate(commonName: String, groups: [String] = []) throws -> CertificateAndKey {
        guard let ca else { throw StatusError.badRequest("client certificates need TLS mode") }
        return try ca.issueClient(commonName: commonName, groups: groups)
    }

    /// Writes a kubeconfig that reaches this emulator as `identity`; returns its text.
    @discardableResult
    public func writeKubeconfig(to path: String, identity: KubeconfigIdentity = .admin, namespace: String = "default") throws -> String {
        var cluster = "    server: \(baseURL)\n"
        if let caPEM { cluster += "    certificate-authority-data: \(Data(caPEM.utf8).base64EncodedString())\n" }
        var user: String
        switch identity {
        case .admin: user = "    token: \(adminToken)\n"
        case .token(let t): user = "    token: \(t)\n"
        case .clientCertificate(let cn, let groups):
            let c = try issueClientCertificate(commonName: cn, groups: groups)
            user = "    client-certificate-data: \(Data(c.certificatePEM.utf8).base64EncodedString())\n"
            user += "    client-key-data: \(Data(c.privateKeyPEM.utf8).base64EncodedString())\n"
        }
        if !configuration.tls, case .admin = identity { user = "    {}\n" }
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            - name: kube-emulator
              cluster:
            \(cluster)contexts:
            - name: kube-emulator
              context:
                cluster: kube-emulator
                user: kube-emulator-user
                namespace: \(namespace)
            current-context: kube-emulator
            users:
            - name: kube-emulator-user
              user:
            \(user)
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return text
    }

    /// Serves a custom resource kind from now on (e.g. a CRD's kind).
    public func register(_ type: ResourceType) { store.register(type) }

    // MARK: Admin endpoints

    func admin(_ req: APIRequest) -> APIResponse {
        switch (req.method, req.path) {
        case (.GET, "/_emulator/requests"):
            return .json(200, accounting.snapshot.json)
        case (.DELETE, "/_emulator/requests"):
            accounting.reset()
            return .json(200, ["status": "Success"])
        case (.POST, "/_emulator/faults"):
            do {
                try faults.apply(try JSONParser.parse(req.body))
                return .json(200, ["status": "Success"])
            } catch let e as StatusError {
                return .error(e)
            } catch {
                return .error(.badRequest("faults: \(error)"))
            }
        case (.POST, "/_emulator/restart"):
            let losingWatchCache = (try? JSONParser.parse(req.body))?["loseWatchCache"]?.boolValue == true
            // After this answer is out; never block an event loop on the restart itself.
            DispatchQueue.global().asyncAfter(deadline: .now() + .milliseconds(50)) {
                try? self.restart(losingWatchCache: losingWatchCache)
            }
            return .json(200, ["status": "Success"])
        case (.GET, "/_emulator/state"):
            return .json(200, ["resourceVersion": .int(Int64(store.resourceVersion)), "openWatches": .int(Int64(watches.count))])
        default:
            return .error(.pathNotFound)
        }
    }
}
