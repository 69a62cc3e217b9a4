import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import Logging
import SpillwayReactor
import XCTest

/// A TLS emulator plus a reactor thread running a KubeClient against it: the world of the
/// end-to-end tests. Test code talks to the client through `onLoop` / the async conveniences.
final class World: @unchecked Sendable {
    let emulator: KubeEmulator
    let scratch: Scratch
    let reactor: Reactor
    let client: KubeClient
    private let thread: Thread
    private let stopped = DispatchSemaphore(value: 0)

    /// Starts the emulator (TLS) and a client built from the kubeconfig `makeConfig` returns
    /// (default: the emulator's admin kubeconfig).
    init(
        emulator config: KubeEmulator.Configuration = .init(tls: true, bookmarkInterval: .seconds(1)),
        rateLimit: RateLimitConfiguration = .init(),
        configure: ((KubeEmulator, Scratch) throws -> ClientConfiguration)? = nil
    ) throws {
        emulator = try KubeEmulator.start(config)
        scratch = try Scratch()
        let configuration: ClientConfiguration
        if let configure {
            configuration = try configure(emulator, scratch)
        } else {
            let path = scratch.dir + "/kubeconfig"
            try emulator.writeKubeconfig(to: path)
            configuration = try ClientConfiguration.load(kubeconfig: path, environment: [:])
        }
        reactor = try Reactor()
        var logger = Logger(label: "test")
        logger.logLevel = ProcessInfo.processInfo.environment["SPILLWAY_TEST_LOG"].flatMap { Logger.Level(rawValue: $0) } ?? .warning
        client = try KubeClient(configuration: configuration, reactor: reactor, rateLimit: rateLimit, logger: logger)
        let box = ReactorBound(reactor)
        let done = stopped
        thread = Thread {
            try? box.value.run()
            done.signal()
        }
        thread.start()
    }

    func shutdown() {
        reactor.remote.stop()
        stopped.wait()
        emulator.shutdown()
    }

    /// Runs `body` on the reactor thread and returns its value.
    func onLoop<T: Sendable>(_ body: @escaping () -> T) async -> T {
        let b = ReactorBound(body)
        return await withCheckedContinuation { cont in
            reactor.remote.post { cont.resume(returning: b.value()) }
        }
    }

    /// Starts an informer feeding an ObjectStore, both living on the reactor thread, and waits
    /// until it has synced (its watch is open).
    func startInformer(_ options: Informer.Options, wantsBody: (@Sendable (ObjectMeta) -> Bool)? = nil) async -> InformerProbe {
        let probe = ReactorBound((informer: Box<Informer>(), store: ObjectStore()))
        let client = self.client
        await onLoop {
            let store = probe.value.store
            let inf = Informer(client: client, options: options) { store.apply($0) }
            inf.wantsBody = wantsBody
            probe.value.informer.value = inf
            inf.start()
        }
        let informer = ReactorBound(probe.value.informer.value!)
        while await !onLoop({ informer.value.hasSynced }) {
            try? await Task.sleep(for: .milliseconds(20))
        }
        return InformerProbe(world: self, informer: informer.value, store: probe.value.store)
    }

    /// The server's view: name → resourceVersion of every object of a type.
    func serverState(_ type: ResourceType, namespace: String? = nil) throws -> [String: String] {
        var out: [String: String] = [:]
        for o in try emulator.store.list(type, namespace: namespace).items {
            out[o.namespace.isEmpty ? o.name : "\(o.namespace)/\(o.name)"] = String(o.resourceVersion)
        }
        return out
    }
}

final class Box<T>: @unchecked Sendable { var value: T? }

/// Confined-object handle for tests: reads happen through the reactor thread.
struct InformerProbe: @unchecked Sendable {
    let world: World
    let informer: Informer
    let store: ObjectStore

    /// The informer's view: key → resourceVersion.
    func state() async -> [String: String] {
        let s = ReactorBound(store)
        return await world.onLoop {
            var out: [String: String] = [:]
            for (k, v) in s.value.objects { out[k.description] = v.metadata.resourceVersion }
            return out
        }
    }

    func statistics() async -> Informer.Statistics {
        let i = ReactorBound(informer)
        return await world.onLoop { i.value.statistics }
    }

    func objects() async -> [KubeObject] {
        let s = ReactorBound(store)
        return await world.onLoop { Array(s.value.objects.values) }
    }

    func stop() async {
        let i = ReactorBound(informer)
        await world.onLoop { i.value.stop() }
    }

    /// Waits (generously: the machine is shared) until the informer's view equals the server's.
    func waitForServerState(_ type: ResourceType, namespace: String? = nil, timeout: Duration = .seconds(60),
                            file: StaticString = #filePath, line: UInt = #line) async throws {
        let deadline = ContinuousClock.now + timeout
        var mine: [String: String] = [:]
        var theirs: [String: String] = [:]
        while ContinuousClock.now < deadline {
            theirs = try world.serverState(type, namespace: namespace)
            mine = await state()
            if mine == theirs { return }
            try await Task.sleep(for: .milliseconds(100))
        }
        let missing = Set(theirs.keys).subtracting(mine.keys).sorted().prefix(5)
        let phantom = Set(mine.keys).subtracting(theirs.keys).sorted().prefix(5)
        let stale = theirs.keys.filter { mine[$0] != nil && mine[$0] != theirs[$0] }.sorted().prefix(5)
        XCTFail("informer state differs from the server's: \(theirs.count) vs \(mine.count) objects; missing \(Array(missing)), phantom \(Array(phantom)), stale \(Array(stale))", file: file, line: line)
    }
}

/// Reactor-confined values carried across the test's thread hop.
struct ReactorBound<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

func secret(_ name: String, namespace: String = "default", data: [String: String] = ["k": "dg=="], labels: [String: String] = [:]) -> JSONValue {
    ["apiVersion": "v1", "kind": "Secret",
     "metadata": ["name": .string(name), "namespace": .string(namespace), "labels": .stringMap(labels)],
     "type": "Opaque", "data": .stringMap(data)]
}

func configMap(_ name: String, namespace: String = "default", data: [String: String] = ["k": "v"]) -> JSONValue {
    ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "namespace": .string(namespace)], "data": .stringMap(data)]
}

extension Error {
    /// The Status of an API error, for assertions.
    var status: StatusError? { (self as? KubeClientError)?.status }
}
