@testable import KubeEmulator
import KubeWire
import XCTest

final class PatchTests: XCTestCase {
    var emu: KubeEmulator!

    override func setUpWithError() throws {
        emu = try KubeEmulator.start(.init(threads: 1))
        var s = secret("s", data: ["a": "YQ==", "b": "Yg=="])
        s["metadata"]?["labels"] = ["keep": "1", "drop": "1"]
        s["metadata"]?["finalizers"] = ["x/one"]
        try emu.store.create(.secret, namespace: "default", s)
    }

    override func tearDown() {
        emu.shutdown()
    }

    private func patch(_ body: JSONValue, _ type: String) throws -> HTTPResponse {
        try emu.http("PATCH", "/api/v1/namespaces/default/secrets/s", body, contentType: type)
    }

    func testMergePatchSetsAndRemovesMapKeys() throws {
        let r = try patch(["metadata": ["labels": ["drop": .null, "new": "2"]], "data": ["b": .null, "c": "Yw=="]], "application/merge-patch+json")
        XCTAssertEqual(r.status, 200)
        XCTAssertEqual(r.json["metadata"]?["labels"], ["keep": "1", "new": "2"])
        XCTAssertEqual(r.json["data"], ["a": "YQ==", "c": "Yw=="])
    }

    func testMergePatchWithAStaleResourceVersionConflicts() throws {
        let r = try patch(["metadata": ["resourceVersion": "1", "labels": ["x": "y"]]], "application/merge-patch+json")
        XCTAssertEqual(r.status, 409)
        XCTAssertEqual(r.json["reason"], "Conflict")
    }

    func testJSONPatchAppliesOpsAndFailsOnATestMismatch() throws {
        let ok = try patch([["op": "test", "path": "/data/a", "value": "YQ=="], ["op": "replace", "path": "/data/a", "value": "eg=="],
                            ["op": "add", "path": "/metadata/labels/added", "value": "v"], ["op": "remove", "path": "/metadata/labels/drop"]],
                           "application/json-patch+json")
        XCTAssertEqual(ok.status, 200)
        XCTAssertEqual(ok.json["data"]?["a"], "eg==")
        XCTAssertEqual(ok.json["metadata"]?["labels"], ["keep": "1", "added": "v"])
        let failed = try patch([["op": "test", "path": "/data/a", "value": "nope"]], "application/json-patch+json")
        XCTAssertEqual(failed.status, 422)
    }

    func testStrategicMergeMergesFinalizersAsASetAndHonoursDirectives() throws {
        let add = try patch(["metadata": ["finalizers": ["x/two"]]], "application/strategic-merge-patch+json")
        XCTAssertEqual(add.json["metadata"]?["finalizers"], ["x/one", "x/two"])
        let remove = try patch(["metadata": ["$deleteFromPrimitiveList/finalizers": ["x/one"], "$setElementOrder/finalizers": ["x/two"]]],
                               "application/strategic-merge-patch+json")
        XCTAssertEqual(remove.json["metadata"]?["finalizers"], ["x/two"])
        let data = try patch(["data": ["a": .null, "z": "eg=="]], "application/strategic-merge-patch+json")
        XCTAssertEqual(data.json["data"], ["b": "Yg==", "z": "eg=="])
    }

    func testApplyPatchCreatesOrMergesAndNeedsAFieldManager() throws {
        let yaml = "apiVersion: v1\nkind: ConfigMap\nmetadata:\n  name: applied\ndata:\n  a: \"1\"\n"
        let missing = try emu.http("PATCH", "/api/v1/namespaces/default/configmaps/applied", contentType: "application/apply-patch+yaml",
                                   rawBody: Array(yaml.utf8))
        XCTAssertEqual(missing.status, 422)
        XCTAssertEqual(missing.json["message"], "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch")
        let created = try emu.http("PATCH", "/api/v1/namespaces/default/configmaps/applied?fieldManager=test", contentType: "application/apply-patch+yaml",
                                   rawBody: Array(yaml.utf8))
        XCTAssertEqual(created.status, 201)
        let merged = try emu.http("PATCH", "/api/v1/namespaces/default/configmaps/applied?fieldManager=test", ["data": ["b": "2"]],
                                  contentType: "application/apply-patch+yaml")
        XCTAssertEqual(merged.status, 200)
        XCTAssertEqual(merged.json["data"], ["a": "1", "b": "2"])
    }

    func testUnknownPatchTypeIs415() throws {
        XCTAssertEqual(try patch(["data": [:]], "application/xml").status, 415)
    }
}
