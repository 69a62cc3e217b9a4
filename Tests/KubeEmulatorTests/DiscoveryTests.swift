import XCTest

@testable import KubeEmulator

final class DiscoveryTests: XCTestCase {
    var emu: KubeEmulator!

    override func setUpWithError() throws {
        emu = try KubeEmulator.start(.init(threads: 1))
    }

    override func tearDown() {
        emu.shutdown()
    }

    func testCoreAndGroupDiscoveryListEveryResource() throws {
        XCTAssertEqual(try emu.http("GET", "/api").json["versions"], ["v1"])
        let core = try emu.http("GET", "/api/v1").json
        XCTAssertEqual(core["kind"], "APIResourceList")
        let names = Set(core["resources"]?.arrayValue?.compactMap { $0["name"]?.stringValue } ?? [])
        XCTAssertTrue(names.isSuperset(of: ["namespaces", "secrets", "configmaps", "events"]))
        let groups = try emu.http("GET", "/apis").json["groups"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
        XCTAssertEqual(groups, ["apiextensions.k8s.io", "coordination.k8s.io", "events.k8s.io"])
        let leases = try emu.http("GET", "/apis/coordination.k8s.io/v1").json
        XCTAssertEqual(leases["resources"]?.arrayValue?.first?["kind"], "Lease")
        XCTAssertEqual(try emu.http("GET", "/version").json["major"], "1")
    }

    func testOpenAPIV2IsAProper404AndV3DeclaresServerSideFieldValidation() throws {
        let r = try emu.http("GET", "/openapi/v2")
        XCTAssertEqual(r.status, 404)
        XCTAssertEqual(r.json["kind"], "Status")
        let root = try emu.http("GET", "/openapi/v3").json
        let url = root["paths"]?["api/v1"]?["serverRelativeURL"]?.stringValue ?? ""
        XCTAssertTrue(url.hasPrefix("/openapi/v3/api/v1"))
        let core = try emu.http("GET", url).json
        let patch = core["paths"]?["/api/v1/namespaces/{namespace}/secrets/{name}"]?["patch"]
        XCTAssertEqual(patch?["x-kubernetes-group-version-kind"], ["group": "", "version": "v1", "kind": "Secret"])
        XCTAssertEqual(patch?["parameters"]?.arrayValue?.first?["name"], "fieldValidation")
        XCTAssertEqual(try emu.http("GET", "/openapi/v3/apis/nope/v1").status, 404)
    }

    func testACustomResourceKindCanBeRegistered() throws {
        var profile = ResourceType(group: "spillway.kroy.io", version: "v1alpha1", kind: "SpillwayProfile", plural: "spillwayprofiles",
                                   singular: "spillwayprofile", namespaced: false)
        profile.tracksGeneration = true
        profile.columns = [.path("Targets", "spec.replicateTo")]
        emu.register(profile)
        let created = try emu.http("POST", "/apis/spillway.kroy.io/v1alpha1/spillwayprofiles",
                                   ["apiVersion": "spillway.kroy.io/v1alpha1", "kind": "SpillwayProfile", "metadata": ["name": "p"], "spec": ["replicateTo": "all"]])
        XCTAssertEqual(created.status, 201)
        XCTAssertEqual(created.json["metadata"]?["generation"], 1)
        let updated = try emu.http("PATCH", "/apis/spillway.kroy.io/v1alpha1/spillwayprofiles/p", ["spec": ["replicateTo": "team-*"]],
                                   contentType: "application/merge-patch+json")
        XCTAssertEqual(updated.json["metadata"]?["generation"], 2, "a spec change bumps the generation")
        XCTAssertTrue(try emu.http("GET", "/apis").json["groups"]?.arrayValue?.contains { $0["name"] == "spillway.kroy.io" } ?? false)
    }
}
