import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import XCTest

/// The observer hook metrics hang on: every request attempt with its verb and status, every
/// watch restart with its resource and reason, against the TLS emulator and its faults.
final class ObserverTests: XCTestCase {
    /// Records what the client reports, on the reactor thread.
    final class Recorder: KubeClientObserver {
        var requests: [String] = []
        var restarts: [String] = []

        func apiRequest(verb: APIVerb, status: Int?) {
            requests.append("\(verb.rawValue) \(status.map(String.init) ?? "error")")
        }

        func watchRestarted(resource: Resource, reason: WatchRestartReason) {
            restarts.append("\(resource) \(reason.rawValue)")
        }
    }

    private func observe(_ w: World) async -> ReactorBound<Recorder> {
        let recorder = ReactorBound(Recorder())
        let client = w.client
        await w.onLoop { client.observer = recorder.value }
        return recorder
    }

    private func requests(_ w: World, _ recorder: ReactorBound<Recorder>) async -> [String] {
        await w.onLoop { recorder.value.requests }
    }

    private func restarts(_ w: World, _ recorder: ReactorBound<Recorder>) async -> [String] {
        await w.onLoop { recorder.value.restarts }
    }

    /// Waits (generously) until the restarts recorded since `mark` include `expected`.
    private func waitForRestart(
        _ expected: String, _ w: World, _ recorder: ReactorBound<Recorder>, since mark: Int,
        file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var seen: [String] = []
        while ContinuousClock.now < deadline {
            seen = Array(await restarts(w, recorder).dropFirst(mark))
            if seen.contains(expected) { return }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTFail("no watch restart \"\(expected)\"; saw \(seen)", file: file, line: line)
    }

    /// Waits until the server has answered `count` watches: the last one is open and registered
    /// with the emulator, so a fault injected now reaches it.
    private func waitForWatchesOpened(
        _ count: Int, _ w: World, _ recorder: ReactorBound<Recorder>, file: StaticString = #filePath, line: UInt = #line
    ) async throws {
        let deadline = ContinuousClock.now + .seconds(60)
        var opened = 0
        while ContinuousClock.now < deadline {
            opened = await requests(w, recorder).filter { $0 == "watch 200" }.count
            if opened >= count { return }
            try await Task.sleep(for: .milliseconds(20))
        }
        XCTFail("\(opened) watches opened, not \(count)", file: file, line: line)
    }

    func testEveryVerbIsReportedWithItsStatus() async throws {
        let w = try World()
        defer { w.shutdown() }
        let recorder = await observe(w)

        let created = try await w.client.create(.secrets, namespace: "default", object: secret("a"))
        _ = try await w.client.get(.secrets, namespace: "default", name: "a")
        do {
            _ = try await w.client.get(.secrets, namespace: "default", name: "missing")
            XCTFail("missing is missing")
        } catch {
            XCTAssertEqual(error.status?.code, 404)
        }
        _ = try await w.client.list(.secrets, namespace: "default")
        var replacement = created
        replacement["data"] = ["k": "dzI="]
        _ = try await w.client.update(.secrets, namespace: "default", name: "a", object: replacement)
        do {
            // `created` carries the resourceVersion the update above superseded.
            _ = try await w.client.update(.secrets, namespace: "default", name: "a", object: created)
            XCTFail("a stale resourceVersion conflicts")
        } catch {
            XCTAssertEqual(error.status?.code, 409)
        }
        _ = try await w.client.patch(.secrets, namespace: "default", name: "a", patch: .merge(["metadata": ["labels": ["p": "q"]]]))
        _ = try await w.client.delete(.secrets, namespace: "default", name: "a")

        let probe = await w.startInformer(Informer.Options(resource: .configMaps, metadataOnly: true))
        await probe.stop()

        let seen = await requests(w, recorder)
        XCTAssertEqual(
            seen,
            ["create 201", "get 200", "get 404", "list 200", "update 200", "update 409", "patch 200", "delete 200", "watch 200"])
    }

    func testEachRetryOfA429IsAnAttemptOfItsOwn() async throws {
        let w = try World()
        defer { w.shutdown() }
        _ = try await w.client.create(.configMaps, namespace: "default", object: configMap("c"))
        let recorder = await observe(w)
        w.emulator.faults.failNext(2, status: 429, retryAfterSeconds: 0)
        _ = try await w.client.get(.configMaps, namespace: "default", name: "c")
        let seen = await requests(w, recorder)
        XCTAssertEqual(seen, ["get 429", "get 429", "get 200"])
        let retries = await w.onLoop { w.client.statistics.retries }
        XCTAssertEqual(retries, 2)
    }

    func testARequestThatGetsNoAnswerIsReportedAsATransportError() async throws {
        // A port that was free a moment ago: nothing answers there.
        let closedPort = try freePort()
        let w = try World { _, _ in ClientConfiguration(server: "https://127.0.0.1:\(closedPort)") }
        defer { w.shutdown() }
        let recorder = await observe(w)
        do {
            _ = try await w.client.get(.secrets, namespace: "default", name: "x")
            XCTFail("nothing listens there")
        } catch {
            XCTAssertNil(error.status, "no server answered: \(error)")
        }
        let seen = await requests(w, recorder)
        XCTAssertEqual(seen, ["get error"])
    }

    func testEachWatchRestartReasonIsReported() async throws {
        let w = try World(emulator: .init(tls: true, bookmarkInterval: .seconds(1)))
        defer { w.shutdown() }
        let recorder = await observe(w)
        let options = Informer.Options(
            resource: .secrets, metadataOnly: true, idleTimeout: .seconds(2),
            backoff: Backoff(initial: .milliseconds(50), cap: .milliseconds(500)))
        let secrets = await w.startInformer(options)
        let none = await restarts(w, recorder)
        XCTAssertEqual(none, [], "a watch that runs is no restart")

        // Silence: no byte, not even a bookmark, for the idle timeout.
        var mark = await restarts(w, recorder).count
        w.emulator.faults.silenceWatches()
        try await waitForRestart("secrets idle", w, recorder, since: mark)
        try await waitForWatchesOpened(2, w, recorder)

        // The connection goes: a transport error.
        mark = await restarts(w, recorder).count
        w.emulator.faults.dropWatches()
        try await waitForRestart("secrets error", w, recorder, since: mark)
        try await waitForWatchesOpened(3, w, recorder)

        // History compacted past where the informer stands: the resume is refused with 410. The
        // watch is silenced first so the informer cannot move past the change before compaction.
        mark = await restarts(w, recorder).count
        w.emulator.faults.silenceWatches()
        _ = try w.emulator.store.create(.secret, namespace: "default", try JSONParser.parse(secret("while-silent").jsonString))
        w.emulator.faults.compact()
        w.emulator.faults.dropWatches()
        try await waitForRestart("secrets expired", w, recorder, since: mark)
        try await secrets.waitForServerState(.secret)
        await secrets.stop()

        // The server ends the stream when its timeoutSeconds runs out.
        mark = await restarts(w, recorder).count
        var short = options
        short.resource = .configMaps
        short.idleTimeout = .seconds(60)
        short.watchTimeoutSeconds = 2..<3
        let configMaps = await w.startInformer(short)
        try await waitForRestart("configmaps closed", w, recorder, since: mark)
        await configMaps.stop()

        let stopped = await restarts(w, recorder).count
        try await Task.sleep(for: .seconds(3))
        let after = await restarts(w, recorder).count
        XCTAssertEqual(after, stopped, "a stopped informer restarts nothing")
    }

    func testARemovedObserverHearsNothing() async throws {
        let w = try World()
        defer { w.shutdown() }
        let recorder = await observe(w)
        await w.onLoop { w.client.observer = nil }
        _ = try await w.client.create(.configMaps, namespace: "default", object: configMap("quiet"))
        let seen = await requests(w, recorder)
        XCTAssertEqual(seen, [], "an observer removed hears nothing")
    }
}

/// A TCP port on 127.0.0.1 that was free a moment ago.
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    guard fd >= 0 else { throw POSIXError(.init(rawValue: errno)!) }
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    let bound = withUnsafePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
    }
    guard bound == 0 else { throw POSIXError(.init(rawValue: errno)!) }
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    _ = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
    }
    return Int(UInt16(bigEndian: address.sin_port))
}
