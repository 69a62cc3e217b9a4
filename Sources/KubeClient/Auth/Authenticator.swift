import FoundationEssentials
import SpillwayReactor
import Glibc
import SpillwayLoop

/// What one request carries: an Authorization header and the TLS material.
struct RequestCredentials {
    var authorization: String?
    var caPEM: [UInt8]?
    var clientCertificatePEM: [UInt8]?
    var clientKeyPEM: [UInt8]?
}

/// Turns a `ClientConfiguration` into per-request credentials, keeping them fresh: every file
/// (token, CA bundle, client certificate and key) is re-read as soon as it changes on disk
/// (checked at most once a second, by inode, size and modification time), token files and
/// in-cluster CA bundles also on their period whatever the file says, and the last good content
/// is kept if a re-read fails or yields an empty token. Exec plugins run off the reactor thread,
/// cached until shortly before their expiry or until the server answers 401.
///
/// Confined to the reactor thread.
final class Authenticator {
    private let config: ClientConfiguration
    private let now: () -> MonotonicInstant
    /// Runs blocking work elsewhere and calls back on the reactor thread.
    private let offload: (@escaping @Sendable () -> ExecResult, @escaping (ExecResult) -> Void) -> Void

    typealias ExecResult = Result<ExecCredential, KubeClientError>

    private struct CachedFile {
        var bytes: [UInt8]
        var readAt: MonotonicInstant
        /// What the file looked like when read, and when that was last compared.
        var stamp: FileStamp?
        var checkedAt: MonotonicInstant
    }

    /// A file's identity and version as stat(2) sees it: a rotation by rename changes the
    /// inode, an edit in place the size or the modification time.
    struct FileStamp: Equatable {
        var device: UInt64
        var inode: UInt64
        var size: Int64
        var modified: timespec

        static func == (a: FileStamp, b: FileStamp) -> Bool {
            a.device == b.device && a.inode == b.inode && a.size == b.size
                && a.modified.tv_sec == b.modified.tv_sec && a.modified.tv_nsec == b.modified.tv_nsec
        }

        init?(path: String) {
            var st = stat()
            guard stat(path, &st) == 0 else { return nil }
            device = UInt64(st.st_dev)
            inode = UInt64(st.st_ino)
            size = Int64(st.st_size)
            modified = st.st_mtim
        }
    }

    /// How often a cached file is compared with the disk.
    static let changeCheckInterval: Duration = .seconds(1)
    private var files: [String: CachedFile] = [:]

    private var exec: ExecCredential?
    private var execWaiters: [(Result<RequestCredentials, KubeClientError>) -> Void]?

    /// Reads every referenced file now, so a missing or empty one is a start-up error.
    init(
        config: ClientConfiguration, now: @escaping () -> MonotonicInstant,
        offload: @escaping (@escaping @Sendable () -> ExecResult, @escaping (ExecResult) -> Void) -> Void
    ) throws(ConfigurationError) {
        self.config = config
        self.now = now
        self.offload = offload
        for source in [config.certificateAuthority, config.clientCertificate, config.clientKey] {
            if case .file(let path, _)? = source { try preload(path, trim: false) }
        }
        if case .tokenFile(let path, _) = config.auth { try preload(path, trim: true) }
    }

    private func preload(_ path: String, trim: Bool) throws(ConfigurationError) {
        let stamp = FileStamp(path: path)
        guard let bytes = Self.read(path, trim: trim) else {
            throw ConfigurationError("\(path) (named by \(config.origin)) cannot be read or is empty")
        }
        let t = now()
        files[path] = CachedFile(bytes: bytes, readAt: t, stamp: stamp, checkedAt: t)
    }

    private static func read(_ path: String, trim: Bool) -> [UInt8]? {
        guard var bytes = try? TextFile.bytes(path) else { return nil }
        if trim {
            bytes = Array(String(decoding: bytes, as: UTF8.self).trimmingWhitespace().utf8)
        }
        return bytes.isEmpty ? nil : bytes
    }

    /// The file's content, re-read when it changed on disk or is older than `reread` (last
    /// good content kept).
    private func file(_ path: String, reread: Duration?, trim: Bool, force: Bool = false) -> [UInt8]? {
        let t = now()
        var stamp: FileStamp?
        if let cached = files[path], !force, reread.map({ t - cached.readAt < $0 }) ?? true {
            if t - cached.checkedAt < Self.changeCheckInterval { return cached.bytes }
            files[path]?.checkedAt = t
            stamp = FileStamp(path: path)
            // Gone or unchanged: keep what we have (a rotation may be half-way through).
            guard let stamp, stamp != cached.stamp else { return cached.bytes }
        }
        if stamp == nil { stamp = FileStamp(path: path) }
        if let fresh = Self.read(path, trim: trim) {
            files[path] = CachedFile(bytes: fresh, readAt: t, stamp: stamp, checkedAt: t)
            return fresh
        }
        // Keep the last good value and retry at the next period or change.
        files[path]?.readAt = t
        files[path]?.checkedAt = t
        return files[path]?.bytes
    }

    private func pem(_ source: PEMSource?) -> [UInt8]? {
        switch source {
        case nil: return nil
        case .data(let d)?: return d
        case .file(let path, let reread)?: return file(path, reread: reread, trim: false)
        }
    }

    /// The credentials for the next request; immediate except while an exec plugin runs.
    func credentials(_ completion: @escaping (Result<RequestCredentials, KubeClientError>) -> Void) {
        var c = RequestCredentials(
            authorization: nil, caPEM: pem(config.certificateAuthority),
            clientCertificatePEM: pem(config.clientCertificate), clientKeyPEM: pem(config.clientKey))
        switch config.auth {
        case .none:
            break
        case .token(let t):
            c.authorization = "Bearer \(t)"
        case .tokenFile(let path, let reread):
            if let t = file(path, reread: reread, trim: true) {
                c.authorization = "Bearer \(String(decoding: t, as: UTF8.self))"
            }
        case .basic(let u, let p):
            c.authorization = "Basic \(Data("\(u):\(p)".utf8).base64EncodedString())"
        case .exec(let exec, let clusterInfo):
            if let cred = self.exec, isFresh(cred) {
                apply(cred, to: &c)
                break
            }
            if execWaiters != nil {
                execWaiters!.append(completion)
                return
            }
            execWaiters = [completion]
            let base = c
            let timeout = config.execPluginTimeout
            offload({ Result { () throws(KubeClientError) in try ExecCredential.run(exec, clusterInfo: clusterInfo, timeout: timeout) } }) { [self] result in
                let waiters = execWaiters ?? []
                execWaiters = nil
                switch result {
                case .success(let cred):
                    self.exec = cred
                    var c = base
                    apply(cred, to: &c)
                    for w in waiters { w(.success(c)) }
                case .failure(let e):
                    for w in waiters { w(.failure(e)) }
                }
            }
            return
        }
        completion(.success(c))
    }

    /// Refresh margin before an exec credential's expiry.
    private static let expiryMargin: TimeInterval = 10

    private func isFresh(_ cred: ExecCredential) -> Bool {
        guard let exp = cred.expiration else { return true }
        return exp.timeIntervalSinceNow > Self.expiryMargin
    }

    private func apply(_ cred: ExecCredential, to c: inout RequestCredentials) {
        if let t = cred.token { c.authorization = "Bearer \(t)" }
        if let cert = cred.clientCertificatePEM, let key = cred.clientKeyPEM {
            c.clientCertificatePEM = cert
            c.clientKeyPEM = key
        }
    }

    /// The server answered 401: drop the cached exec credential and re-read a token file now,
    /// so the retry uses whatever is current. Returns whether anything could have changed.
    func unauthorized() -> Bool {
        switch config.auth {
        case .exec:
            exec = nil
            return true
        case .tokenFile(let path, let reread):
            let before = files[path]?.bytes
            return file(path, reread: reread, trim: true, force: true) != before
        default:
            return false
        }
    }
}
