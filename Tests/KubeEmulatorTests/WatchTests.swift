@testable import KubeEmulator
import KubeWire
import XCTest

final class WatchTests: XCTestCase {
    var emu: KubeEmulator!

    override func setUpWithError() throws {
        emu = try KubeEmulator.start(.init(bookmarkInterval: .milliseconds(300), historyLimit: 50, threads: 1))
    }

    override func tearDown() {
        emu.shutdown()
    }

    private func rv(_ o: StoredObject) -> String { String(o.resourceVersion) }

    func testWatchWithoutResourceVersionSendsCurrentStateThenLiveEvents() throws {
        try emu.store.create(.secret, namespace: "default", secret("a"))
        let w = try emu.openWatch("/api/v1/namespaces/default/secrets?watch=true")
        let first = w.nextEvent()
        XCTAssertEqual(first?["type"], "ADDED")
        XCTAssertEqual(first?["object"]?["metadata"]?["name"], "a")
        try emu.store.patch(.secret, namespace: "default", name: "a", .merge, ["metadata": ["labels": ["x": "1"]]])
        XCTAssertEqual(w.nextEvent()?["type"], "MODIFIED")
        let del = try emu.store.delete(.secret, namespace: "default", name: "a")
        let ev = w.nextEvent()
        XCTAssertEqual(ev?["type"], "DELETED")
        if case .deleted(let gone) = del {
            XCTAssertEqual(ev?["object"]?["metadata"]?["resourceVersion"]?.stringValue, rv(gone), "DELETED carries the deletion's RV")
        }
        XCTAssertEqual(ev?["object"]?["metadata"]?["labels"], ["x": "1"], "DELETED carries the last state")
    }

    func testResumeFromResourceVersionDeliversExactlyTheMissedEvents() throws {
        let a = try emu.store.create(.secret, namespace: "default", secret("a"))
        try emu.store.create(.secret, namespace: "default", secret("b"))
        try emu.store.create(.configMap, namespace: "default", configMap("unrelated"))
        try emu.store.delete(.secret, namespace: "default", name: "a")
        let w = try emu.openWatch("/api/v1/secrets?watch=1&resourceVersion=\(rv(a))")
        let e1 = w.nextEvent(), e2 = w.nextEvent()
        XCTAssertEqual(e1?["type"], "ADDED")
        XCTAssertEqual(e1?["object"]?["metadata"]?["name"], "b")
        XCTAssertEqual(e2?["type"], "DELETED")
        XCTAssertEqual(e2?["object"]?["metadata"]?["name"], "a")
    }

    func testTooOldResourceVersionGetsTheExpiredErrorEventExactlyAsTheServerSendsIt() throws {
        let a = try emu.store.create(.secret, namespace: "default", secret("a"))
        emu.faults.compact()
        let w = try emu.openWatch("/api/v1/secrets?watch=1&resourceVersion=\(Int(rv(a))! - 1)")
        let e = w.nextEvent()
        let oldest = emu.store.oldestResumableResourceVersion
        XCTAssertEqual(e, ["type": "ERROR", "object": [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": .string("too old resource version: \(Int(rv(a))! - 1) (\(oldest))"), "reason": "Expired", "code": 410,
        ]])
        XCTAssertNil(w.nextEvent(), "the stream ends after the ERROR event")
        XCTAssertTrue(w.streamEnded)
    }

    func testHistoryWindowIsBounded() throws {
        let first = try emu.store.create(.configMap, namespace: "default", configMap("c0"))
        for i in 1...60 { try emu.store.create(.configMap, namespace: "default", configMap("c\(i)")) }
        let w = try emu.openWatch("/api/v1/configmaps?watch=1&resourceVersion=\(rv(first))")
        XCTAssertEqual(w.nextEvent()?["object"]?["reason"], "Expired")
    }

    func testBookmarksArriveWithTheCurrentResourceVersion() throws {
        let a = try emu.store.create(.secret, namespace: "default", secret("a"))
        let w = try emu.openWatch("/api/v1/secrets?watch=1&allowWatchBookmarks=true&resourceVersion=\(rv(a))")
        let b = w.nextEvent()
        XCTAssertEqual(b?["type"], "BOOKMARK")
        XCTAssertEqual(b?["object"]?["kind"], "Secret")
        XCTAssertEqual(b?["object"]?["metadata"]?["resourceVersion"]?.stringValue, String(emu.store.resourceVersion))
    }

    func testTimeoutSecondsEndsTheBodyNormallyAndTheConnectionIsReused() throws {
        let w = try emu.openWatch("/api/v1/secrets?watch=1&timeoutSeconds=1&resourceVersion=\(emu.store.resourceVersion)")
        XCTAssertNil(w.nextEvent())
        XCTAssertTrue(w.streamEnded, "terminating chunk received, not a reset")
        w.send("GET", "/api/v1/namespaces/default")
        XCTAssertEqual(try w.readResponse().status, 200, "keep-alive connection still serves requests")
    }

    func testStreamingListSendsInitialEventsThenTheEndBookmark() throws {
        try emu.store.create(.secret, namespace: "default", secret("a"))
        try emu.store.create(.secret, namespace: "default", secret("b"))
        let rvNow = emu.store.resourceVersion
        let w = try emu.openWatch("/api/v1/secrets?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan")
        XCTAssertEqual(w.nextEvent()?["object"]?["metadata"]?["name"], "a")
        XCTAssertEqual(w.nextEvent()?["object"]?["metadata"]?["name"], "b")
        let end = w.nextEvent()
        XCTAssertEqual(end?["type"], "BOOKMARK")
        XCTAssertEqual(end?["object"]?["metadata"]?["annotations"]?["k8s.io/initial-events-end"], "true")
        let blueprint = end?["object"]?["metadata"]?["annotations"]?["kubernetes.io/initial-events-list-blueprint"]?.stringValue
        XCTAssertEqual(blueprint.flatMap { Data(base64Encoded: $0) }.map { String(decoding: $0, as: UTF8.self) },
                       "{\"kind\":\"SecretList\",\"apiVersion\":\"v1\",\"metadata\":{},\"items\":null}\n")
        XCTAssertEqual(end?["object"]?["metadata"]?["resourceVersion"]?.stringValue, String(rvNow))
        try emu.store.create(.secret, namespace: "default", secret("c"))
        var next = w.nextEvent()
        while next?["type"] == "BOOKMARK" { next = w.nextEvent() }
        XCTAssertEqual(next?["type"], "ADDED")
        XCTAssertEqual(next?["object"]?["metadata"]?["name"], "c")
    }

    func testStreamingListWithTheGateOffAnswers422() throws {
        emu.shutdown()
        emu = try KubeEmulator.start(.init(watchList: false, threads: 1))
        let r = try emu.http("GET", "/api/v1/secrets?watch=1&sendInitialEvents=true&allowWatchBookmarks=true&resourceVersionMatch=NotOlderThan")
        XCTAssertEqual(r.status, 422)
        XCTAssertEqual(r.json["message"], "ListOptions.meta.k8s.io \"\" is invalid: sendInitialEvents: Forbidden: sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled")
    }

    func testSelectorTransitionsArriveAsAddedAndDeleted() throws {
        try emu.store.create(.secret, namespace: "default", secret("a"))
        let w = try emu.openWatch("/api/v1/secrets?watch=1&labelSelector=app%3Dweb&resourceVersion=\(emu.store.resourceVersion)")
        try emu.store.patch(.secret, namespace: "default", name: "a", .merge, ["metadata": ["labels": ["app": "web"]]])
        let added = w.nextEvent()
        XCTAssertEqual(added?["type"], "ADDED")
        try emu.store.patch(.secret, namespace: "default", name: "a", .merge, ["metadata": ["labels": ["app": "db"]]])
        let left = w.nextEvent()
        XCTAssertEqual(left?["type"], "DELETED")
        XCTAssertEqual(left?["object"]?["metadata"]?["labels"], ["app": "web"], "the previous object, with the event's RV")
        XCTAssertEqual(left?["object"]?["metadata"]?["resourceVersion"]?.stringValue, String(emu.store.resourceVersion))
    }

    func testMetadataOnlyWatchCarriesPartialObjectMetadataAndErrorsPassUnchanged() throws {
        try emu.store.create(.secret, namespace: "default", secret("a"))
        let accept = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
        let w = try emu.openWatch("/api/v1/secrets?watch=1&allowWatchBookmarks=true", headers: ["Accept": accept])
        let e = w.nextEvent()
        XCTAssertEqual(e?["object"]?["kind"], "PartialObjectMetadata")
        XCTAssertEqual(e?["object"]?["apiVersion"], "meta.k8s.io/v1")
        XCTAssertNil(e?["object"]?["data"], "no secret data in metadata-only events")
        let b = w.nextEvent()
        XCTAssertEqual(b?["type"], "BOOKMARK")
        XCTAssertEqual(b?["object"]?["kind"], "PartialObjectMetadata")
    }

    func testDropWatchesClosesOpenStreams() throws {
        let w = try emu.openWatch("/api/v1/secrets?watch=1&resourceVersion=\(emu.store.resourceVersion)")
        emu.faults.dropWatches()
        XCTAssertNil(w.nextEvent())
        XCTAssertFalse(w.streamEnded, "dropped, not ended")
    }

    func testSilencedWatchSendsNothingNotEvenBookmarks() throws {
        let w = try emu.openWatch("/api/v1/secrets?watch=1&allowWatchBookmarks=true&resourceVersion=\(emu.store.resourceVersion)")
        XCTAssertEqual(w.nextEvent()?["type"], "BOOKMARK")
        // The silence is queued on the watch's event loop before the event is: no wait needed.
        emu.faults.silenceWatches()
        try emu.store.create(.secret, namespace: "default", secret("a"))
        w.setTimeout(seconds: 2)
        var sawAdded = false
        while let e = w.nextEvent() { if e["type"] == "ADDED" { sawAdded = true } }
        XCTAssertFalse(sawAdded)
        XCTAssertFalse(w.streamEnded, "connection kept open")
    }
}
