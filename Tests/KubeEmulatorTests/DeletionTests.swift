@testable import KubeEmulator
import KubeWire
import XCTest

final class DeletionTests: XCTestCase {
    var emu: KubeEmulator!

    override func setUpWithError() throws {
        emu = try KubeEmulator.start(.init(threads: 1))
    }

    override func tearDown() {
        emu.shutdown()
    }

    private func withFinalizer(_ obj: JSONValue, _ f: String = "spillway.kroy.io/replicas") -> JSONValue {
        var o = obj
        o["metadata"]?["finalizers"] = [.string(f)]
        return o
    }

    func testFinalizerKeepsTheObjectUntilReleasedThenItIsDeleted() throws {
        let w = try emu.openWatch("/api/v1/namespaces/default/secrets?watch=1&resourceVersion=\(emu.store.resourceVersion)")
        try emu.store.create(.secret, namespace: "default", withFinalizer(secret("s")))
        XCTAssertEqual(w.nextEvent()?["type"], "ADDED")

        let del = try emu.http("DELETE", "/api/v1/namespaces/default/secrets/s")
        XCTAssertEqual(del.status, 200)
        XCTAssertEqual(del.json["kind"], "Secret", "200 with the object, not a Status")
        XCTAssertNotNil(del.json["metadata"]?["deletionTimestamp"]?.stringValue)
        XCTAssertEqual(del.json["metadata"]?["deletionGracePeriodSeconds"], 0)
        let modified = w.nextEvent()
        XCTAssertEqual(modified?["type"], "MODIFIED")

        let adding = try emu.http("PATCH", "/api/v1/namespaces/default/secrets/s",
                                  ["metadata": ["finalizers": ["spillway.kroy.io/replicas", "other/x"]]], contentType: "application/merge-patch+json")
        XCTAssertEqual(adding.status, 422, "no new finalizers once deleting")

        let release = try emu.http("PATCH", "/api/v1/namespaces/default/secrets/s", ["metadata": ["finalizers": .null]],
                                   contentType: "application/merge-patch+json")
        XCTAssertEqual(release.status, 200)
        XCTAssertEqual(w.nextEvent()?["type"], "DELETED")
        XCTAssertEqual(try emu.http("GET", "/api/v1/namespaces/default/secrets/s").status, 404)
    }

    func testDeletePreconditionsAnswerTheRealConflictMessages() throws {
        let s = try emu.store.create(.secret, namespace: "default", secret("s"))
        let badUID = try emu.http("DELETE", "/api/v1/namespaces/default/secrets/s", ["preconditions": ["uid": "not-it"]])
        XCTAssertEqual(badUID.status, 409)
        XCTAssertEqual(badUID.json["message"]?.stringValue,
                       "Operation cannot be fulfilled on Secret \"s\": the UID in the precondition (not-it) does not match the UID in record (\(s.uid)). The object might have been deleted and then recreated")
        let badRV = try emu.http("DELETE", "/api/v1/namespaces/default/secrets/s", ["preconditions": ["resourceVersion": "1"]])
        XCTAssertEqual(badRV.status, 409)
        XCTAssertEqual(badRV.json["message"]?.stringValue,
                       "Operation cannot be fulfilled on Secret \"s\": the ResourceVersion in the precondition (1) does not match the ResourceVersion in record (\(s.resourceVersion)). The object might have been modified")
        let ok = try emu.http("DELETE", "/api/v1/namespaces/default/secrets/s",
                              ["preconditions": ["uid": .string(s.uid), "resourceVersion": .string(String(s.resourceVersion))]])
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(ok.json["status"], "Success")
    }

    func testNamespaceDeletionTerminatesEmptiesAndRemovesTheNamespace() throws {
        try emu.store.create(.namespace, namespace: "", namespace("doomed"))
        try emu.store.create(.secret, namespace: "doomed", withFinalizer(secret("held", "doomed")))
        try emu.store.create(.configMap, namespace: "doomed", configMap("free", "doomed"))

        let del = try emu.http("DELETE", "/api/v1/namespaces/doomed")
        XCTAssertEqual(del.status, 200)
        XCTAssertEqual(del.json["status"]?["phase"], "Terminating")

        let refused = try emu.http("POST", "/api/v1/namespaces/doomed/configmaps", configMap("new", "doomed"))
        XCTAssertEqual(refused.status, 403)
        XCTAssertEqual(refused.json, [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": "configmaps \"new\" is forbidden: unable to create new content in namespace doomed because it is being terminated",
            "reason": "Forbidden",
            "details": ["name": "new", "kind": "configmaps", "causes": [
                ["reason": "NamespaceTerminating", "message": "namespace doomed is being terminated", "field": "metadata.namespace"],
            ]],
            "code": 403,
        ])

        // The namespace controller runs asynchronously: wait for its sweep to show.
        let w = try emu.openWatch("/api/v1/namespaces?watch=1&fieldSelector=metadata.name%3Ddoomed")
        XCTAssertEqual(w.nextEvent()?["type"], "ADDED")
        waitUntil { (try? self.emu.store.get(.configMap, namespace: "doomed", name: "free")) == nil }
        let held = try emu.store.get(.secret, namespace: "doomed", name: "held")
        XCTAssertTrue(held.isTerminating, "objects with finalizers get a deletionTimestamp and stay")
        XCTAssertNotNil(try? emu.store.get(.namespace, namespace: "", name: "doomed"), "the namespace waits for them")

        try emu.store.patch(.secret, namespace: "doomed", name: "held", .merge, ["metadata": ["finalizers": .null]])
        var last: JSONValue?
        while let e = w.nextEvent() {
            last = e
            if e["type"] == "DELETED" { break }
        }
        XCTAssertEqual(last?["type"], "DELETED")
        XCTAssertEqual(try emu.http("GET", "/api/v1/namespaces/doomed").status, 404)
    }

    func testDeleteCollectionRemovesTheSelectedObjects() throws {
        try emu.store.create(.configMap, namespace: "default", configMap("a"))
        var b = configMap("b")
        b["metadata"]?["labels"] = ["keep": "yes"]
        try emu.store.create(.configMap, namespace: "default", b)
        let r = try emu.http("DELETE", "/api/v1/namespaces/default/configmaps?labelSelector=!keep")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(emu.store.count(.configMap), 1)
    }

    private func waitUntil(_ cond: @escaping () -> Bool) {
        let deadline = Date().addingTimeInterval(30)
        while !cond() && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        XCTAssertTrue(cond())
    }
}
