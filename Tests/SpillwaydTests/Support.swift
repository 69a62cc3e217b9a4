import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// The `spillwayd` binary under test: `$SPILLWAY_TEST_SPILLWAYD` when set (CI points it at the
/// AddressSanitizer build), else the one built next to the test bundle.
var spillwaydPath: String {
    if let path = ProcessInfo.processInfo.environment["SPILLWAY_TEST_SPILLWAYD"], !path.isEmpty { return path }
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
        try Data().write(to: emptyConfig)
        stdoutURL = emptyConfig.appendingPathExtension("stdout")
        stderrURL = emptyConfig.appendingPathExtension("stderr")
        try Data().write(to: stdoutURL)
        try Data().write(to: stderrURL)
        var env = ["PATH": "/usr/bin:/bin", "SPILLWAY_CONFIG": emptyConfig.path]
        // The sanitizer build of the daemon takes its options from the test's environment.
        for key in ["ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS"] {
            if let value = ProcessInfo.processInfo.environment[key] { env[key] = value }
        }
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
    /// A sanitizer report in the daemon's output fails the calling test.
    func waitForExit(within seconds: Double = 30, file: StaticString = #filePath, line: UInt = #line) -> Int32? {
        let deadline = Date().addingTimeInterval(seconds)
        while process.isRunning && Date() < deadline { usleep(10_000) }
        if process.isRunning {
            process.terminate()
            return nil
        }
        if let report = sanitizerReport { XCTFail("spillwayd: \(report)", file: file, line: line) }
        return process.terminationStatus
    }

    /// The first AddressSanitizer / UndefinedBehaviorSanitizer report the daemon printed, with
    /// what follows it.
    var sanitizerReport: String? {
        let text = stderr
        for marker in ["ERROR: AddressSanitizer", "ERROR: LeakSanitizer", "runtime error: "] {
            if let start = text.range(of: marker) { return String(text[start.lowerBound...].prefix(4000)) }
        }
        return nil
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

/// `name{labels}` → value of every sample in a scrape of `/metrics` at `address`.
func scrapeMetrics(_ address: String) throws -> [String: Double] {
    let response = try httpGet("http://\(address)/metrics")
    XCTAssertEqual(response.status, 200)
    var samples: [String: Double] = [:]
    for line in response.body.split(separator: "\n") where !line.hasPrefix("#") {
        guard let split = line.lastIndex(of: " ") else { continue }
        samples[String(line[..<split])] = Double(line[line.index(after: split)...])
    }
    return samples
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

    /// `users` are cluster administrators; `restricted` users may do only what `authorization` allows.
    init(_ test: XCTestCase, users: [String] = ["spillwayd"], restricted: [String] = [], authorization: [AccessRule] = []) throws {
        directory = try temporaryDirectory(test)
        stateFile = directory.appendingPathComponent("emulator-state.json").path
        let masters = ["system:masters", "system:authenticated"]
        tokens = Dictionary(uniqueKeysWithValues: users.map { ("token-\($0)", Identity(user: $0, groups: masters)) }
            + restricted.map { ("token-\($0)", Identity(user: $0, groups: ["system:authenticated"])) })
        emulator = try KubeEmulator.start(.init(tokens: tokens, authorization: authorization, stateFile: stateFile))
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

    func create(_ type: ResourceType, _ object: JSONValue) throws {
        let namespace = object["metadata"]?["namespace"]?.stringValue ?? ""
        _ = try emulator.store.create(type, namespace: namespace, object)
    }

    func namespace(_ name: String) throws {
        try create(.namespace, ["metadata": ["name": .string(name)]])
    }

    func object(_ type: ResourceType, _ namespace: String, _ name: String) -> JSONValue? {
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

// MARK: - Arranging and reading the cluster

extension TestCluster {
    /// A namespace with labels and annotations.
    func namespace(_ name: String, labels: [String: String], annotations: [String: String] = [:]) throws {
        try create(.namespace, ["metadata": ["name": .string(name), "labels": .strings(labels), "annotations": .strings(annotations)]])
    }

    /// A Secret whose `data` holds `data`'s values, base64-encoded as the API stores them.
    func secret(
        _ namespace: String, _ name: String, annotations: [String: String] = [:], labels: [String: String] = [:],
        data: [String: String], type: String = "Opaque", immutable: Bool = false
    ) throws {
        var object: JSONValue = [
            "apiVersion": "v1", "kind": "Secret", "type": .string(type),
            "metadata": ["name": .string(name), "namespace": .string(namespace), "labels": .strings(labels), "annotations": .strings(annotations)],
            "data": .strings(data.mapValues { Data($0.utf8).base64EncodedString() }),
        ]
        if immutable { object["immutable"] = true }
        try create(.secret, object)
    }

    func configMap(
        _ namespace: String, _ name: String, annotations: [String: String] = [:], labels: [String: String] = [:], data: [String: String]
    ) throws {
        try create(.configMap, [
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "labels": .strings(labels), "annotations": .strings(annotations)],
            "data": .strings(data),
        ])
    }

    /// A JSON merge patch, as `kubectl patch --type merge` sends it (null removes a key).
    func patch(_ type: ResourceType, _ namespace: String, _ name: String, _ patch: JSONValue) throws {
        _ = try emulator.store.patch(type, namespace: namespace, name: name, .merge, patch)
    }

    func delete(_ type: ResourceType, _ namespace: String, _ name: String) throws {
        try emulator.store.delete(type, namespace: namespace, name: name)
    }

    /// Deletes a source without letting spillway clean up (its finalizer is removed by hand),
    /// as someone does while the daemon is down: its replicas stay behind.
    func deleteBypassingTheFinalizer(_ type: ResourceType, _ namespace: String, _ name: String) throws {
        try patch(type, namespace, name, ["metadata": ["finalizers": .null]])
        try delete(type, namespace, name)
    }

    /// Namespaces holding a managed replica named `name` (any owner).
    func replicas(_ type: ResourceType, _ name: String) -> Set<String> {
        let items = (try? emulator.store.list(type, namespace: nil).items) ?? []
        return Set(items.filter { $0.name == name && $0.labels[Key.managedBy] == "spillway" }.map(\.namespace))
    }

    func annotations(_ type: ResourceType, _ namespace: String, _ name: String) -> [String: String] {
        object(type, namespace, name)?["metadata"]?["annotations"]?.stringMap ?? [:]
    }

    func labels(_ type: ResourceType, _ namespace: String, _ name: String) -> [String: String] {
        object(type, namespace, name)?["metadata"]?["labels"]?.stringMap ?? [:]
    }

    func finalizers(_ type: ResourceType, _ namespace: String, _ name: String) -> [String] {
        object(type, namespace, name)?["metadata"]?["finalizers"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// A Secret's data, decoded; nil when it does not exist.
    func secretData(_ namespace: String, _ name: String) -> [String: String]? {
        guard let object = object(.secret, namespace, name) else { return nil }
        return (object["data"]?.stringMap ?? [:]).mapValues { String(decoding: Data(base64Encoded: $0) ?? Data(), as: UTF8.self) }
    }

    /// The events.k8s.io/v1 Events about an object.
    func events(about name: String, in namespace: String) -> [(type: String, reason: String, note: String)] {
        ((try? emulator.store.list(.eventsV1, namespace: namespace).items) ?? [])
            .filter { $0.json["regarding"]?["name"]?.stringValue == name }
            .map { ($0.json["type"]?.stringValue ?? "", $0.json["reason"]?.stringValue ?? "", $0.json["note"]?.stringValue ?? "") }
    }

    /// Successful writes to Secrets, ConfigMaps and Namespaces (not events, not leases) since
    /// the accounting was last reset, as "verb resource namespace/name".
    var objectWrites: [String] {
        emulator.requests.successfulWrites
            .filter { ["secrets", "configmaps", "namespaces"].contains($0.resource) }
            .map { "\($0.verb) \($0.resource) \($0.namespace)/\($0.name)" }
    }
}

/// The annotation and label names of the contract (docs/contract.md), as users write them.
enum Key {
    static let replicateTo = "spillway.kroy.io/replicate-to"
    static let matching = "spillway.kroy.io/replicate-to-matching"
    static let exclude = "spillway.kroy.io/exclude-namespaces"
    static let includeKeys = "spillway.kroy.io/include-keys"
    static let excludeKeys = "spillway.kroy.io/exclude-keys"
    static let ttl = "spillway.kroy.io/replica-ttl"
    static let expiresAt = "spillway.kroy.io/expires-at"
    static let expired = "spillway.kroy.io/expired-namespaces"
    static let forceAdopt = "spillway.kroy.io/force-adopt"
    static let acceptFrom = "spillway.kroy.io/accept-from"
    static let managedBy = "spillway.kroy.io/managed-by"
    static let sourceFrom = "spillway.kroy.io/source-from"
    static let profileRef = "spillway.kroy.io/profile-ref"
    static let finalizer = "spillway.kroy.io/replicas"
    static let clusters = "spillway.kroy.io/replicate-to-clusters"
    static let sourceCluster = "spillway.kroy.io/source-cluster"
}

extension JSONValue {
    static func strings(_ map: [String: String]) -> JSONValue { .object(map.mapValues { .string($0) }) }
}

// MARK: - The daemon's log

extension Spillwayd {
    /// Every JSON log line (`--log-format json`), its values as strings.
    var records: [[String: String]] {
        stderr.split(separator: "\n").compactMap { line in
            guard line.hasPrefix("{"), let json = try? JSONParser.parse(String(line)) else { return nil }
            return json.stringMap
        }
    }

    /// The audit lines of `action` (create, update, delete, conflict, adopt, expire, cleanup,
    /// consent-denied, orphan, ...).
    func audit(_ action: String) -> [[String: String]] { records.filter { $0["action"] == action } }

    /// When the first line whose message starts with `message` was logged (its `time`, to the
    /// millisecond).
    func loggedAt(_ message: String) -> Date? {
        guard let line = records.first(where: { $0["msg"]?.hasPrefix(message) == true }), let time = line["time"] else { return nil }
        let format = ISO8601DateFormatter()
        format.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return format.date(from: time)
    }

    /// The end of the log, for failure messages.
    var tail: String { String(stderr.suffix(3000)) }
}

// MARK: - Process-level test cases

extension XCTestCase {
    /// Starts spillwayd against `kubeconfig` (JSON log lines, no HTTP endpoints). When the test
    /// ends it is stopped with SIGTERM and must exit 0, and its whole log is searched for the
    /// secret values tests write (and their base64): none may appear.
    func launchDaemon(kubeconfig: String, _ flags: [String], config: URL, environment: [String: String] = [:]) throws -> Spillwayd {
        let daemon = try Spillwayd(
            ["--kubeconfig", kubeconfig, "--metrics-bind-address", "0", "--health-probe-bind-address", "0", "--log-format", "json"] + flags,
            environment: environment, emptyConfig: config)
        // Teardown blocks run last-in first-out: this one before the cluster and the log files go.
        addTeardownBlock {
            if daemon.process.isRunning {
                daemon.signal(SIGTERM)
                XCTAssertEqual(daemon.waitForExit(), 0, "spillwayd did not stop cleanly: \(daemon.tail)")
            }
            let log = daemon.stderr + daemon.stdout
            for value in ProcessTestCase.secretValues {
                XCTAssertFalse(log.contains(value) || log.contains(Data(value.utf8).base64EncodedString()), "a secret value reached the log")
            }
        }
        return daemon
    }
}

/// A fresh emulator per test and the spillwayd processes the test starts against it. When the
/// test ends, every daemon is stopped (it must exit 0) and its whole log is searched for the
/// secret values tests write (and their base64): none may appear.
class ProcessTestCase: XCTestCase {
    var cluster: TestCluster!
    private var started = 0

    /// Every secret value a test writes comes from this list.
    static let secretValues = ["s3cr3t-alpha", "s3cr3t-beta", "s3cr3t-gamma"]

    override func setUpWithError() throws {
        cluster = try TestCluster(self, users: ["spillwayd", "admin"])
    }

    func namespaces(_ names: String...) throws {
        for name in names { try cluster.namespace(name) }
    }

    /// Starts spillwayd with `flags` (JSON log lines, no HTTP endpoints) and waits for `ready`.
    @discardableResult
    func startDaemon(_ flags: [String] = [], as user: String = "spillwayd", file: StaticString = #filePath, line: UInt = #line) throws -> Spillwayd {
        let daemon = try launchDaemon(
            kubeconfig: try cluster.kubeconfig(as: user), flags,
            config: cluster.directory.appendingPathComponent("daemon-\(started).conf"))
        started += 1
        XCTAssertNotNil(daemon.waitForLog(#""msg":"ready""#), "spillwayd never became ready: \(daemon.tail)", file: file, line: line)
        return daemon
    }

    /// SIGTERM, and a clean exit.
    func stop(_ daemon: Spillwayd, file: StaticString = #filePath, line: UInt = #line) {
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.tail, file: file, line: line)
    }

    /// Waits until `condition` holds; fails naming `what` (and the daemon's log) if it never does.
    @discardableResult
    func expect(
        _ what: String, within seconds: Double = 15, _ daemon: Spillwayd? = nil, file: StaticString = #filePath, line: UInt = #line,
        _ condition: () throws -> Bool
    ) rethrows -> Bool {
        let held = try eventually(within: seconds, condition)
        XCTAssertTrue(held, "timed out after \(seconds) s: \(what)\n\(daemon?.tail ?? "")", file: file, line: line)
        return held
    }

    /// Waits until the managed replicas named `name` are exactly in `expected`.
    func expectReplicas(
        _ type: ResourceType, _ name: String, _ expected: Set<String>, _ daemon: Spillwayd? = nil,
        file: StaticString = #filePath, line: UInt = #line
    ) {
        guard !eventually(within: 15, { cluster.replicas(type, name) == expected }) else { return }
        XCTAssertEqual(cluster.replicas(type, name).sorted(), expected.sorted(), "replicas of \(name)\n\(daemon?.tail ?? "")", file: file, line: line)
    }

    /// Keeps checking for `seconds` that `condition` holds the whole time (for "nothing happens").
    func expectStays(
        _ what: String, for seconds: Double = 1.5, file: StaticString = #filePath, line: UInt = #line, _ condition: () -> Bool
    ) {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            guard condition() else { return XCTFail("no longer holds: \(what)", file: file, line: line) }
            usleep(50_000)
        }
    }

    /// Seconds until `condition` holds, polling every 5 ms (nil after `limit` seconds).
    func secondsUntil(limit: Double = 10, _ condition: () -> Bool) -> Double? {
        let start = Date()
        while Date().timeIntervalSince(start) < limit {
            if condition() { return Date().timeIntervalSince(start) }
            usleep(5_000)
        }
        return nil
    }
}
