import Foundation
@testable import KubeEmulator
import KubeWire
import XCTest

/// A custom resource registered from the chart's SpillwayProfile CRD, driven by the machine's
/// kubectl: the same steps and outcomes as Tests/packaging/test_profile_crd.py asserts on a real
/// kube-apiserver (both versions serve one object, the status subresource, generation, columns,
/// the schema's refusals).
final class CustomResourceTests: KubectlTestCase {
    static let crdPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("charts/spillway/files/crds/spillwayprofiles.spillway.kroy.io.yaml").path

    override func setUpWithError() throws {
        try super.setUpWithError()
        emu.register(try CustomResourceDefinition(yaml: String(contentsOfFile: Self.crdPath, encoding: .utf8)))
    }

    private func get(_ resource: String = "swp") throws -> JSONValue {
        try JSONParser.parse(try kubectl("-n", "p", "get", resource, "status", "-o", "json"))
    }

    func testBothVersionsServeOneObjectWithTheStatusSubresourceGenerationAndColumns() throws {
        try kubectl("create", "namespace", "p")
        try kubectl("apply", "-f", "-", input: """
            apiVersion: spillway.kroy.io/v1alpha1
            kind: SpillwayProfile
            metadata: {name: status, namespace: p}
            spec:
              targetNamespaces: ["team-*"]
              sources: [{kind: Secret, name: db}]
            """)
        let alpha = try get("spillwayprofiles.v1alpha1.spillway.kroy.io")
        XCTAssertEqual(alpha["apiVersion"], "spillway.kroy.io/v1alpha1")
        XCTAssertEqual(alpha["metadata"]?["generation"], 1)
        XCTAssertEqual(try get()["apiVersion"], "spillway.kroy.io/v1", "kubectl prefers v1")

        // The status subresource writes the status and nothing else; no new generation.
        let status = #"{"replicatedNamespaces":["team-a"],"targetCount":1,"sources":"1/1","conditions":[{"type":"Ready","status":"True","reason":"Replicated","message":"ok","observedGeneration":1,"lastTransitionTime":"2026-01-02T03:04:05Z"}]}"#
        try kubectl("-n", "p", "patch", "swp", "status", "--subresource=status", "--type=merge",
                    "-p", #"{"status":\#(status),"spec":{"targetNamespaces":["ignored"]}}"#)
        var stored = try get()
        XCTAssertEqual(stored["status"]?["targetCount"], 1)
        XCTAssertEqual(stored["spec"]?["targetNamespaces"], ["team-*"])
        XCTAssertEqual(stored["metadata"]?["generation"], 1)

        // The main resource ignores the status; a spec change makes a new generation, metadata does not.
        try kubectl("-n", "p", "patch", "swp", "status", "--type=merge",
                    "-p", #"{"status":{"targetCount":7},"spec":{"targetNamespaces":["team-b"]}}"#)
        stored = try get()
        XCTAssertEqual(stored["status"]?["targetCount"], 1)
        XCTAssertEqual(stored["metadata"]?["generation"], 2)
        try kubectl("-n", "p", "label", "swp", "status", "x=y")
        XCTAssertEqual(try get()["metadata"]?["generation"], 2, "metadata is not the spec")

        let table = try kubectl("-n", "p", "get", "swp", "status").split(separator: "\n")
        XCTAssertEqual(table.first?.split(separator: " ").map(String.init), ["NAME", "TARGETS", "SOURCES", "READY", "AGE"])
        XCTAssertEqual(table.dropFirst().first?.split(separator: " ").prefix(4).map(String.init), ["status", "1", "1/1", "True"])
    }

    /// A list-valued column (targetClusters, shown with -o wide) prints as its JSON, as the
    /// apiextensions server prints it (test_profile_crd.py asserts the same on a real server).
    func testAListValuedWideColumnPrintsAsJSON() throws {
        try kubectl("create", "namespace", "p")
        try kubectl("apply", "-f", "-", input: """
            apiVersion: spillway.kroy.io/v1
            kind: SpillwayProfile
            metadata: {name: clusters, namespace: p}
            spec:
              targetNamespaces: ["team-*"]
              targetClusters: ["local", "prod-*"]
              sources: [{kind: Secret, name: db}]
            """)
        let table = try kubectl("-n", "p", "get", "swp", "clusters", "-o", "wide").split(separator: "\n")
        XCTAssertEqual(table.first?.split(separator: " ").map(String.init), ["NAME", "TARGETS", "SOURCES", "CLUSTERS", "READY", "AGE"])
        XCTAssertTrue(table.last?.contains(#"["local","prod-*"]"#) == true, "\(table)")
    }

    func testTheSchemaRefusesAKindItDoesNotKnowAndASourceListedTwice() throws {
        try kubectl("create", "namespace", "p")
        for (sources, message) in [
            ("[{kind: Pod, name: x}]", "spec.sources[0].kind"),
            ("[{kind: Secret, name: x}, {kind: Secret, name: x}]", "Duplicate value"),
        ] {
            let out = try kubectl("create", "-f", "-", input: """
                apiVersion: spillway.kroy.io/v1
                kind: SpillwayProfile
                metadata: {name: bad, namespace: p}
                spec: {targetNamespaces: [a], sources: \(sources)}
                """, expectSuccess: false)
            XCTAssertTrue(out.contains(message), out)
        }
    }

    /// The definition is an object too, as on a real kube-apiserver (the same steps were run
    /// there): established once stored; deleting it deletes its objects first, refuses creates
    /// while an object's finalizer holds it, and stops serving the kind once the last is gone.
    func testADefinitionIsAnObjectAndDeletingItDeletesItsObjectsFirst() throws {
        let name = "spillwayprofiles.spillway.kroy.io"
        var crd = try JSONParser.parse(try kubectl("get", "crd", name, "-o", "json"))
        let established = crd["status"]?["conditions"]?.arrayValue?.first { $0["type"] == "Established" }
        XCTAssertEqual(established?["status"], "True")
        XCTAssertEqual(crd["status"]?["storedVersions"], ["v1"])
        XCTAssertNil(crd["metadata"]?["finalizers"], "the cleanup finalizer comes with the deletion")

        try kubectl("create", "namespace", "p")
        let profile = { (name: String, finalizers: String) in """
            apiVersion: spillway.kroy.io/v1
            kind: SpillwayProfile
            metadata: {name: \(name), namespace: p, finalizers: \(finalizers)}
            spec: {targetNamespaces: [a], sources: [{kind: Secret, name: x}]}
            """ }
        try kubectl("create", "-f", "-", input: profile("held", "[example.com/hold]"))
        try kubectl("create", "-f", "-", input: profile("free", "[]"))
        try kubectl("delete", "crd", name, "--wait=false")

        crd = try JSONParser.parse(try kubectl("get", "crd", name, "-o", "json"))
        XCTAssertEqual(crd["metadata"]?["finalizers"], [.string(Store.definitionCleanupFinalizer)])
        XCTAssertNotNil(crd["metadata"]?["deletionTimestamp"])
        XCTAssertTrue(crd["status"]?["conditions"]?.arrayValue?.contains { $0["type"] == "Terminating" } == true)
        let left = try JSONParser.parse(try kubectl("-n", "p", "get", "swp", "-o", "json"))["items"]?.arrayValue ?? []
        XCTAssertEqual(left.compactMap { $0["metadata"]?["name"]?.stringValue }, ["held"], "the object without a finalizer is gone")
        XCTAssertNotNil(left.first?["metadata"]?["deletionTimestamp"])
        let refused = try kubectl("create", "-f", "-", input: profile("late", "[]"), expectSuccess: false)
        XCTAssertTrue(refused.contains("create not allowed while custom resource definition is terminating"), refused)

        try kubectl("-n", "p", "patch", "swp", "held", "--type=merge", "-p", #"{"metadata":{"finalizers":null}}"#)
        XCTAssertTrue(try kubectl("get", "crd", name, expectSuccess: false).contains("NotFound"))
        XCTAssertNil(emu.store.type(apiVersion: "spillway.kroy.io/v1", plural: "spillwayprofiles"), "the kind is no longer served")

        try kubectl("apply", "-f", Self.crdPath)
        XCTAssertNotNil(emu.store.type(apiVersion: "spillway.kroy.io/v1alpha1", plural: "spillwayprofiles"), "served again")
        try kubectl("create", "-f", "-", input: profile("again", "[]"))
    }
}
