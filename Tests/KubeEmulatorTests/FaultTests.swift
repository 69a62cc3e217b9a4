import Foundation
import XCTest

@testable import KubeEmulator

final class FaultTests: XCTestCase {
    var emu: KubeEmulator!

    override func setUpWithError() throws {
        emu = try KubeEmulator.start(.init(threads: 1))
    }

    override func tearDown() {
        emu.shutdown()
    }

    func testInjected429IsPlainTextWithRetryAfter() throws {
        emu.faults.failNext(1, status: 429, retryAfterSeconds: 3)
        let r = try emu.http("GET", "/api/v1/secrets")
        XCTAssertEqual(r.status, 429)
        XCTAssertEqual(r.headers["retry-after"], "3")
        XCTAssertTrue(r.headers["content-type"]?.hasPrefix("text/plain") ?? false)
        XCTAssertEqual(r.text, "Too many requests, please try again later.\n")
        XCTAssertEqual(try emu.http("GET", "/api/v1/secrets").status, 200, "only the next request failed")
    }

    func testInjected500IsAnInternalErrorStatus() throws {
        emu.faults.failNext(1, status: 500)
        let r = try emu.http("GET", "/api/v1/secrets")
        XCTAssertEqual(r.status, 500)
        XCTAssertEqual(r.json["reason"], "InternalError")
    }

    func testFailureRateOfOneFailsEveryResourceRequestButNotDiscovery() throws {
        emu.faults.failRequests(fraction: 1, status: 429)
        XCTAssertEqual(try emu.http("GET", "/api/v1/secrets").status, 429)
        XCTAssertEqual(try emu.http("GET", "/api/v1").status, 200)
        emu.faults.clear()
        XCTAssertEqual(try emu.http("GET", "/api/v1/secrets").status, 200)
    }

    func testLatencyDelaysResourceRequests() throws {
        emu.faults.latency = .milliseconds(300)
        let t = Date()
        XCTAssertEqual(try emu.http("GET", "/api/v1/secrets").status, 200)
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(t), 0.3)
    }

    func testAdminEndpointSetsFaultsAndReportsRequests() throws {
        let set = try emu.http("POST", "/_emulator/faults", ["failNext": 2, "failureStatus": 500])
        XCTAssertEqual(set.status, 200)
        XCTAssertEqual(try emu.http("GET", "/api/v1/configmaps").status, 500)
        XCTAssertEqual(try emu.http("GET", "/api/v1/configmaps").status, 500)
        XCTAssertEqual(try emu.http("GET", "/api/v1/configmaps").status, 200)
        let bad = try emu.http("POST", "/_emulator/faults", ["failNxt": 2])
        XCTAssertEqual(bad.status, 400, "unknown fields are refused, not ignored")

        let stats = try emu.http("GET", "/_emulator/requests").json
        let counts = stats["counts"]?.arrayValue ?? []
        XCTAssertTrue(counts.contains(["verb": "list", "resource": "configmaps", "code": 500, "count": 2]))
        XCTAssertTrue(counts.contains(["verb": "list", "resource": "configmaps", "code": 200, "count": 1]))
    }

    func testAccountingCountsByVerbResourceAndCodeAndLogsWritesWithTheirIdentity() throws {
        try emu.http("POST", "/api/v1/namespaces/default/configmaps", configMap("a"))
        try emu.http("POST", "/api/v1/namespaces/default/configmaps", configMap("a"))
        try emu.http("GET", "/api/v1/namespaces/default/configmaps/a")
        let snap = emu.requests
        XCTAssertEqual(snap.count(verb: "create", resource: "configmaps", code: 201), 1)
        XCTAssertEqual(snap.count(verb: "create", resource: "configmaps", code: 409), 1)
        XCTAssertEqual(snap.count(verb: "get", resource: "configmaps"), 1)
        XCTAssertEqual(snap.writes.count, 2)
        XCTAssertEqual(snap.successfulWrites.count, 1)
        XCTAssertEqual(snap.writes.first?.user, Identity.admin.user)
        XCTAssertEqual(snap.writes.first?.name, "a")
        emu.accounting.reset()
        XCTAssertEqual(emu.requests.writes.count, 0)
    }

    func testWriteExpectationIsMetByTheMatchingAnsweredWritesOnly() throws {
        let two = emu.accounting.expect(2) { $0.resource == "configmaps" && $0.code == 201 }
        try emu.store.create(.configMap, namespace: "default", configMap("direct"))
        try emu.http("POST", "/api/v1/namespaces/default/configmaps", configMap("a"))
        try emu.http("POST", "/api/v1/namespaces/default/configmaps", configMap("a"))
        try emu.http("POST", "/api/v1/namespaces/default/secrets", secret("s"))
        XCTAssertNil(two.wait(timeout: 0.2), "a store write, a 409 and a Secret do not count")
        XCTAssertEqual(two.outstanding, 1)
        let before = DispatchTime.now().uptimeNanoseconds
        try emu.http("POST", "/api/v1/namespaces/default/configmaps", configMap("b"))
        let answered = try XCTUnwrap(two.wait(timeout: 5))
        XCTAssertGreaterThanOrEqual(answered, before, "met when the second matching write was answered")
        XCTAssertEqual(two.outstanding, 0)
    }

    func testRestartKeepsStateAndPortAndEndsWatches() throws {
        try emu.store.create(.configMap, namespace: "default", configMap("kept"))
        let port = emu.port
        let w = try emu.openWatch("/api/v1/configmaps?watch=1&resourceVersion=\(emu.store.resourceVersion)")
        try emu.restart()
        XCTAssertNil(w.nextEvent(), "the watch ended with the old server")
        XCTAssertEqual(emu.port, port)
        XCTAssertEqual(try emu.http("GET", "/api/v1/namespaces/default/configmaps/kept").status, 200)
    }

    func testRestartLosingTheWatchCacheAnswersResumesFromBeforeWith410() throws {
        try emu.store.create(.configMap, namespace: "default", configMap("before"))
        let before = emu.store.resourceVersion
        try emu.restart(losingWatchCache: true)
        let w = try emu.openWatch("/api/v1/configmaps?watch=1&resourceVersion=\(before - 1)")
        let event = try XCTUnwrap(w.nextEvent(), "an ERROR event, not silence")
        XCTAssertEqual(event["type"], "ERROR")
        XCTAssertEqual(event["object"]?["code"], 410)
        XCTAssertEqual(try emu.http("GET", "/api/v1/namespaces/default/configmaps/before").status, 200, "the state is kept")
    }

    func testResetConnectionsAbortsRequestsInFlight() throws {
        emu.faults.latency = .seconds(5)
        let connection = try RawConnection(port: emu.port)
        connection.send("GET", "/api/v1/configmaps")
        Thread.sleep(forTimeInterval: 0.3) // the request is held by the latency
        emu.faults.resetConnections()
        var byte: UInt8 = 0
        let started = Date()
        let received = recv(connection.fd, &byte, 1, 0)
        XCTAssertEqual(received, -1, "the connection was reset, not closed in order")
        XCTAssertEqual(errno, ECONNRESET)
        XCTAssertLessThan(Date().timeIntervalSince(started), 3)
    }

    func testSlowResponsesArriveWholeInTimedPieces() throws {
        for index in 0..<20 {
            try emu.store.create(.configMap, namespace: "default", configMap("padding-\(index)"))
        }
        let whole = try emu.http("GET", "/api/v1/namespaces/default/configmaps").body
        emu.faults.slowResponses = .init(chunkBytes: whole.count / 4 + 1, interval: .milliseconds(150))
        let started = Date()
        let slow = try emu.http("GET", "/api/v1/namespaces/default/configmaps")
        XCTAssertGreaterThanOrEqual(Date().timeIntervalSince(started), 0.45, "four pieces, three pauses")
        XCTAssertEqual(slow.status, 200)
        XCTAssertEqual(slow.json["items"]?.arrayValue?.count, 20)
        emu.faults.clear()
        XCTAssertNil(emu.faults.slowResponses)
    }

    func testStateFileRoundTrip() throws {
        let path = NSTemporaryDirectory() + "emu-state-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        emu.shutdown()
        emu = try KubeEmulator.start(.init(stateFile: path, threads: 1))
        let created = try emu.store.create(.secret, namespace: "default", secret("persisted"))
        emu.shutdown()
        emu = try KubeEmulator.start(.init(stateFile: path, threads: 1))
        let back = try emu.store.get(.secret, namespace: "default", name: "persisted")
        XCTAssertEqual(back.uid, created.uid)
        XCTAssertGreaterThanOrEqual(emu.store.resourceVersion, created.resourceVersion)
        let next = try emu.store.create(.configMap, namespace: "default", configMap("after"))
        XCTAssertGreaterThan(next.resourceVersion, created.resourceVersion, "RVs keep increasing across restarts")
    }

    func testCorruptStateFileIsAClearErrorAndIsLeftAlone() throws {
        let path = NSTemporaryDirectory() + "emu-bad-\(UUID().uuidString).json"
        defer { try? FileManager.default.removeItem(atPath: path) }
        try "{not json".write(toFile: path, atomically: true, encoding: .utf8)
        XCTAssertThrowsError(try KubeEmulator.start(.init(stateFile: path, threads: 1))) { error in
            XCTAssertTrue("\(error)".contains(path), "the error names the file")
        }
        XCTAssertEqual(try String(contentsOfFile: path, encoding: .utf8), "{not json", "nothing lost")
    }
}
