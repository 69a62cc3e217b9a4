import Foundation
import KubeEmulator
import XCTest

/// The built `spillwayd` binary, next to the test bundle in the build products directory.
var spillwaydPath: String {
    #if os(macOS)
    for bundle in Bundle.allBundles where bundle.bundlePath.hasSuffix(".xctest") {
        return bundle.bundleURL.deletingLastPathComponent().appendingPathComponent("spillwayd").path
    }
    fatalError("no test bundle")
    #else
    return Bundle.main.bundleURL.appendingPathComponent("spillwayd").path
    #endif
}

/// A scratch directory removed when the test ends.
func temporaryDirectory(_ test: XCTestCase) throws -> URL {
    let url = FileManager.default.temporaryDirectory.appendingPathComponent("spillwayd-test-\(UUID().uuidString)")
    try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
    test.addTeardownBlock { try? FileManager.default.removeItem(at: url) }
    return url
}

/// `spillwayd` run as a child process. The environment is minimal and always names an empty
/// config file, so a config installed on the machine can never leak into a test.
/// stdout and stderr go to files beside that config file: unlike pipe readers, a file holds every
/// byte the child wrote by the time it has exited, so a test never reads a truncated log.
final class Spillwayd: @unchecked Sendable {
    let process = Process()
    private let stdoutURL: URL
    private let stderrURL: URL

    init(
        _ arguments: [String], environment: [String: String] = [:], executable: String = spillwaydPath,
        emptyConfig: URL
    ) throws {
        FileManager.default.createFile(atPath: emptyConfig.path, contents: Data())
        stdoutURL = emptyConfig.appendingPathExtension("stdout")
        stderrURL = emptyConfig.appendingPathExtension("stderr")
        FileManager.default.createFile(atPath: stdoutURL.path, contents: Data())
        FileManager.default.createFile(atPath: stderrURL.path, contents: Data())
        var env = ["PATH": "/usr/bin:/bin", "SPILLWAY_CONFIG": emptyConfig.path]
        env.merge(environment) { _, new in new }
        process.executableURL = URL(fileURLWithPath: executable)
        process.arguments = arguments
        process.environment = env
        let out = try FileHandle(forWritingTo: stdoutURL)
        let err = try FileHandle(forWritingTo: stderrURL)
        defer {
            try? out.close()
            try? err.close()
        }
        process.standardOutput = out
        process.standardError = err
        try process.run()
    }

    var stderr: String { String(decoding: (try? Data(contentsOf: stderrURL)) ?? Data(), as: UTF8.self) }
    var stdout: String { String(decoding: (try? Data(contentsOf: stdoutURL)) ?? Data(), as: UTF8.self) }

    func signal(_ signal: Int32) { kill(process.processIdentifier, signal) }

    /// Waits for exit (generous bound: a hung daemon fails the test instead of hanging it).
    func waitForExit(within seconds: Double = 30) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            return nil
        }
        return process.terminationStatus
    }

    /// Waits until stderr contains a line matching `pattern` and returns its first capture group.
    func waitForLog(_ pattern: String, within seconds: Double = 30) -> String? {
        let regex = try! NSRegularExpression(pattern: pattern)
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            let text = stderr
            if let match = regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) {
                let range = match.numberOfRanges > 1 ? match.range(at: 1) : match.range
                return String(text[Range(range, in: text)!])
            }
            if !process.isRunning { return nil }
            usleep(20_000)
        }
        return nil
    }

    deinit {
        if process.isRunning {
            process.terminate()
            process.waitUntilExit()
        }
    }
}

/// An AF_UNIX datagram socket bound at a path: a fake NOTIFY_SOCKET or journald socket.
final class DatagramSocket {
    let path: String
    private let fd: Int32

    init(path: String) throws {
        self.path = path
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            let bytes = Array(path.utf8)
            precondition(bytes.count < buffer.count, "socket path too long")
            buffer.copyBytes(from: bytes)
        }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw POSIXError(.init(rawValue: errno)!) }
        chmod(path, 0o777)
    }

    deinit { close(fd) }

    /// The next datagram, or nil if none arrives within `seconds`.
    func receive(within seconds: Double = 30) -> [UInt8]? {
        var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
        guard poll(&poller, 1, Int32(seconds * 1000)) == 1 else { return nil }
        var buffer = [UInt8](repeating: 0, count: 256 * 1024)
        let count = recv(fd, &buffer, buffer.count, 0)
        return count >= 0 ? Array(buffer[..<count]) : nil
    }
}

/// GET through the real curl client: (status, body).
func httpGet(_ url: String) throws -> (status: Int, body: String) {
    let curl = Process()
    let output = Pipe()
    curl.executableURL = URL(fileURLWithPath: "/usr/bin/curl")
    curl.arguments = ["-s", "-m", "20", "-w", "\n%{http_code}", url]
    curl.standardOutput = output
    try curl.run()
    let data = output.fileHandleForReading.readDataToEndOfFile()
    curl.waitUntilExit()
    var text = String(decoding: data, as: UTF8.self)
    guard let newline = text.lastIndex(of: "\n"), let status = Int(text[text.index(after: newline)...]) else {
        throw NSError(domain: "curl", code: Int(curl.terminationStatus))
    }
    text = String(text[..<newline])
    return (status, text)
}

/// An in-process API server emulator and a kubeconfig that reaches it as `user`, for a daemon
/// under test. Shut down when the test ends.
final class TestCluster {
    private(set) var emulator: KubeEmulator
    let directory: URL
    let stateFile: String
    let port: Int
    private let tokens: [String: Identity]

    init(_ test: XCTestCase, users: [String] = ["spillwayd"]) throws {
        directory = try temporaryDirectory(test)
        stateFile = directory.appendingPathComponent("emulator-state.json").path
        let masters = ["system:masters", "system:authenticated"]
        tokens = Dictionary(uniqueKeysWithValues: users.map { ("token-\($0)", Identity(user: $0, groups: masters)) })
        emulator = try KubeEmulator.start(.init(tokens: tokens, stateFile: stateFile))
        port = emulator.port
        test.addTeardownBlock { [self] in emulator.shutdown() }
    }

    /// A kubeconfig authenticating as `user` (its token names it in the emulator's write log).
    func kubeconfig(as user: String = "spillwayd") throws -> String {
        let path = directory.appendingPathComponent("kubeconfig-\(user)").path
        try emulator.writeKubeconfig(to: path, identity: .token("token-\(user)"))
        return path
    }

    /// The API server goes away (its state is kept in the state file).
    func stop() {
        emulator.shutdown()
    }

    /// The API server comes back on the same port with the same state.
    func restart() throws {
        emulator = try KubeEmulator.start(.init(port: port, tokens: tokens, stateFile: stateFile))
    }

    func create(_ type: ResourceType, _ object: JSON) throws {
        let namespace = object["metadata"]?["namespace"]?.stringValue ?? ""
        _ = try emulator.store.create(type, namespace: namespace, object)
    }

    func namespace(_ name: String) throws {
        try create(.namespace, ["metadata": ["name": .string(name)]])
    }

    func object(_ type: ResourceType, _ namespace: String, _ name: String) -> JSON? {
        try? emulator.store.get(type, namespace: namespace, name: name).json
    }
}

/// Waits until `condition` holds (generous bound: a broken daemon fails instead of hanging).
func eventually(within seconds: Double = 30, _ condition: () throws -> Bool) rethrows -> Bool {
    let deadline = Date().addingTimeInterval(seconds)
    while Date() < deadline {
        if try condition() { return true }
        usleep(50_000)
    }
    return try condition()
}
