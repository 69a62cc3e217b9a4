import FoundationEssentials
import SpillwayReactor
import KubeWire

/// PEM bytes given inline or as a file that is read at start (and re-read when `reread` is set,
/// e.g. the in-cluster CA bundle which may be rotated).
public enum PEMSource: Sendable, Equatable {
    case data([UInt8])
    case file(path: String, reread: Duration?)
}

/// How requests authenticate (besides a client certificate, which is TLS material).
public enum AuthMethod: Sendable, Equatable {
    case none
    case token(String)
    /// Re-read every `reread`; surrounding whitespace trimmed; the last good value kept on errors.
    case tokenFile(path: String, reread: Duration)
    case basic(username: String, password: String)
    /// An exec credential plugin; `clusterInfo` is the `spec.cluster` object when
    /// `provideClusterInfo` is set.
    case exec(Kubeconfig.ExecConfig, clusterInfo: JSONValue?)
}

/// Everything needed to talk to one API server, resolved and validated.
public struct ClientConfiguration: Sendable {
    /// `https://host:port` (no trailing slash, no path).
    public var server: String
    public var certificateAuthority: PEMSource?
    public var insecureSkipTLSVerify = false
    /// Name to verify the server certificate against instead of the URL's host.
    public var tlsServerName: String?
    public var clientCertificate: PEMSource?
    public var clientKey: PEMSource?
    public var auth: AuthMethod = .none
    public var proxyURL: String?
    public var disableCompression = false
    /// The context's namespace, or the in-cluster pod's namespace, or "default".
    public var namespace = "default"
    /// The context used, for messages; nil in-cluster or when built by hand.
    public var contextName: String?
    /// Where it came from, for messages (`kubeconfig /x, context "y"`, `in-cluster`).
    public var origin: String
    /// How long an exec credential plugin may run before it is killed and the requests waiting
    /// for it fail (``ExecCredential/defaultTimeout``).
    public var execPluginTimeout: Duration = ExecCredential.defaultTimeout

    public init(server: String, origin: String = "configuration") {
        self.server = server
        self.origin = origin
    }

    /// How often a token file is re-read (kubelet rotates projected tokens at 80 % of their
    /// lifetime, i.e. after tens of minutes at the least; client-go also re-reads every minute).
    public static let tokenFileRereadInterval: Duration = .seconds(60)
    /// How often the in-cluster CA bundle is re-read.
    public static let caRereadInterval: Duration = .seconds(300)

    public static let serviceAccountRoot = "/var/run/secrets/kubernetes.io/serviceaccount"

    /// The configuration the daemon uses, in client-go / controller-runtime order: an explicit
    /// kubeconfig path (must exist, used alone), else `$KUBECONFIG` (merged), else in-cluster
    /// when `KUBERNETES_SERVICE_HOST` is set, else `~/.kube/config`.
    public static func load(
        kubeconfig explicitPath: String? = nil, context: String? = nil,
        environment: [String: String] = ProcessInfo.processInfo.environment,
        serviceAccountRoot: String = serviceAccountRoot
    ) throws(ConfigurationError) -> ClientConfiguration {
        if let explicitPath, !explicitPath.isEmpty {
            let kc = try Kubeconfig.load(paths: [explicitPath], mustExist: true)
            return try kc.resolve(context: context, listing: "kubeconfig \(explicitPath)")
        }
        if let list = environment["KUBECONFIG"], !list.isEmpty {
            let paths = list.split(separator: ":", omittingEmptySubsequences: true).map(String.init)
            let kc = try Kubeconfig.load(paths: paths, mustExist: false)
            return try kc.resolve(context: context, listing: "KUBECONFIG (\(paths.joined(separator: ", ")))")
        }
        if let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty, context == nil {
            return try inCluster(environment: environment, root: serviceAccountRoot)
        }
        let home = environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path
        let path = home + "/.kube/config"
        let kc = try Kubeconfig.load(paths: [path], mustExist: true)
        return try kc.resolve(context: context, listing: "kubeconfig \(path)")
    }

    /// In-cluster configuration: the service host/port from the environment, the service
    /// account's token (re-read about every minute), CA (re-read every few minutes) and namespace
    /// (`POD_NAMESPACE` wins over the file).
    public static func inCluster(
        environment: [String: String] = ProcessInfo.processInfo.environment, root: String = serviceAccountRoot
    ) throws(ConfigurationError) -> ClientConfiguration {
        guard let host = environment["KUBERNETES_SERVICE_HOST"], !host.isEmpty,
              let port = environment["KUBERNETES_SERVICE_PORT"], !port.isEmpty
        else {
            throw ConfigurationError("in-cluster configuration needs KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT")
        }
        guard let p = Int(port), (1...65535).contains(p) else {
            throw ConfigurationError("KUBERNETES_SERVICE_PORT \"\(port)\" is not a port number")
        }
        let h = host.contains(":") ? "[\(host)]" : host
        var c = ClientConfiguration(server: "https://\(h):\(p)", origin: "in-cluster service account \(root)")
        let tokenPath = root + "/token"
        let caPath = root + "/ca.crt"
        try requireReadable(tokenPath, what: "in-cluster service-account token")
        guard let token = try? TextFile.text(tokenPath), !token.trimmingWhitespace().isEmpty else {
            throw ConfigurationError("in-cluster service-account token \(tokenPath) is empty")
        }
        try requireReadable(caPath, what: "in-cluster CA bundle")
        c.certificateAuthority = .file(path: caPath, reread: caRereadInterval)
        c.auth = .tokenFile(path: tokenPath, reread: tokenFileRereadInterval)
        if let ns = environment["POD_NAMESPACE"], !ns.isEmpty {
            c.namespace = ns
        } else if let ns = try? TextFile.text(root + "/namespace"), !ns.trimmingWhitespace().isEmpty {
            c.namespace = ns.trimmingWhitespace()
        }
        return c
    }

    static func requireReadable(_ path: String, what: String) throws(ConfigurationError) {
        guard TextFile.exists(path) else {
            throw ConfigurationError("\(what) \(path) does not exist")
        }
        guard TextFile.isReadable(path) else {
            throw ConfigurationError("\(what) \(path) is not readable")
        }
    }
}

extension Kubeconfig {
    /// Resolves the context (`context` overrides `current-context`) into a validated
    /// configuration: every referenced file exists, no contradictory settings.
    /// `listing` names the files for messages (`KUBECONFIG (/a, /b)`).
    public func resolve(context override: String? = nil, listing: String) throws(ConfigurationError) -> ClientConfiguration {
        let fileList = files.joined(separator: ", ")
        let contextName: String
        if let override, !override.isEmpty {
            contextName = override
            guard contexts[contextName] != nil else {
                throw ConfigurationError("context \"\(contextName)\" (from --context) is not defined in any file of \(listing)")
            }
        } else if let cc = currentContext {
            contextName = cc.value
            guard contexts[contextName] != nil else {
                throw ConfigurationError("current-context \"\(contextName)\" set in \(cc.file) is not defined in any file of \(listing)")
            }
        } else {
            throw ConfigurationError("no current-context is set in \(listing) and no context was given")
        }
        let ctx = contexts[contextName]!
        let at = "context \"\(contextName)\" (\(ctx.file))"
        guard let clusterName = ctx.value.cluster, !clusterName.isEmpty else {
            throw ConfigurationError("\(at) names no cluster")
        }
        guard let clusterEntry = clusters[clusterName] else {
            throw ConfigurationError("context \"\(contextName)\" names cluster \"\(clusterName)\", which no file in \(Self.which(listing)) defines (\(fileList))")
        }
        let cluster = clusterEntry.value
        let cat = "cluster \"\(clusterName)\" (\(clusterEntry.file))"
        guard let server = cluster.server?.trimmingWhitespace(), !server.isEmpty else {
            throw ConfigurationError("\(cat) has no server")
        }
        guard ServerURL(server) != nil else {
            throw ConfigurationError("\(cat): server \"\(server)\" is not an http(s) URL")
        }
        var c = ClientConfiguration(
            server: server.hasSuffix("/") ? String(server.dropLast()) : server,
            origin: "\(listing), context \"\(contextName)\"")
        c.contextName = contextName
        c.namespace = ctx.value.namespace.flatMap { $0.isEmpty ? nil : $0 } ?? "default"
        c.insecureSkipTLSVerify = cluster.insecureSkipTLSVerify
        c.tlsServerName = cluster.tlsServerName.flatMap { $0.isEmpty ? nil : $0 }
        c.proxyURL = cluster.proxyURL.flatMap { $0.isEmpty ? nil : $0 }
        c.disableCompression = cluster.disableCompression
        let clusterDir = FilePath.directory(of: clusterEntry.file)
        c.certificateAuthority = try Self.pem(
            data: cluster.certificateAuthorityData, path: cluster.certificateAuthority, relativeTo: clusterDir,
            field: "\(cat): certificate-authority")
        if c.certificateAuthority != nil && c.insecureSkipTLSVerify {
            throw ConfigurationError("\(cat): certificate-authority and insecure-skip-tls-verify are both set; use one")
        }

        guard let userName = ctx.value.user, !userName.isEmpty else {
            return c  // anonymous
        }
        guard let userEntry = users[userName] else {
            throw ConfigurationError("context \"\(contextName)\" names user \"\(userName)\", which no file in \(Self.which(listing)) defines (\(fileList))")
        }
        let user = userEntry.value
        let uat = "user \"\(userName)\" (\(userEntry.file))"
        let userDir = FilePath.directory(of: userEntry.file)

        c.clientCertificate = try Self.pem(
            data: user.clientCertificateData, path: user.clientCertificate, relativeTo: userDir, field: "\(uat): client-certificate")
        c.clientKey = try Self.pem(data: user.clientKeyData, path: user.clientKey, relativeTo: userDir, field: "\(uat): client-key")
        if (c.clientCertificate == nil) != (c.clientKey == nil) {
            throw ConfigurationError("\(uat): \(c.clientCertificate == nil ? "client-key" : "client-certificate") is set without \(c.clientCertificate == nil ? "client-certificate" : "client-key")")
        }

        let hasToken = !(user.token ?? "").isEmpty || !(user.tokenFile ?? "").isEmpty
        let hasBasic = !(user.username ?? "").isEmpty || !(user.password ?? "").isEmpty
        if hasToken && hasBasic {
            throw ConfigurationError("\(uat): a token and username/password are both set; use one")
        }
        if let exec = user.exec {
            if hasToken || hasBasic {
                throw ConfigurationError("\(uat): exec and a \(hasToken ? "token" : "username/password") are both set; use one")
            }
            c.auth = .exec(try Self.validate(exec: exec, at: uat, dir: userDir), clusterInfo: cluster.execClusterInfo(server: c.server, provide: exec.provideClusterInfo))
        } else if let tokenFile = user.tokenFile, !tokenFile.isEmpty {
            let abs = Self.absolute(tokenFile, relativeTo: userDir)
            try ClientConfiguration.requireReadable(abs, what: "\(uat): tokenFile")
            c.auth = .tokenFile(path: abs, reread: ClientConfiguration.tokenFileRereadInterval)
        } else if let token = user.token, !token.isEmpty {
            c.auth = .token(token)
        } else if hasBasic {
            guard let u = user.username, !u.isEmpty else { throw ConfigurationError("\(uat): password is set without username") }
            c.auth = .basic(username: u, password: user.password ?? "")
        }
        return c
    }

    /// "KUBECONFIG" or "kubeconfig /x", for "which no file in … defines".
    static func which(_ listing: String) -> String {
        listing.hasPrefix("KUBECONFIG") ? "KUBECONFIG" : listing
    }

    /// TLS material of one kubeconfig field pair: the inline `*-data` wins; else the file, a
    /// relative path taken from the directory of the kubeconfig that defines it, which must be
    /// readable now (the error names `field`, e.g. `user "u" (/x): client-key`); nil if neither is set.
    static func pem(data: [UInt8]?, path: String?, relativeTo dir: String, field: String) throws(ConfigurationError) -> PEMSource? {
        if let data { return .data(data) }
        guard let path, !path.isEmpty else { return nil }
        let abs = absolute(path, relativeTo: dir)
        try ClientConfiguration.requireReadable(abs, what: field)
        return .file(path: abs, reread: nil)
    }

    static func absolute(_ path: String, relativeTo dir: String) -> String {
        if path.hasPrefix("/") { return path }
        return FilePath.standardized(dir + "/" + path)
    }

    static let execAPIVersions = ["client.authentication.k8s.io/v1", "client.authentication.k8s.io/v1beta1"]

    static func validate(exec: ExecConfig, at: String, dir: String) throws(ConfigurationError) -> ExecConfig {
        guard execAPIVersions.contains(exec.apiVersion) else {
            throw ConfigurationError("\(at): exec.apiVersion \"\(exec.apiVersion)\" is not supported (use \(execAPIVersions.joined(separator: " or ")))")
        }
        var e = exec
        switch exec.interactiveMode {
        case nil, "":
            if exec.apiVersion.hasSuffix("/v1") {
                throw ConfigurationError("\(at): exec.interactiveMode is required with \(exec.apiVersion) (spillway runs without a terminal: use Never or IfAvailable)")
            }
            e.interactiveMode = "IfAvailable"
        case "Never", "IfAvailable":
            break
        case "Always":
            throw ConfigurationError("\(at): exec.interactiveMode is Always, but spillway runs without a terminal")
        case let other?:
            throw ConfigurationError("\(at): exec.interactiveMode \"\(other)\" is not one of Never, IfAvailable, Always")
        }
        // Like client-go: a relative command with a path separator is relative to the kubeconfig.
        if !e.command.hasPrefix("/") && e.command.contains("/") {
            e.command = absolute(e.command, relativeTo: dir)
        }
        return e
    }
}

extension Kubeconfig.Cluster {
    /// `spec.cluster` of the ExecCredential handed to a plugin that asked for cluster info.
    func execClusterInfo(server: String, provide: Bool) -> JSONValue? {
        guard provide else { return nil }
        var info: JSONValue = ["server": .string(server)]
        if let tlsServerName { info["tls-server-name"] = .string(tlsServerName) }
        if insecureSkipTLSVerify { info["insecure-skip-tls-verify"] = true }
        if let certificateAuthorityData {
            info["certificate-authority-data"] = .string(Data(certificateAuthorityData).base64EncodedString())
        }
        if let proxyURL { info["proxy-url"] = .string(proxyURL) }
        if disableCompression { info["disable-compression"] = true }
        return info
    }
}
