import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// SpillwayProfiles: a set of sources replicated without annotating them, through the CRD the
/// chart ships, served by the emulator.
final class ProfileTests: EngineTestCase {
    static let profiles = Resource.spillwayProfiles("v1")

    override func setUp() async throws {
        try await super.setUp()
        world.emulator.register(try Self.crd())
    }

    /// The chart's CRD manifest, the one source of truth.
    static func crd() throws -> CustomResourceDefinition {
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let path = root.appendingPathComponent("charts/spillway/files/crds/spillwayprofiles.spillway.kroy.io.yaml").path
        return try CustomResourceDefinition(yaml: String(contentsOfFile: path, encoding: .utf8))
    }

    @discardableResult
    func createProfile(_ namespace: String, _ name: String, targets: [String] = [], selector: JSONValue? = nil,
                       sources: [(String, String)], apiVersion: String = "v1") async throws -> JSONValue {
        var spec: JSONValue = [
            "sources": .array(sources.map { ["kind": .string($0.0), "name": .string($0.1)] }),
        ]
        if !targets.isEmpty { spec["targetNamespaces"] = .array(targets.map { .string($0) }) }
        if let selector { spec["targetSelector"] = selector }
        return try await world.client.create(Resource.spillwayProfiles(apiVersion), namespace: namespace, object: [
            "apiVersion": .string("spillway.kroy.io/\(apiVersion)"), "kind": "SpillwayProfile",
            "metadata": ["name": .string(name), "namespace": .string(namespace)],
            "spec": spec,
        ])
    }

    func condition(_ type: String, of profile: JSONValue?) -> (status: String, reason: String, message: String, generation: Int64)? {
        guard let c = profile?["status"]?["conditions"]?.arrayValue?.first(where: { $0["type"]?.stringValue == type }) else { return nil }
        return (c["status"]?.stringValue ?? "", c["reason"]?.stringValue ?? "", c["message"]?.stringValue ?? "",
                c["observedGeneration"]?.intValue ?? -1)
    }

    func profile(_ namespace: String, _ name: String) async throws -> JSONValue? {
        try await world.get(Self.profiles, namespace, name)
    }

    func testAProfileReplicatesItsUnannotatedSourcesFollowsEditsAndCleansUpWhenDeleted() async throws {
        try await namespaces("platform", "team-a", "team-b", "other")
        try await world.createSecret("platform", "db", data: ["k": "s3cr3t-alpha"])
        try await world.createConfigMap("platform", "settings", data: ["mode": "blue"])
        try await world.startEngine()
        // The original's manifests name v1alpha1: they keep working.
        try await createProfile("platform", "base", targets: ["team-*"], sources: [("Secret", "db"), ("ConfigMap", "settings")],
                                apiVersion: "v1alpha1")
        try await expectSecretReplicas("db", ["team-a", "team-b"])
        try await eventually("the ConfigMap replicated") { try await configMapReplicas("settings") == ["team-a", "team-b"] }
        let replica = try await world.get(.secrets, "team-a", "db")
        XCTAssertEqual(replica?["metadata"]?["annotations"]?[Vocabulary.profileRef]?.stringValue, "platform/base")
        XCTAssertEqual(replica?["metadata"]?["annotations"]?[Vocabulary.sourceFrom]?.stringValue, "Secret/platform/db")
        XCTAssertEqual(EngineWorld.secretData(replica), ["k": "s3cr3t-alpha"])
        let source = try await world.get(.secrets, "platform", "db")
        XCTAssertNil(source?["metadata"]?["finalizers"], "the profile holds the finalizer, never its sources")
        try await eventually("Ready and SourcesAvailable are True with the generation") {
            let p = try await profile("platform", "base")
            return condition("Ready", of: p)?.status == "True" && condition("SourcesAvailable", of: p)?.status == "True"
                && condition("Ready", of: p)?.generation == p?["metadata"]?["generation"]?.intValue
                && p?["status"]?["replicatedNamespaces"] == ["team-a", "team-b"]
        }
        let stored = try await profile("platform", "base")
        XCTAssertEqual(stored?["metadata"]?["finalizers"], [.string(Vocabulary.finalizer)])
        // Memory: exactly the listed objects are held in full; an unrelated Secret beside them is not.
        try await world.createSecret("platform", "unrelated", data: ["k": "s3cr3t-gamma"])
        try await settle()
        let counts = try await world.onEngine { $0.cacheCounts }
        XCTAssertEqual([counts.profiles, counts.profileSources, counts.profilePayloads, counts.sources, counts.payloads], [1, 2, 2, 0, 0])

        // A source edit reaches the replicas; a new matching namespace gets them.
        try await world.patch(.secrets, "platform", "db", ["data": ["k": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        try await eventually("the edit reaches every replica") {
            let a = EngineWorld.secretData(try await world.get(.secrets, "team-a", "db"))
            let b = EngineWorld.secretData(try await world.get(.secrets, "team-b", "db"))
            return a == ["k": "s3cr3t-beta"] && b == ["k": "s3cr3t-beta"]
        }
        try await world.createNamespace("team-c")
        try await expectSecretReplicas("db", ["team-a", "team-b", "team-c"])

        // Steady state: a resync that finds everything in place writes nothing.
        try await settle()
        world.emulator.accounting.reset()
        try await world.onEngine { $0.enqueueAll("test resync") }
        try await settle()
        XCTAssertEqual(world.writes.map { "\($0.verb) \($0.resource) \($0.namespace)/\($0.name)" }, [])

        // Narrowing the targets removes replicas from namespaces that stop matching.
        try await world.patch(Self.profiles, "platform", "base", ["spec": ["targetNamespaces": ["team-a"]]])
        try await expectSecretReplicas("db", ["team-a"])

        // Deleting the profile removes its replicas, then releases its finalizer.
        try await world.delete(Self.profiles, "platform", "base")
        try await expectSecretReplicas("db", [])
        try await eventually("the ConfigMap replicas are gone") { try await configMapReplicas("settings").isEmpty }
        try await eventually("the profile is gone") { try await profile("platform", "base") == nil }
        let kept = try await world.get(.secrets, "platform", "db")
        XCTAssertNotNil(kept, "the source itself is never deleted")
    }

    func testAMissingSourceIsNamedItsReplicasGoAndComeBackWithIt() async throws {
        try await namespaces("platform", "team-a")
        try await world.startEngine()
        try await createProfile("platform", "base", targets: ["team-a"], sources: [("Secret", "db")])
        try await eventually("SourcesAvailable is False and names the missing source") {
            let c = condition("SourcesAvailable", of: try await profile("platform", "base"))
            return c?.status == "False" && c?.reason == "SourceMissing" && c?.message.contains("Secret/db") == true
        }
        try await world.createSecret("platform", "db", data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a"])
        try await eventually("SourcesAvailable is True") {
            condition("SourcesAvailable", of: try await profile("platform", "base"))?.status == "True"
        }
        try await world.delete(.secrets, "platform", "db")
        try await expectSecretReplicas("db", [])
        try await eventually("the condition says why") {
            condition("SourcesAvailable", of: try await profile("platform", "base"))?.status == "False"
        }
        try await world.createSecret("platform", "db", data: ["k": "s3cr3t-beta"])
        try await expectSecretReplicas("db", ["team-a"])
    }

    func testTheExistingOwnerKeepsANameAndTheOtherTakesOverOnceItIsGone() async throws {
        try await namespaces("apps", "platform", "shared", "team-b")
        try await world.createSecret("team-b", "db", data: ["k": "s3cr3t-gamma"])
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "shared"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["shared"])
        try await world.createSecret("platform", "db", data: ["k": "s3cr3t-beta"])
        try await createProfile("platform", "base", targets: ["shared", "team-b"], sources: [("Secret", "db")])
        try await eventually("Ready is False: the targets are held") {
            let c = condition("Ready", of: try await profile("platform", "base"))
            return c?.status == "False" && c?.reason == "TargetsHeld" && c?.message.contains("shared/db") == true
                && c?.message.contains("team-b/db") == true
        }
        try await eventually("an Event on the profile names the owner") {
            try await world.events(about: "base", in: "platform").contains { $0.note.contains("Secret/apps/db") }
        }
        let kept = try await world.get(.secrets, "shared", "db")
        XCTAssertEqual(kept?["metadata"]?["annotations"]?[Vocabulary.sourceFrom]?.stringValue, "Secret/apps/db")
        XCTAssertNil(kept?["metadata"]?["annotations"]?[Vocabulary.profileRef])
        XCTAssertEqual(EngineWorld.secretData(kept), ["k": "s3cr3t-alpha"], "the existing owner keeps it")
        let unmanaged = try await world.get(.secrets, "team-b", "db")
        XCTAssertEqual(EngineWorld.secretData(unmanaged), ["k": "s3cr3t-gamma"], "an unmanaged object is never overwritten")

        // The annotation source goes: the profile takes the name over by itself.
        try await world.delete(.secrets, "apps", "db")
        try await eventually("the profile takes over") {
            let replica = try await world.get(.secrets, "shared", "db")
            return replica?["metadata"]?["annotations"]?[Vocabulary.profileRef]?.stringValue == "platform/base"
                && EngineWorld.secretData(replica) == ["k": "s3cr3t-beta"]
        }
        // And the annotation source, re-created, does not take it back. (The deleted one may
        // still be held by its finalizer a moment after the profile took over: it goes first.)
        try await eventually("the deleted annotation source is gone") { try await world.get(.secrets, "apps", "db") == nil }
        try await world.createSecret("apps", "db", annotations: [Self.to: "shared"], data: ["k": "s3cr3t-alpha"])
        try await eventually("the annotation source is told who owns it") {
            try await world.events(about: "db", in: "apps").contains { $0.note.contains("SpillwayProfile platform/base") }
        }
        let still = try await world.get(.secrets, "shared", "db")
        XCTAssertEqual(EngineWorld.secretData(still), ["k": "s3cr3t-beta"])
    }

    func testTwoProfilesWantingOneNameTheFirstKeepsItAndTheOtherTakesOverWhenItIsDeleted() async throws {
        try await namespaces("blue", "green", "shared")
        try await world.createSecret("blue", "db", data: ["k": "s3cr3t-alpha"])
        try await world.createSecret("green", "db", data: ["k": "s3cr3t-beta"])
        try await world.startEngine()
        try await createProfile("blue", "first", targets: ["shared"], sources: [("Secret", "db")])
        try await expectSecretReplicas("db", ["shared"])
        try await settle()
        try await createProfile("green", "second", targets: ["shared"], sources: [("Secret", "db")])
        try await eventually("the second profile is told the name is held") {
            let c = condition("Ready", of: try await profile("green", "second"))
            return c?.reason == "TargetsHeld" && c?.message.contains("SpillwayProfile blue/first") == true
        }
        var replica = try await world.get(.secrets, "shared", "db")
        XCTAssertEqual(replica?["metadata"]?["annotations"]?[Vocabulary.profileRef]?.stringValue, "blue/first")
        XCTAssertEqual(EngineWorld.secretData(replica), ["k": "s3cr3t-alpha"])
        try await world.delete(Self.profiles, "blue", "first")
        try await eventually("the second profile takes over") {
            replica = try await world.get(.secrets, "shared", "db")
            return replica?["metadata"]?["annotations"]?[Vocabulary.profileRef]?.stringValue == "green/second"
                && EngineWorld.secretData(replica) == ["k": "s3cr3t-beta"]
        }
        try await eventually("and is Ready") { condition("Ready", of: try await profile("green", "second"))?.status == "True" }
    }

    func testAnInvalidSpecChangesNothingAndSaysWhyNamingTheField() async throws {
        try await namespaces("platform", "team-a")
        try await world.createSecret("platform", "db", data: ["k": "s3cr3t-alpha"])
        try await world.startEngine()
        try await createProfile("platform", "base", targets: ["team-a"], sources: [("Secret", "db")])
        try await expectSecretReplicas("db", ["team-a"])
        try await settle()
        // The emulator does not run the CRD's CEL rules (a real server refuses this): as with a
        // profile stored under the original's looser CRD, the engine must cope.
        try await world.patch(Self.profiles, "platform", "base", ["spec": ["targetNamespaces": ["team-[a"]]])
        try await eventually("Ready is False with InvalidSpec naming the field and value") {
            let c = condition("Ready", of: try await profile("platform", "base"))
            return c?.reason == "InvalidSpec" && c?.message.contains("spec.targetNamespaces[0]") == true
                && c?.message.contains("team-[a") == true
        }
        try await eventually("a ReplicationFailed event on the profile") {
            try await world.events(about: "base", in: "platform").contains { $0.reason == Vocabulary.reasonFailed }
        }
        try await settle()
        let replicas = try await secretReplicas("db")
        XCTAssertEqual(replicas, ["team-a"], "the replica stays while the spec is invalid")
    }

    func testReplicasOfAProfileDeletedWhileTheEngineWasDownAreRemovedAtStart() async throws {
        try await namespaces("platform", "team-a")
        try await world.createSecret("platform", "db", data: ["k": "s3cr3t-alpha"])
        try await world.startEngine()
        try await createProfile("platform", "base", targets: ["team-a"], sources: [("Secret", "db")])
        try await expectSecretReplicas("db", ["team-a"])
        try await settle()
        await world.stopEngine()
        try await world.patch(Self.profiles, "platform", "base", ["metadata": ["finalizers": .null]])
        try await world.delete(Self.profiles, "platform", "base")
        try await world.startEngine()
        try await expectSecretReplicas("db", [])
        XCTAssertTrue(world.logs.all.contains { $0.metadata["action"] == "orphan" && $0.metadata["profile"] == "platform/base" })
    }

    func testATypeChangeOfAListedSecretRecreatesItsReplicas() async throws {
        try await namespaces("platform", "team-a")
        try await world.createSecret("platform", "db", data: ["k": "s3cr3t-alpha"], type: "Opaque")
        try await world.startEngine()
        try await createProfile("platform", "base", targets: ["team-a"], sources: [("Secret", "db")])
        try await expectSecretReplicas("db", ["team-a"])
        // A Secret's type cannot change in place: the source is replaced, and so is the replica.
        try await world.delete(.secrets, "platform", "db")
        try await world.createSecret("platform", "db", data: ["username": "s3cr3t-beta", "password": "s3cr3t-gamma"],
                                     type: "kubernetes.io/basic-auth")
        try await eventually("the replica has the new type") {
            try await world.get(.secrets, "team-a", "db")?["type"]?.stringValue == "kubernetes.io/basic-auth"
        }
        let replica = try await world.get(.secrets, "team-a", "db")
        XCTAssertEqual(EngineWorld.secretData(replica), ["username": "s3cr3t-beta", "password": "s3cr3t-gamma"])
    }

    func testWithoutTheCRDTheEngineSyncsAndServesAnnotationSources() async throws {
        let bare = try await EngineWorld()
        defer { Task { await bare.shutdown() } }
        try await bare.createNamespace("apps")
        try await bare.createNamespace("team-a")
        try await bare.startEngine()
        try await bare.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"])
        try await eventually("the annotation source replicates") { try await bare.get(.secrets, "team-a", "db") != nil }
        XCTAssertTrue(bare.logs.all.contains { $0.message.contains("SpillwayProfile CRD") && $0.message.contains("not installed") })
    }
}
