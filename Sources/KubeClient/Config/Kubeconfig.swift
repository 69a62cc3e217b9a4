import FoundationEssentials
import SpillwayReactor
import KubeWire

/// A configuration problem, found at start before any request. The message names the file,
/// the context and the field at fault.
public struct ConfigurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String
    public init(_ message: String) { self.message = message }
    public var description: String { message }
}

/// The parsed kubeconfig files, merged by the rules of KUBECONFIG: for clusters, users and
/// contexts the first file that defines a name wins; `current-context` comes from the first
/// file that sets it. Every entry remembers the file it came from, so relative paths resolve
/// against that file's directory and errors can name it.
public struct Kubeconfig: Sendable {
    public struct Entry<Value: Sendable>: Sendable {
        public var value: Value
        /// The file that defined it.
        public var file: String
    }

    public struct Cluster: Sendable, Equatable {
        public var server: String?
        public var certificateAuthority: String?
        public var certificateAuthorityData: [UInt8]?
        public var insecureSkipTLSVerify = false
        public var tlsServerName: String?
        public var proxyURL: String?
        public var disableCompression = false
    }

    public struct ExecConfig: Sendable, Equatable {
        public var command: String
        public var args: [String] = []
        public var env: [(name: String, value: String)] = []
        public var apiVersion: String
        public var installHint: String?
        public var provideClusterInfo = false
        public var interactiveMode: String?

        public static func == (a: ExecConfig, b: ExecConfig) -> Bool {
            a.command == b.command && a.args == b.args && a.env.map(\.name) == b.env.map(\.name)
                && a.env.map(\.value) == b.env.map(\.value) && a.apiVersion == b.apiVersion
                && a.installHint == b.installHint && a.provideClusterInfo == b.provideClusterInfo
                && a.interactiveMode == b.interactiveMode
        }
    }

    public struct User: Sendable, Equatable {
        public var clientCertificate: String?
        public var clientCertificateData: [UInt8]?
        public var clientKey: String?
        public var clientKeyData: [UInt8]?
        public var token: String?
        public var tokenFile: String?
        public var username: String?
        public var password: String?
        public var exec: ExecConfig?
    }

    public struct Context: Sendable, Equatable {
        public var cluster: String?
        public var user: String?
        public var namespace: String?
    }

    public var clusters: [String: Entry<Cluster>] = [:]
    public var users: [String: Entry<User>] = [:]
    public var contexts: [String: Entry<Context>] = [:]
    public var currentContext: Entry<String>?
    /// The files that were read, in precedence order.
    public var files: [String] = []

    public init() {}

    /// Reads and merges `paths` in order. Missing files are skipped unless `mustExist` (an
    /// explicit `--kubeconfig`); if none exists the error lists them all.
    public static func load(paths: [String], mustExist: Bool) throws(ConfigurationError) -> Kubeconfig {
        var config = Kubeconfig()
        for path in paths where !path.isEmpty {
            guard TextFile.exists(path) else {
                if mustExist { throw ConfigurationError("kubeconfig \(path) does not exist") }
                continue
            }
            let text: String
            do {
                text = try TextFile.text(path)
            } catch {
                throw ConfigurationError("kubeconfig \(path) cannot be read: \(error.reason)")
            }
            try config.merge(yaml: text, file: path)
        }
        if config.files.isEmpty {
            let listed = paths.filter { !$0.isEmpty }.joined(separator: ", ")
            throw ConfigurationError("no kubeconfig file found (KUBECONFIG names \(listed.isEmpty ? "nothing" : listed))")
        }
        return config
    }

    /// Merges one file's YAML under the first-definition-wins rule.
    public mutating func merge(yaml: String, file: String) throws(ConfigurationError) {
        let node: YAMLNode?
        do {
            node = try YAMLReader.compose(yaml)
        } catch {
            throw ConfigurationError("kubeconfig \(file) is not valid YAML: \(error)")
        }
        let root = try node.map { node throws(ConfigurationError) in try KubeconfigYAML.plain(node, file: file) }
        files.append(file)
        guard let root else { return }  // an empty file defines nothing
        guard let doc = root as? [String: Any] else {
            throw ConfigurationError("kubeconfig \(file) is not a YAML mapping")
        }
        let r = FieldReader(file: file)
        if let cc = try r.string(doc["current-context"], "current-context"), !cc.isEmpty, currentContext == nil {
            currentContext = Entry(value: cc, file: file)
        }
        for (name, body) in try r.namedList(doc["clusters"], "clusters", inner: "cluster") where clusters[name] == nil {
            let at = "cluster \"\(name)\""
            var c = Cluster()
            c.server = try r.string(body["server"], "\(at): server")
            c.certificateAuthority = try r.string(body["certificate-authority"], "\(at): certificate-authority")
            c.certificateAuthorityData = try r.base64(body["certificate-authority-data"], "\(at): certificate-authority-data")
            c.insecureSkipTLSVerify = try r.bool(body["insecure-skip-tls-verify"], "\(at): insecure-skip-tls-verify") ?? false
            c.tlsServerName = try r.string(body["tls-server-name"], "\(at): tls-server-name")
            c.proxyURL = try r.string(body["proxy-url"], "\(at): proxy-url")
            c.disableCompression = try r.bool(body["disable-compression"], "\(at): disable-compression") ?? false
            clusters[name] = Entry(value: c, file: file)
        }
        for (name, body) in try r.namedList(doc["users"], "users", inner: "user") where users[name] == nil {
            let at = "user \"\(name)\""
            var u = User()
            u.clientCertificate = try r.string(body["client-certificate"], "\(at): client-certificate")
            u.clientCertificateData = try r.base64(body["client-certificate-data"], "\(at): client-certificate-data")
            u.clientKey = try r.string(body["client-key"], "\(at): client-key")
            u.clientKeyData = try r.base64(body["client-key-data"], "\(at): client-key-data")
            u.token = try r.string(body["token"], "\(at): token")
            u.tokenFile = try r.string(body["tokenFile"], "\(at): tokenFile")
            u.username = try r.string(body["username"], "\(at): username")
            u.password = try r.string(body["password"], "\(at): password")
            if let e = body["exec"] {
                guard let exec = e as? [String: Any] else { throw r.error("\(at): exec must be a mapping") }
                guard let command = try r.string(exec["command"], "\(at): exec.command"), !command.isEmpty else {
                    throw r.error("\(at): exec.command is missing")
                }
                guard let apiVersion = try r.string(exec["apiVersion"], "\(at): exec.apiVersion"), !apiVersion.isEmpty else {
                    throw r.error("\(at): exec.apiVersion is missing")
                }
                var ec = ExecConfig(command: command, apiVersion: apiVersion)
                if let args = exec["args"] {
                    guard let list = args as? [Any] else { throw r.error("\(at): exec.args must be a list of strings") }
                    ec.args = try list.map { a throws(ConfigurationError) in
                        guard let s = try r.string(a, "\(at): exec.args") else { throw r.error("\(at): exec.args holds a null") }
                        return s
                    }
                }
                if let env = exec["env"] {
                    guard let list = env as? [Any] else { throw r.error("\(at): exec.env must be a list of {name, value}") }
                    for item in list {
                        guard let m = item as? [String: Any], let n = try r.string(m["name"], "\(at): exec.env.name") else {
                            throw r.error("\(at): exec.env entries need a name")
                        }
                        ec.env.append((n, try r.string(m["value"], "\(at): exec.env.value") ?? ""))
                    }
                }
                ec.installHint = try r.string(exec["installHint"], "\(at): exec.installHint")
                ec.provideClusterInfo = try r.bool(exec["provideClusterInfo"], "\(at): exec.provideClusterInfo") ?? false
                ec.interactiveMode = try r.string(exec["interactiveMode"], "\(at): exec.interactiveMode")
                u.exec = ec
            }
            users[name] = Entry(value: u, file: file)
        }
        for (name, body) in try r.namedList(doc["contexts"], "contexts", inner: "context") where contexts[name] == nil {
            let at = "context \"\(name)\""
            var c = Context()
            c.cluster = try r.string(body["cluster"], "\(at): cluster")
            c.user = try r.string(body["user"], "\(at): user")
            c.namespace = try r.string(body["namespace"], "\(at): namespace")
            contexts[name] = Entry(value: c, file: file)
        }
    }

}

/// Reads typed fields out of the YAML's untyped tree, with errors that name the file and field.
struct FieldReader {
    let file: String

    func error(_ what: String) -> ConfigurationError {
        ConfigurationError("kubeconfig \(file): \(what)")
    }

    func string(_ v: Any?, _ field: String) throws(ConfigurationError) -> String? {
        switch v {
        case nil, is KubeconfigYAML.YAMLNull: return nil
        case let s as String: return s
        case let i as Int: return String(i)
        case let d as Double: return String(d)
        case let b as Bool: return b ? "true" : "false"
        default: throw error("\(field) must be a string")
        }
    }

    func bool(_ v: Any?, _ field: String) throws(ConfigurationError) -> Bool? {
        switch v {
        case nil, is KubeconfigYAML.YAMLNull: return nil
        case let b as Bool: return b
        case let s as String where s == "true" || s == "false": return s == "true"
        default: throw error("\(field) must be true or false")
        }
    }

    func base64(_ v: Any?, _ field: String) throws(ConfigurationError) -> [UInt8]? {
        guard let s = try string(v, field), !s.isEmpty else { return nil }
        let compact = s.filter { !$0.isWhitespace }
        guard let d = Data(base64Encoded: compact) else { throw error("\(field) is not valid base64") }
        return [UInt8](d)
    }

    /// A list like `clusters: [{name: x, cluster: {...}}]`, as (name, inner mapping) pairs.
    func namedList(_ v: Any?, _ field: String, inner: String) throws(ConfigurationError) -> [(String, [String: Any])] {
        guard let v, !(v is KubeconfigYAML.YAMLNull) else { return [] }
        guard let list = v as? [Any] else { throw error("\(field) must be a list") }
        var out: [(String, [String: Any])] = []
        for (i, item) in list.enumerated() {
            guard let m = item as? [String: Any] else { throw error("\(field)[\(i)] must be a mapping") }
            guard let name = try string(m["name"], "\(field)[\(i)].name"), !name.isEmpty else {
                throw error("\(field)[\(i)] has no name")
            }
            let body = m[inner]
            if body == nil || body is KubeconfigYAML.YAMLNull {
                out.append((name, [:]))
                continue
            }
            guard let b = body as? [String: Any] else { throw error("\(field)[\(i)] (\(name)): \(inner) must be a mapping") }
            out.append((name, b))
        }
        return out
    }
}
