import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import Logging
import SpillwayContract
@testable import SpillwayEngine
import SpillwayReactor
import XCTest

/// Several API servers (in-process emulators over HTTP) and engines on one reactor thread: a
/// watched cluster and its target clusters, as a management host sees them. An emulator can be
/// stopped and started again on the same port with the same objects (an outage).
final class ClusterWorld: @unchecked Sendable {
    let loop: ReactorThread
    let logs = LogCapture()
    let directory: URL
    private(set) var emulators: [String: KubeEmulator] = [:]
    private var ports: [String: Int] = [:]
    /// The tests' own clients, one per cluster (for arranging and reading back).
    private(set) var clients: [String: KubeClient] = [:]
    private var engines: [Unchecked<Engine>] = []

    /// The token every engine's client presents: an administrator on every emulator, the same
    /// after a restart.
    static let engineToken = "engine-token"
    private static let identities = [engineToken: Identity(user: "spillway", groups: ["system:masters", "system:authenticated"])]

    init(clusters: [String]) async throws {
        loop = try ReactorThread()
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-clusters-\(UUID().uuidString)")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        for name in clusters { try await startEmulator(name) }
    }

    func shutdown() async {
        for engine in engines {
            _ = await loop.wait { (done: @escaping (Bool) -> Void) in engine.value.stop { done(true) } }
        }
        engines = []
        loop.stop()
        for emulator in emulators.values { emulator.shutdown() }
        try? FileManager.default.removeItem(at: directory)
    }

    /// Ends a test: no value of `secretValues` reached a log line, the logs are printed with
    /// SPILLWAY_DUMP_LOGS set, and everything is stopped.
    func finish(secretValues: [String], file: StaticString = #filePath, line: UInt = #line) async {
        let leaks = logs.all.filter { entry in secretValues.contains { entry.rendered.contains($0) } }
        XCTAssertEqual(leaks.map(\.rendered), [], "a secret value reached a log line", file: file, line: line)
        if ProcessInfo.processInfo.environment["SPILLWAY_DUMP_LOGS"] != nil {
            for entry in logs.all { print(entry.rendered) }
        }
        await shutdown()
    }

    private func stateFile(_ name: String) -> String { directory.appendingPathComponent("\(name).json").path }

    private func startEmulator(_ name: String) async throws {
        let emulator = try KubeEmulator.start(.init(port: ports[name] ?? 0, tokens: Self.identities, stateFile: stateFile(name)))
        emulators[name] = emulator
        ports[name] = emulator.port
        if clients[name] == nil { clients[name] = try await client(name) }
    }

    /// The cluster's API server goes away (its objects are kept).
    func stop(_ name: String) {
        emulators[name]?.shutdown()
    }

    /// It comes back on the same port with the same objects.
    func restart(_ name: String) async throws {
        try await startEmulator(name)
    }

    /// A client of `name` on the world's reactor, authenticated with the engines' token.
    func client(_ name: String) async throws -> KubeClient {
        var configuration = ClientConfiguration(server: emulators[name]!.baseURL)
        configuration.auth = .token(Self.engineToken)
        let settled = configuration
        let reactor = Unchecked(loop.reactor)
        let logger = logs.logger("spillway.kubeclient.\(name)")
        return try await loop.run { try KubeClient(configuration: settled, reactor: reactor.value, logger: logger) }
    }

    /// Starts an engine watching `watched` and writing into `targets` (each with its own client
    /// and options) and waits until it synced the watched cluster.
    @discardableResult
    func startEngine(watched: String, targets: [String], options: EngineOptions = EngineOptions(),
                     targetOptions: [String: SpillwayContract.Options] = [:], metrics: EngineMetrics? = nil) async throws -> Unchecked<Engine> {
        let watchedClient = Unchecked(try await client(watched))
        var configurations: [TargetClusterConfiguration] = []
        for name in targets {
            configurations.append(TargetClusterConfiguration(name: name, client: try await client(name),
                                                             contract: targetOptions[name] ?? options.contract))
        }
        let targetBox = Unchecked(configurations)
        let reactor = Unchecked(loop.reactor)
        let logger = logs.logger("spillway.engine")
        let sink = Unchecked(metrics)
        let box: Unchecked<Engine> = await loop.wait { done in
            let engine = Engine(reactor: reactor.value, client: watchedClient.value, options: options, logger: logger,
                                metrics: sink.value ?? SwiftMetricsEngineMetrics(), targets: targetBox.value)
            engine.onSynced = { done(Unchecked(engine)) }
            engine.setLeader(true)
            engine.start()
        }
        engines.append(box)
        return box
    }

    /// Reads something off an engine on the reactor thread.
    func on<T>(_ engine: Unchecked<Engine>, _ body: @escaping (Engine) -> T) async throws -> T {
        try await loop.run { body(engine.value) }
    }

    // MARK: - Arranging and reading

    func namespace(_ cluster: String, _ name: String, labels: [String: String] = [:], annotations: [String: String] = [:]) async throws {
        _ = try await clients[cluster]!.create(.namespaces, namespace: nil, object: [
            "apiVersion": "v1", "kind": "Namespace",
            "metadata": ["name": .string(name), "labels": .stringMap(labels), "annotations": .stringMap(annotations)],
        ])
    }

    func secret(_ cluster: String, _ namespace: String, _ name: String, annotations: [String: String] = [:],
                labels: [String: String] = [:], data: [String: String]) async throws {
        _ = try await clients[cluster]!.create(.secrets, namespace: namespace, object: [
            "apiVersion": "v1", "kind": "Secret",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "labels": .stringMap(labels),
                         "annotations": .stringMap(annotations)],
            "data": .stringMap(data.mapValues { Data($0.utf8).base64EncodedString() }),
        ])
    }

    func get(_ cluster: String, _ resource: Resource, _ namespace: String?, _ name: String) async throws -> JSONValue? {
        try await Self.getOrNil(clients[cluster]!, resource, namespace, name)
    }

    private static func getOrNil(_ client: KubeClient, _ resource: Resource, _ namespace: String?, _ name: String) async throws -> JSONValue? {
        do {
            return try await client.get(resource, namespace: namespace, name: name)
        } catch where error.status?.isNotFound == true {
            return nil
        }
    }

    func patch(_ cluster: String, _ resource: Resource, _ namespace: String, _ name: String, _ patch: JSONValue) async throws {
        _ = try await clients[cluster]!.patch(resource, namespace: namespace, name: name, patch: .merge(patch))
    }

    func delete(_ cluster: String, _ resource: Resource, _ namespace: String, _ name: String) async throws {
        _ = try await clients[cluster]!.delete(resource, namespace: namespace, name: name)
    }

    /// Namespaces of `cluster` holding a managed Secret named `name` (any owner), straight from
    /// the emulator's store (so a stopped cluster answers too).
    func replicas(_ cluster: String, _ name: String) -> Set<String> {
        let items = (try? emulators[cluster]!.store.list(.secret, namespace: nil).items) ?? []
        return Set(items.filter { $0.name == name && $0.labels[Vocabulary.managedByLabel] == Vocabulary.managedByValue }.map(\.namespace))
    }

    func annotations(_ cluster: String, _ namespace: String, _ name: String) -> [String: String] {
        (try? emulators[cluster]!.store.get(.secret, namespace: namespace, name: name).json)?["metadata"]?["annotations"]?.stringMap ?? [:]
    }

    func exists(_ cluster: String, _ namespace: String, _ name: String) -> Bool {
        (try? emulators[cluster]!.store.get(.secret, namespace: namespace, name: name)) != nil
    }

    func secretData(_ cluster: String, _ namespace: String, _ name: String) -> [String: String]? {
        guard let object = try? emulators[cluster]!.store.get(.secret, namespace: namespace, name: name).json else { return nil }
        return (object["data"]?.stringMap ?? [:]).mapValues { String(decoding: Data(base64Encoded: $0) ?? Data(), as: UTF8.self) }
    }

    /// Events posted about a source in the watched cluster, as (type, reason, note).
    func events(_ cluster: String, about name: String, in namespace: String) -> [(type: String, reason: String, note: String)] {
        let items = (try? emulators[cluster]!.store.list(.eventsV1, namespace: namespace).items) ?? []
        return items.map(\.json).filter { $0["regarding"]?["name"]?.stringValue == name }
            .map { ($0["type"]?.stringValue ?? "", $0["reason"]?.stringValue ?? "", $0["note"]?.stringValue ?? "") }
    }
}

/// Records what the engine reports about target clusters.
final class ClusterMetrics: EngineMetrics, @unchecked Sendable {
    let abandoned = LockedBox<[String]>([])
    let ready = LockedBox<[String: Bool]>([:])
    let writes = LockedBox<[String: Int]>([:])

    func replication(kind: String, result: String) {}
    func reconcileChange(kind: String, action: String) {}
    func cleanupDelete(kind: String) {}
    func reconcileDuration(kind: String, _ duration: Duration) {}
    func workQueue(depth: Int) {}
    func workQueueWait(_ duration: Duration) {}
    func managedReplicas(_ count: Int) {}
    func conflicts(_ count: Int) {}
    func propagationLatency(_ duration: Duration) {}
    func eventDropped() {}
    func profile(_ profile: String, replicas: Int, missingSources: Int, ready: Bool) {}
    func profileRemoved(_ profile: String) {}
    func cluster(_ name: String, ready: Bool, replicas: Int) { self.ready.mutate { $0[name] = ready } }
    func clusterWrite(_ name: String, kind: String, action: String) { writes.mutate { $0[name, default: 0] += 1 } }
    func clusterCleanupAbandoned(_ name: String) { abandoned.mutate { $0.append(name) } }
}
