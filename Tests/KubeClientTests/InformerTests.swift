import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import XCTest

/// Informers against the TLS emulator and its fault injection: the final state must equal the
/// server's — no missed or phantom objects — whatever happened to the watch on the way.
final class InformerTests: XCTestCase {
    func seed(_ w: World, _ count: Int, prefix: String = "s", namespace: String = "default") throws {
        try w.emulator.store.seed(try (0..<count).map { (ResourceType.secret, try JSONParser.parse(secret("\(prefix)\($0)", namespace: namespace).jsonString)) })
    }

    func fastOptions(_ resource: Resource = .secrets, metadataOnly: Bool = true, streaming: Bool = true) -> Informer.Options {
        Informer.Options(resource: resource, metadataOnly: metadataOnly, streamingList: streaming, idleTimeout: .seconds(2),
                         backoff: Backoff(initial: .milliseconds(50), cap: .milliseconds(500)))
    }

    func testMetadataOnlyInformerSyncsAndCarriesNoData() async throws {
        let w = try World()
        defer { w.shutdown() }
        try seed(w, 300)
        let probe = await w.startInformer(fastOptions())
        try await probe.waitForServerState(.secret)
        _ = try await w.client.create(.secrets, namespace: "default", object: secret("live", labels: ["a": "b"]))
        try await probe.waitForServerState(.secret)
        let objects = await probe.objects()
        XCTAssertTrue(objects.allSatisfy { $0.object == nil }, "metadata-only informers keep no body")
        XCTAssertEqual(objects.first { $0.metadata.name == "live" }?.metadata.labels, ["a": "b"])
        let stats = await probe.statistics()
        XCTAssertEqual(stats.streamingLists, 1, "the emulator supports streaming lists")
        await probe.stop()
    }

    func testFullObjectInformerKeepsData() async throws {
        let w = try World()
        defer { w.shutdown() }
        let probe = await w.startInformer(fastOptions(metadataOnly: false))
        _ = try await w.client.create(.secrets, namespace: "default", object: secret("full", data: ["p": "cGFzcw=="]))
        try await probe.waitForServerState(.secret)
        let o = await probe.objects().first { $0.metadata.name == "full" }
        XCTAssertEqual(o?.object?["data"]?["p"]?.stringValue, "cGFzcw==")
        await probe.stop()
    }

    /// A consumer that already holds an object's version (the echo of its own write) says so,
    /// and that event's object arrives with its metadata alone; every other body is built.
    func testABodyTheConsumerDoesNotWantIsNotBuilt() async throws {
        let w = try World()
        defer { w.shutdown() }
        let probe = await w.startInformer(fastOptions(metadataOnly: false)) { $0.labels["echo"] == nil }
        _ = try await w.client.create(.secrets, namespace: "default", object: secret("wanted", data: ["p": "cGFzcw=="]))
        _ = try await w.client.create(.secrets, namespace: "default",
                                      object: secret("echo", data: ["p": "cGFzcw=="], labels: ["echo": "yes"]))
        try await probe.waitForServerState(.secret)
        let objects = await probe.objects()
        let wanted = try XCTUnwrap(objects.first { $0.metadata.name == "wanted" })
        let echo = try XCTUnwrap(objects.first { $0.metadata.name == "echo" })
        XCTAssertEqual(wanted.object?["data"]?["p"]?.stringValue, "cGFzcw==")
        XCTAssertNil(echo.object)
        XCTAssertEqual(echo.metadata.labels, ["echo": "yes"])
        XCTAssertFalse(echo.metadata.uid.isEmpty)
        await probe.stop()
    }

    func testLabelSelectorInformerSeesObjectsEnterAndLeaveTheSelection() async throws {
        let w = try World()
        defer { w.shutdown() }
        var options = fastOptions()
        options.list.selectors = Selectors(label: "team=a", field: "metadata.namespace=default")
        let probe = await w.startInformer(options)
        _ = try await w.client.create(.secrets, namespace: "default", object: secret("in", labels: ["team": "a"]))
        _ = try await w.client.create(.secrets, namespace: "default", object: secret("out", labels: ["team": "b"]))
        _ = try await w.client.patch(.secrets, namespace: "default", name: "out", patch: .merge(["metadata": ["labels": ["team": "a"]]]))
        _ = try await w.client.patch(.secrets, namespace: "default", name: "in", patch: .merge(["metadata": ["labels": ["team": "c"]]]))
        let deadline = ContinuousClock.now + .seconds(30)
        var names: Set<String> = []
        while ContinuousClock.now < deadline {
            names = Set(await probe.objects().map(\.metadata.name))
            if names == ["out"] { break }
            try await Task.sleep(for: .milliseconds(50))
        }
        XCTAssertEqual(names, ["out"], "the object that left the selection was deleted, the one that entered was added")
        await probe.stop()
    }

    func testFallsBackToListWhenStreamingListIsRefused() async throws {
        let w = try World(emulator: .init(tls: true, bookmarkInterval: .seconds(1), watchList: false))
        defer { w.shutdown() }
        try seed(w, 1200)
        let probe = await w.startInformer(fastOptions())
        try await probe.waitForServerState(.secret)
        let stats = await probe.statistics()
        XCTAssertEqual(stats.lists, 1)
        XCTAssertEqual(w.emulator.requests.count(verb: "list", resource: "secrets"), 3, "paged by 500")
        await probe.stop()
    }

    func testSurvivesDroppedWatchesCompactionAnd429sAndRestart() async throws {
        let w = try World()
        defer { w.shutdown() }
        try seed(w, 200)
        let probe = await w.startInformer(fastOptions())
        try await probe.waitForServerState(.secret)

        // Dropped connection: changes made while it is down arrive on resume.
        w.emulator.faults.dropWatches()
        for i in 0..<20 { _ = try await w.client.delete(.secrets, namespace: "default", name: "s\(i)") }
        _ = try await w.client.create(.secrets, namespace: "default", object: secret("after-drop"))
        try await probe.waitForServerState(.secret)

        // History compaction while disconnected: resume gets 410, the relist must delete what vanished.
        w.emulator.faults.dropWatches()
        for i in 20..<40 { try w.emulator.store.delete(.secret, namespace: "default", name: "s\(i)") }
        w.emulator.faults.compact()
        try await probe.waitForServerState(.secret)

        // A 429 storm on every request for a while.
        w.emulator.faults.failRequests(fraction: 1.0, status: 429, retryAfterSeconds: 1)
        w.emulator.faults.dropWatches()
        for i in 40..<60 { try w.emulator.store.delete(.secret, namespace: "default", name: "s\(i)") }
        try await Task.sleep(for: .seconds(1))
        w.emulator.faults.clear()
        try await probe.waitForServerState(.secret)

        // The server restarts (same port, state kept).
        try w.emulator.restart()
        _ = try await w.client.create(.secrets, namespace: "default", object: secret("after-restart"))
        try await probe.waitForServerState(.secret)
        let stats = await probe.statistics()
        XCTAssertGreaterThanOrEqual(stats.relists, 1, "compaction forced a relist")
        await probe.stop()
    }

    func testAnOutageOfAnyLengthIsCaughtUpWithinAFewSecondsOfTheServersReturn() async throws {
        let w = try World()
        defer { w.shutdown() }
        try seed(w, 10)
        // The production backoff: a 12 s outage used to grow it to 6.4–12.8 s.
        let probe = await w.startInformer(Informer.Options(resource: .secrets, metadataOnly: true))
        try await probe.waitForServerState(.secret)
        try w.emulator.goAway()
        try await Task.sleep(for: .seconds(12))
        try w.emulator.comeBack()
        let back = ContinuousClock.now
        _ = try w.emulator.store.create(.secret, namespace: "default", try JSONParser.parse(secret("after-outage").jsonString))
        try await probe.waitForServerState(.secret, timeout: .seconds(40))
        let took = ContinuousClock.now - back
        XCTAssertLessThan(took, .seconds(4), "caught up \(took) after the server's return")
        await probe.stop()
    }

    func testAnotherRequestsSuccessEndsTheBackoffAndAn410RelistsAtOnce() async throws {
        let w = try World()
        defer { w.shutdown() }
        try seed(w, 20)
        // A backoff long enough that only the early retry and the immediate relist can explain
        // a quick catch-up.
        var options = fastOptions()
        options.backoff = Backoff(initial: .seconds(20), cap: .seconds(20))
        let probe = await w.startInformer(options)
        try await probe.waitForServerState(.secret)
        // Changes the watch misses, their history compacted: the resume gets 410.
        try w.emulator.goAway()
        for i in 0..<5 { try w.emulator.store.delete(.secret, namespace: "default", name: "s\(i)") }
        w.emulator.store.compact()
        try await Task.sleep(for: .milliseconds(500))
        try w.emulator.comeBack()
        let back = ContinuousClock.now
        _ = try await w.client.get(.namespaces, namespace: nil, name: "default")
        try await probe.waitForServerState(.secret, timeout: .seconds(60))
        let took = ContinuousClock.now - back
        XCTAssertLessThan(took, .seconds(5), "caught up \(took) after the server's return, not after the 10–20 s backoff")
        let stats = await probe.statistics()
        XCTAssertGreaterThanOrEqual(stats.earlyRetries, 1)
        XCTAssertGreaterThanOrEqual(stats.relists, 1)
        await probe.stop()
    }

    func testAServerThatAnswersEveryRequest410CannotMakeTheInformerSpin() async throws {
        let w = try World()
        defer { w.shutdown() }
        try seed(w, 5)
        var options = fastOptions()
        options.backoff = Backoff(initial: .milliseconds(200), cap: .milliseconds(400))
        let probe = await w.startInformer(options)
        try await probe.waitForServerState(.secret)
        let before = w.emulator.requests.count(resource: "secrets")
        w.emulator.faults.failRequests(fraction: 1.0, status: 410)
        w.emulator.faults.dropWatches()
        try await Task.sleep(for: .seconds(3))
        let during = w.emulator.requests.count(resource: "secrets") - before
        w.emulator.faults.clear()
        // One immediate relist, then the backoff: about 3 s / 0.3 s, far from a spin.
        XCTAssertLessThan(during, 40, "\(during) requests in 3 s")
        try await probe.waitForServerState(.secret)
        await probe.stop()
    }

    func testSilentWatchIsRestartedWithinItsIdleTimeout() async throws {
        let w = try World(emulator: .init(tls: true, bookmarkInterval: .seconds(60)))
        defer { w.shutdown() }
        let probe = await w.startInformer(fastOptions())
        try await probe.waitForServerState(.secret)
        w.emulator.faults.silenceWatches()
        let silencedAt = ContinuousClock.now
        _ = try await w.client.create(.secrets, namespace: "default", object: secret("during-silence"))
        try await probe.waitForServerState(.secret, timeout: .seconds(30))
        let took = ContinuousClock.now - silencedAt
        let stats = await probe.statistics()
        XCTAssertEqual(stats.idleRestarts, 1)
        XCTAssertLessThan(took, .seconds(20), "restarted after the 2 s idle timeout, not the watch's own timeout")
        await probe.stop()
    }

    /// A real kube-apiserver bookmarks a watch only when its resource's resourceVersion moved:
    /// a quiet resource's watch carries nothing until the server ends it at its timeout. By
    /// default that watch is not presumed dead before then (which would cost a request per
    /// watch every idle period), only when it outlives its own timeout.
    func testAQuietWatchWithoutBookmarksLivesToItsOwnTimeoutAndASilentOneNotMuchLonger() async throws {
        let w = try World(emulator: .init(tls: true, bookmarkInterval: .seconds(3600)))
        defer { w.shutdown() }
        var options = Informer.Options(resource: .secrets, metadataOnly: true, watchTimeoutSeconds: 4..<5,
                                       backoff: Backoff(initial: .milliseconds(50), cap: .milliseconds(500)))
        options.idleSlack = .seconds(2)
        XCTAssertEqual(Informer.longestSilence(of: options), .seconds(7))
        let probe = await w.startInformer(options)
        try await probe.waitForServerState(.secret)
        // Quiet, no bookmarks: the server ends each watch at 4 s and the informer resumes it.
        try await Task.sleep(for: .seconds(9))
        var stats = await probe.statistics()
        XCTAssertEqual(stats.idleRestarts, 0, "a healthy quiet watch was presumed dead")
        XCTAssertGreaterThanOrEqual(stats.watches, 3, "the server's timeout ends each watch: \(stats.watches)")
        // A hung server: the watch stays open past its timeout and says nothing.
        w.emulator.faults.silenceWatches()
        let silencedAt = ContinuousClock.now
        _ = try await w.client.create(.secrets, namespace: "default", object: secret("during-silence"))
        try await probe.waitForServerState(.secret, timeout: .seconds(30))
        let took = ContinuousClock.now - silencedAt
        stats = await probe.statistics()
        XCTAssertEqual(stats.idleRestarts, 1)
        XCTAssertLessThan(took, .seconds(8), "restarted once past its timeout plus the slack")
        await probe.stop()
    }

    func testChurnOfTenThousandOperationsUnderFaultsEndsInTheServersState() async throws {
        let w = try World()
        defer { w.shutdown() }
        let probe = await w.startInformer(fastOptions(.configMaps, metadataOnly: false))
        try await probe.waitForServerState(.configMap)
        let store = w.emulator.store
        var live: [Int] = []
        var next = 0
        var rng = SystemRandomNumberGenerator()
        for op in 0..<10_000 {
            switch op % 1000 {
            case 250: w.emulator.faults.dropWatches()
            case 500: w.emulator.faults.compact(); w.emulator.faults.dropWatches()
            case 750: w.emulator.faults.silenceWatches()
            default: break
            }
            if op % 100 == 0 {
                // Let the watch catch up now and then, so faults hit it mid-stream too.
                try await Task.sleep(for: .milliseconds(10))
            }
            let roll = Int.random(in: 0..<10, using: &rng)
            if live.isEmpty || roll < 4 {
                _ = try store.create(.configMap, namespace: "default", try JSONParser.parse(configMap("c\(next)").jsonString))
                live.append(next)
                next += 1
            } else if roll < 8 {
                let i = live[Int.random(in: 0..<live.count, using: &rng)]
                _ = try store.patch(.configMap, namespace: "default", name: "c\(i)", .merge, try JSONParser.parse(#"{"data":{"k":"\#(op)"}}"#))
            } else {
                let idx = Int.random(in: 0..<live.count, using: &rng)
                _ = try store.delete(.configMap, namespace: "default", name: "c\(live[idx])")
                live.remove(at: idx)
            }
        }
        try await probe.waitForServerState(.configMap, timeout: .seconds(120))
        let stats = await probe.statistics()
        print("churn: \(stats)")
        await probe.stop()
    }
}
