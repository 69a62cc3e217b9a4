import Foundation
import SpillwayReactor
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Spawns a child with an empty signal mask (the tests block SIGUSR1 in this process, and a child
/// would inherit that) and its stdin/stdout on pipes.
struct ChildProcess {
    let pid: pid_t
    let stdinFD: Int32
    let stdoutFD: Int32

    /// `quiet` sends the child's stderr to /dev/null.
    init(_ arguments: [String], quiet: Bool = false) throws {
        var toChild: [Int32] = [0, 0]
        var fromChild: [Int32] = [0, 0]
        guard pipe(&toChild) == 0, pipe(&fromChild) == 0 else {
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        // Only the dup2'ed copies may reach the child: its stdin must see EOF when we close ours.
        for fd in toChild + fromChild { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_adddup2(&actions, toChild[0], 0)
        posix_spawn_file_actions_adddup2(&actions, fromChild[1], 1)
        if quiet { posix_spawn_file_actions_addopen(&actions, 2, "/dev/null", O_WRONLY, 0) }

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var emptyMask = sigset_t()
        sigemptyset(&emptyMask)
        posix_spawnattr_setsigmask(&attributes, &emptyMask)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK))

        let argv = arguments.map { strdup($0) } + [nil]
        defer { argv.forEach { free($0) } }
        var pid: pid_t = 0
        let rc = posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, environ)
        close(toChild[0])
        close(fromChild[1])
        guard rc == 0 else {
            close(toChild[1])
            close(fromChild[0])
            throw POSIXError(.init(rawValue: rc) ?? .EIO)
        }
        self.pid = pid
        self.stdinFD = toChild[1]
        self.stdoutFD = fromChild[0]
    }

    /// Reads stdout up to the first newline (blocking).
    func readLine() -> String {
        var line: [UInt8] = []
        var byte: UInt8 = 0
        while read(stdoutFD, &byte, 1) == 1, byte != UInt8(ascii: "\n") { line.append(byte) }
        return String(decoding: line, as: UTF8.self)
    }

    /// Closes the child's stdin and stdout and waits for it to exit.
    @discardableResult
    func finish() -> Int32 {
        close(stdinFD)
        var status: Int32 = 0
        waitpid(pid, &status, 0)
        close(stdoutFD)
        return status
    }

    /// Runs a command to completion; throws if it fails.
    static func run(_ arguments: [String]) throws {
        let child = try ChildProcess(arguments, quiet: true)
        let status = child.finish()
        guard status == 0 else {
            throw NSError(domain: "test", code: Int(status),
                          userInfo: [NSLocalizedDescriptionKey: "\(arguments.joined(separator: " ")) exited with \(status)"])
        }
    }
}

/// `Servers/test_server.py`, started on a free port.
final class TestServer {
    let port: Int
    private let child: ChildProcess

    init(tls: TestCertificates? = nil, requireClientCertificate: Bool = false) throws {
        let script = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("Servers/test_server.py").path
        var arguments = ["python3", script]
        if let tls {
            arguments += ["--cert", tls.path("server.crt"), "--key", tls.path("server.key")]
            if requireClientCertificate { arguments += ["--client-ca", tls.path("ca.crt")] }
        }
        child = try ChildProcess(arguments)
        guard let port = Int(child.readLine()) else {
            child.finish()
            throw NSError(domain: "test", code: 1, userInfo: [NSLocalizedDescriptionKey: "test server did not start"])
        }
        self.port = port
    }

    deinit { child.finish() }

    func url(_ path: String, scheme: String = "http", host: String = "127.0.0.1") -> String {
        "\(scheme)://\(host):\(port)\(path)"
    }
}

/// A CA, a server certificate for DNS name `kubernetes.test` only (so https://127.0.0.1 needs
/// the TLS server-name override), a client certificate `CN=spillway-client`, and an unrelated
/// second CA; made with the openssl CLI in a temporary directory.
final class TestCertificates {
    static let serverName = "kubernetes.test"
    let directory: String

    init() throws {
        directory = NSTemporaryDirectory() + "spillway-reactor-tls-\(getpid())-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        try makeCA("ca")
        try makeCA("other-ca")
        try makeLeaf("server", subject: "/CN=spillway-test-server", extensions: """
            subjectAltName=DNS:\(Self.serverName)
            extendedKeyUsage=serverAuth
            """)
        try makeLeaf("client", subject: "/CN=spillway-client", extensions: "extendedKeyUsage=clientAuth")
    }

    deinit { try? FileManager.default.removeItem(atPath: directory) }

    func path(_ name: String) -> String { directory + "/" + name }

    func pem(_ name: String) throws -> [UInt8] { Array(try Data(contentsOf: URL(fileURLWithPath: path(name)))) }

    private func makeCA(_ name: String) throws {
        try ChildProcess.run(["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1",
                              "-nodes", "-keyout", path("\(name).key"), "-out", path("\(name).crt"),
                              "-subj", "/CN=spillway-test-\(name)", "-days", "2"])
    }

    private func makeLeaf(_ name: String, subject: String, extensions: String) throws {
        try extensions.write(toFile: path("\(name).ext"), atomically: true, encoding: .utf8)
        try ChildProcess.run(["openssl", "req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
                              "-keyout", path("\(name).key"), "-out", path("\(name).csr"), "-subj", subject])
        try ChildProcess.run(["openssl", "x509", "-req", "-in", path("\(name).csr"), "-CA", path("ca.crt"),
                              "-CAkey", path("ca.key"), "-CAcreateserial", "-out", path("\(name).crt"),
                              "-days", "2", "-extfile", path("\(name).ext")])
    }
}

extension Reactor {
    /// Runs the loop until a handler stops it, or fails the test after `limit` (a generous bound
    /// against hangs, not a timing assertion).
    func run(limit: Duration = .seconds(60), file: StaticString = #filePath, line: UInt = #line) throws {
        var expired = false
        let guardTimer = try addTimer(after: limit) { [unowned self] in
            expired = true
            stop()
        }
        try run()
        cancel(guardTimer)
        XCTAssertFalse(expired, "the reactor did not finish within \(limit)", file: file, line: line)
    }
}

/// A port on 127.0.0.1 where nothing listens: bound, never listened on, then closed.
func refusedPort() -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
            _ = bind(fd, $0, length)
            _ = getsockname(fd, $0, &length)
        }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
