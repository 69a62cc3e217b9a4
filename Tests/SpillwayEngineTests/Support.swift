import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import Logging
import SpillwayContract
@testable import SpillwayEngine
import SpillwayReactor
import XCTest

/// Carries a value to the reactor thread and back; only touched there.
struct Unchecked<T>: @unchecked Sendable {
    var value: T
    init(_ value: T) { self.value = value }
}

/// A reactor running on its own thread, as in the daemon.
final class ReactorThread: @unchecked Sendable {
    let reactor: Reactor
    private let remote: ReactorRemote
    private let finished = DispatchSemaphore(value: 0)

    init() throws {
        let created = DispatchSemaphore(value: 0)
        let box = LockedBox<Result<Reactor, Error>?>(nil)
        let done = finished
        Thread.detachNewThread {
            do {
                let reactor = try Reactor()
                box.set(.success(reactor))
                created.signal()
                try? reactor.run()
            } catch {
                box.set(.failure(error))
                created.signal()
            }
            done.signal()
        }
        created.wait()
        reactor = try box.get()!.get()
        remote = reactor.remote
    }

    /// Runs `body` on the reactor thread and returns its result.
    func run<T>(_ body: @escaping () throws -> T) async throws -> T {
        let work = Unchecked(body)
        let result: Unchecked<Result<T, Error>> = await withCheckedContinuation { continuation in
            remote.post {
                continuation.resume(returning: Unchecked(Result { try work.value() }))
            }
        }
        return try result.value.get()
    }

    /// Runs `body` on the reactor thread; it reports once through its argument.
    func wait<T>(_ body: @escaping (@escaping (T) -> Void) -> Void) async -> T {
        let work = Unchecked(body)
        let result: Unchecked<T> = await withCheckedContinuation { continuation in
            remote.post {
                work.value { continuation.resume(returning: Unchecked($0)) }
            }
        }
        return result.value
    }

    func stop() {
        remote.stop()
        finished.wait()
    }
}

final class LockedBox<T>: @unchecked Sendable {
    private let lock = NSLock()
    private var value: T
    init(_ value: T) { self.value = value }
    func get() -> T { lock.withLock { value } }
    func set(_ newValue: T) { lock.withLock { value = newValue } }
    func mutate<R>(_ body: (inout T) -> R) -> R { lock.withLock { body(&value) } }
}

/// Collects every log line, rendered with its metadata, to assert audit lines and that no
/// secret value is ever logged.
final class LogCapture: @unchecked Sendable {
    struct Line: Sendable {
        var level: Logger.Level
        var message: String
        var metadata: [String: String]
        var rendered: String { "\(level) \(message) \(metadata.sorted { $0.key < $1.key }.map { "\($0.key)=\($0.value)" }.joined(separator: " "))" }
    }

    private let lines = LockedBox<[Line]>([])

    var all: [Line] { lines.get() }

    func logger(_ label: String) -> Logger {
        var logger = Logger(label: label) { _ in Handler(capture: self) }
        logger.logLevel = .debug
        return logger
    }

    /// `SPILLWAY_TEST_LOG=1` echoes every line to stderr, for debugging a test.
    private static let echo = ProcessInfo.processInfo.environment["SPILLWAY_TEST_LOG"] == "1"

    fileprivate func append(_ line: Line) {
        if Self.echo { FileHandle.standardError.write(Data((line.rendered + "\n").utf8)) }
        lines.mutate { $0.append(line) }
    }

    struct Handler: LogHandler {
        let capture: LogCapture
        var metadata: Logger.Metadata = [:]
        var logLevel: Logger.Level = .debug

        subscript(metadataKey key: String) -> Logger.Metadata.Value? {
            get { metadata[key] }
            set { metadata[key] = newValue }
        }

        func log(event: LogEvent) {
            var merged = metadata
            event.metadata?.forEach { merged[$0.key] = $0.value }
            capture.append(Line(level: event.level, message: "\(event.message)",
                                metadata: merged.mapValues { "\($0)" }))
        }
    }
}

/// The engine in-process on a reactor thread, with the real KubeClient, against the
/// in-process emulator over HTTP.
final class EngineWorld: @unchecked Sendable {
    let emulator: KubeEmulator
    let loop: ReactorThread
    /// The test's own client (for arranging the cluster and reading it back).
    let client: KubeClient
    let logs = LogCapture()
    private var engineBox: Unchecked<Engine>?

    /// The client the engine uses: the test's admin client, or one with its own token.
    let engineClient: KubeClient

    /// - Parameter engineRateLimit: the engine's client's pacing and retries; given, the
    ///   engine gets a client of its own.
    init(emulator configuration: KubeEmulator.Configuration = KubeEmulator.Configuration(),
         engineToken: String? = nil, engineRateLimit: RateLimitConfiguration? = nil) async throws {
        let emulator = try KubeEmulator.start(configuration)
        let loop = try ReactorThread()
        let reactor = Unchecked(loop.reactor)
        let logger = logs.logger("spillway.kubeclient")
        func connect(_ token: String, _ rateLimit: RateLimitConfiguration = .init()) async throws -> KubeClient {
            var config = ClientConfiguration(server: emulator.baseURL)
            config.auth = .token(token)
            let settled = config
            return try await loop.run {
                try KubeClient(configuration: settled, reactor: reactor.value, rateLimit: rateLimit, logger: logger)
            }
        }
        self.emulator = emulator
        self.loop = loop
        let client = try await connect(emulator.adminToken)
        self.client = client
        engineClient = engineToken == nil && engineRateLimit == nil ? client
            : try await connect(engineToken ?? emulator.adminToken, engineRateLimit ?? .init())
    }

    func shutdown() async {
        await stopEngine()
        loop.stop()
        emulator.shutdown()
    }

    // MARK: engine

    /// Starts an engine (leader) and waits until its caches synced.
    /// `configure` runs on the reactor thread before the engine starts.
    func startEngine(_ options: EngineOptions = EngineOptions(emitEvents: true), leader: Bool = true,
                     metrics: EngineMetrics? = nil, configure: (@Sendable (Engine) -> Void)? = nil) async throws {
        let reactor = Unchecked(loop.reactor)
        let client = Unchecked(engineClient)
        let logger = logs.logger("spillway.engine")
        let sink = Unchecked(metrics)
        let box: Unchecked<Engine> = await loop.wait { done in
            let engine = Engine(reactor: reactor.value, client: client.value, options: options, logger: logger,
                                metrics: sink.value ?? SwiftMetricsEngineMetrics())
            configure?(engine)
            engine.onSynced = { done(Unchecked(engine)) }
            engine.setLeader(leader)
            engine.start()
        }
        engineBox = box
    }

    func stopEngine() async {
        guard let box = engineBox else { return }
        engineBox = nil
        _ = await loop.wait { (done: @escaping (Bool) -> Void) in box.value.stop { done(true) } }
    }

    /// Reads something off the engine on the reactor thread.
    func onEngine<T>(_ body: @escaping (Engine) -> T) async throws -> T {
        let box = engineBox!
        return try await loop.run { body(box.value) }
    }

    // MARK: cluster

    @discardableResult
    func createNamespace(_ name: String, labels: [String: String] = [:], annotations: [String: String] = [:]) async throws -> JSONValue {
        try await client.create(.namespaces, namespace: nil, object: [
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": ["name": .string(name), "labels": .stringMap(labels), "annotations": .stringMap(annotations)],
        ])
    }

    @discardableResult
    func createSecret(_ namespace: String, _ name: String, annotations: [String: String] = [:], labels: [String: String] = [:],
                      data: [String: String] = [:], type: String? = nil, immutable: Bool = false) async throws -> JSONValue {
        var object: JSONValue = [
            "apiVersion": "v1", "kind": "Secret",
            "metadata": ["name": .string(name), "namespace": .string(namespace),
                         "labels": .stringMap(labels), "annotations": .stringMap(annotations)],
            "data": .stringMap(data.mapValues { Data($0.utf8).base64EncodedString() }),
        ]
        if let type { object["type"] = .string(type) }
        if immutable { object["immutable"] = true }
        return try await client.create(.secrets, namespace: namespace, object: object)
    }

    @discardableResult
    func createConfigMap(_ namespace: String, _ name: String, annotations: [String: String] = [:], labels: [String: String] = [:],
                         data: [String: String] = [:]) async throws -> JSONValue {
        try await client.create(.configMaps, namespace: namespace, object: [
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": .string(name), "namespace": .string(namespace),
                         "labels": .stringMap(labels), "annotations": .stringMap(annotations)],
            "data": .stringMap(data),
        ])
    }

    /// The object, or nil when it does not exist.
    func get(_ resource: Resource, _ namespace: String?, _ name: String) async throws -> JSONValue? {
        do {
            return try await client.get(resource, namespace: namespace, name: name)
        } catch where error.status?.isNotFound == true {
            return nil
        }
    }

    /// Merge-patches an object.
    @discardableResult
    func patch(_ resource: Resource, _ namespace: String?, _ name: String, _ patch: JSONValue) async throws -> JSONValue {
        try await client.patch(resource, namespace: namespace, name: name, patch: .merge(patch))
    }

    func delete(_ resource: Resource, _ namespace: String?, _ name: String) async throws {
        _ = try await client.delete(resource, namespace: namespace, name: name)
    }

    /// Decoded Secret data of an object.
    static func secretData(_ object: JSONValue?) -> [String: String] {
        (object?["data"]?.stringMap ?? [:]).mapValues { String(decoding: Data(base64Encoded: $0) ?? Data(), as: UTF8.self) }
    }

    /// Events posted about a source, as (reason, note).
    func events(about name: String, in namespace: String) async throws -> [(reason: String, note: String)] {
        try await client.list(.events, namespace: namespace).items
            .filter { $0["regarding"]?["name"]?.stringValue == name }
            .map { ($0["reason"]?.stringValue ?? "", $0["note"]?.stringValue ?? "") }
    }

    /// Successful writes the emulator recorded (by anyone but this test's own arranging, which
    /// the caller excludes by resetting the accounting first).
    var writes: [RequestAccounting.Write] { emulator.requests.successfulWrites }
}

/// Polls `condition` until it holds or `timeout` passes; returns how long it took. Generous
/// deadlines only: the measured time is what the report cites, never what is asserted.
@discardableResult
func eventually(_ what: String, timeout: Duration = .seconds(10), file: StaticString = #filePath, line: UInt = #line,
                _ condition: () async throws -> Bool) async throws -> Duration {
    let clock = ContinuousClock()
    let start = clock.now
    while clock.now - start < timeout {
        if try await condition() { return clock.now - start }
        try await Task.sleep(for: .milliseconds(10))
    }
    XCTFail("timed out after \(timeout): \(what)", file: file, line: line)
    return timeout
}

/// Records a measured reaction time so the suite can print a summary.
enum Timings {
    static let recorded = LockedBox<[String: [Duration]]>([:])

    static func record(_ what: String, _ duration: Duration) {
        let all = recorded.mutate { recorded -> [Duration] in
            recorded[what, default: []].append(duration)
            return recorded[what]!.sorted()
        }
        let median = all[all.count / 2]
        let p99 = all[min(all.count - 1, Int((Double(all.count) * 0.99).rounded(.up)) - 1)]
        print("timing: \(what): \(duration) (n=\(all.count), median \(median), p99 \(p99), max \(all.last!))")
    }
}
