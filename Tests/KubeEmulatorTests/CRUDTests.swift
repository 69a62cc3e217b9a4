@testable import KubeEmulator
import KubeWire
import XCTest

final class CRUDTests: XCTestCase {
    var emu: KubeEmulator!

    override func setUpWithError() throws {
        // Several event loops, as in production: connections and the listener on different threads.
        emu = try KubeEmulator.start(.init(threads: 3))
    }

    override func tearDown() {
        emu.shutdown()
    }

    func testCreateGetUpdateDeleteRoundTripWithStrictlyIncreasingResourceVersions() throws {
        let created = try emu.http("POST", "/api/v1/namespaces/default/secrets", secret("s1"))
        XCTAssertEqual(created.status, 201)
        let uid = created.json["metadata"]?["uid"]?.stringValue ?? ""
        XCTAssertEqual(UUID(uuidString: uid)?.uuidString.lowercased(), uid, "a lowercase UUID")
        XCTAssertEqual(Array(uid.utf8)[14], UInt8(ascii: "4"), "version 4 (random)")
        let timestamp = try XCTUnwrap(created.json["metadata"]?["creationTimestamp"]?.stringValue)
        XCTAssertEqual(APITime.parse(timestamp).map { APITime.timestamp($0) }, timestamp, "RFC 3339 in seconds, UTC")
        XCTAssertEqual(created.json["type"], "Opaque")
        let rv1 = Int(created.json["metadata"]?["resourceVersion"]?.stringValue ?? "") ?? 0

        let got = try emu.http("GET", "/api/v1/namespaces/default/secrets/s1")
        XCTAssertEqual(got.status, 200)
        XCTAssertEqual(got.json["metadata"]?["uid"]?.stringValue, uid)

        var changed = got.json
        changed["data"] = ["k": "d2Vy"]
        let updated = try emu.http("PUT", "/api/v1/namespaces/default/secrets/s1", changed)
        XCTAssertEqual(updated.status, 200)
        let rv2 = Int(updated.json["metadata"]?["resourceVersion"]?.stringValue ?? "") ?? 0
        XCTAssertGreaterThan(rv2, rv1)
        XCTAssertEqual(updated.json["metadata"]?["uid"]?.stringValue, uid, "uid survives updates")

        let cm = try emu.http("POST", "/api/v1/namespaces/default/configmaps", configMap("c1"))
        let rv3 = Int(cm.json["metadata"]?["resourceVersion"]?.stringValue ?? "") ?? 0
        XCTAssertGreaterThan(rv3, rv2, "one global resourceVersion across kinds")

        let deleted = try emu.http("DELETE", "/api/v1/namespaces/default/secrets/s1")
        XCTAssertEqual(deleted.status, 200)
        XCTAssertEqual(deleted.json["kind"], "Status")
        XCTAssertEqual(deleted.json["status"], "Success")
        XCTAssertEqual(deleted.json["details"]?["uid"]?.stringValue, uid)
        XCTAssertEqual(try emu.http("GET", "/api/v1/namespaces/default/secrets/s1").status, 404)
    }

    func testStaleResourceVersionOnUpdateAnswersTheExactConflictStatus() throws {
        let created = try emu.http("POST", "/api/v1/namespaces/default/secrets", secret("s1")).json
        var first = created
        first["data"] = ["k": "YQ=="]
        XCTAssertEqual(try emu.http("PUT", "/api/v1/namespaces/default/secrets/s1", first).status, 200)
        var stale = created
        stale["data"] = ["k": "Yg=="]
        let r = try emu.http("PUT", "/api/v1/namespaces/default/secrets/s1", stale)
        XCTAssertEqual(r.status, 409)
        XCTAssertEqual(r.json, [
            "kind": "Status", "apiVersion": "v1", "metadata": [:], "status": "Failure",
            "message": "Operation cannot be fulfilled on secrets \"s1\": the object has been modified; please apply your changes to the latest version and try again",
            "reason": "Conflict", "details": ["name": "s1", "kind": "secrets"], "code": 409,
        ])
    }

    func testAlreadyExistsNotFoundAndMissingNamespace() throws {
        XCTAssertEqual(try emu.http("POST", "/api/v1/namespaces/default/secrets", secret("s1")).status, 201)
        let dup = try emu.http("POST", "/api/v1/namespaces/default/secrets", secret("s1"))
        XCTAssertEqual(dup.status, 409)
        XCTAssertEqual(dup.json["reason"], "AlreadyExists")
        XCTAssertEqual(dup.json["message"], "secrets \"s1\" already exists")

        let missing = try emu.http("GET", "/api/v1/namespaces/default/configmaps/nope")
        XCTAssertEqual(missing.status, 404)
        XCTAssertEqual(missing.json["message"], "configmaps \"nope\" not found")
        XCTAssertEqual(missing.json["details"], ["name": "nope", "kind": "configmaps"])

        let noNS = try emu.http("POST", "/api/v1/namespaces/ghost/secrets", secret("s1", "ghost"))
        XCTAssertEqual(noNS.status, 404)
        XCTAssertEqual(noNS.json["message"], "namespaces \"ghost\" not found")
    }

    func testStringDataIsMergedIntoDataOnWrite() throws {
        var s = secret("s1", data: ["a": "eA=="])
        s["stringData"] = ["b": "hello"]
        let r = try emu.http("POST", "/api/v1/namespaces/default/secrets", s).json
        XCTAssertEqual(r["data"], ["a": "eA==", "b": "aGVsbG8="])
        XCTAssertNil(r["stringData"])
    }

    func testClusterWideListSpansNamespacesAndListKindIsRight() throws {
        try emu.store.create(.namespace, namespace: "", namespace("team-a"))
        try emu.store.create(.secret, namespace: "default", secret("x"))
        try emu.store.create(.secret, namespace: "team-a", secret("y", "team-a"))
        let all = try emu.http("GET", "/api/v1/secrets").json
        XCTAssertEqual(all["kind"], "SecretList")
        XCTAssertEqual(all["apiVersion"], "v1")
        XCTAssertEqual(all["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue }, ["x", "y"])
        XCTAssertEqual(all["metadata"]?["resourceVersion"]?.stringValue, String(emu.store.resourceVersion))
        let one = try emu.http("GET", "/api/v1/namespaces/team-a/secrets").json
        XCTAssertEqual(one["items"]?.arrayValue?.count, 1)
    }

    func testLeasesAndEventsAreServedInTheirGroups() throws {
        let lease: JSONValue = ["apiVersion": "coordination.k8s.io/v1", "kind": "Lease", "metadata": ["name": "spillway"],
                           "spec": ["holderIdentity": "a", "leaseDurationSeconds": 15]]
        let r = try emu.http("POST", "/apis/coordination.k8s.io/v1/namespaces/default/leases", lease)
        XCTAssertEqual(r.status, 201)
        XCTAssertEqual(r.json["spec"]?["holderIdentity"], "a")
        let ev: JSONValue = ["apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": ["name": "e1"],
                        "eventTime": "2025-01-01T00:00:00.000000Z", "reportingController": "spillway", "reportingInstance": "x",
                        "action": "Replicate", "reason": "Skipped", "type": "Warning", "note": "n", "regarding": ["kind": "Secret", "name": "s"]]
        XCTAssertEqual(try emu.http("POST", "/apis/events.k8s.io/v1/namespaces/default/events", ev).status, 201)
        let core: JSONValue = ["apiVersion": "v1", "kind": "Event", "metadata": ["name": "e2"], "involvedObject": ["kind": "Secret", "name": "s"],
                          "reason": "Skipped", "message": "m", "type": "Normal"]
        XCTAssertEqual(try emu.http("POST", "/api/v1/namespaces/default/events", core).status, 201)
    }

    func testBothEventAPIsShareTheirObjects() throws {
        let w = try emu.openWatch("/api/v1/namespaces/default/events?watch=1&resourceVersion=\(emu.store.resourceVersion)")
        let ev: JSONValue = ["apiVersion": "events.k8s.io/v1", "kind": "Event", "metadata": ["name": "e1"],
                        "eventTime": "2025-01-01T00:00:00.000000Z", "reportingController": "spillway", "reportingInstance": "x",
                        "action": "Replicate", "reason": "Skipped", "type": "Warning", "note": "target exists",
                        "regarding": ["kind": "Secret", "name": "s", "namespace": "default"]]
        XCTAssertEqual(try emu.http("POST", "/apis/events.k8s.io/v1/namespaces/default/events", ev).status, 201)
        let core = try emu.http("GET", "/api/v1/namespaces/default/events/e1").json
        XCTAssertEqual(core["apiVersion"], "v1")
        XCTAssertEqual(core["message"], "target exists")
        XCTAssertEqual(core["involvedObject"]?["name"], "s")
        XCTAssertEqual(core["reportingComponent"], "spillway")
        XCTAssertEqual(w.nextEvent()?["object"]?["message"], "target exists", "core watchers see events.k8s.io writes")

        let c: JSONValue = ["apiVersion": "v1", "kind": "Event", "metadata": ["name": "e2"], "involvedObject": ["kind": "ConfigMap", "name": "c"],
                       "reason": "Done", "message": "m", "type": "Normal", "count": 3]
        XCTAssertEqual(try emu.http("POST", "/api/v1/namespaces/default/events", c).status, 201)
        let v1 = try emu.http("GET", "/apis/events.k8s.io/v1/namespaces/default/events/e2").json
        XCTAssertEqual(v1["apiVersion"], "events.k8s.io/v1")
        XCTAssertEqual(v1["note"], "m")
        XCTAssertEqual(v1["regarding"]?["kind"], "ConfigMap")
        XCTAssertEqual(v1["deprecatedCount"], 3)
        XCTAssertEqual(try emu.http("GET", "/apis/events.k8s.io/v1/events").json["items"]?.arrayValue?.count, 2)
    }

    func testYAMLBodiesAreAccepted() throws {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: from-yaml\ndata:\n  when: 2025-01-01T00:00:00Z\n  n: \"1\"\n"
        let r = try emu.http("POST", "/api/v1/namespaces/default/configmaps", contentType: "application/yaml", rawBody: Array(yaml.utf8))
        XCTAssertEqual(r.status, 201, r.text)
        XCTAssertEqual(r.json["data"], ["when": "2025-01-01T00:00:00Z", "n": "1"])
        let bad = try emu.http("POST", "/api/v1/namespaces/default/configmaps", contentType: "application/yaml", rawBody: Array("a: [".utf8))
        XCTAssertEqual(bad.status, 400)
    }

    func testNoOpUpdateKeepsTheResourceVersion() throws {
        let created = try emu.http("POST", "/api/v1/namespaces/default/configmaps", configMap("c")).json
        let again = try emu.http("PUT", "/api/v1/namespaces/default/configmaps/c", created).json
        XCTAssertEqual(again["metadata"]?["resourceVersion"], created["metadata"]?["resourceVersion"])
    }
}
