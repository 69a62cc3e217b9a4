import Foundation
import KubeClient
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// What a replica holds, and how it is kept that way.
final class ReplicaContentTests: EngineTestCase {
    func testAHandEditedReplicaIsRevertedWithinASecond() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["password": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a"])
        try await settle()
        for round in 0..<20 {
            try await world.patch(.secrets, "team-a", "db", ["data": ["password": .string(Data("s3cr3t-gamma".utf8).base64EncodedString())],
                                                             "metadata": ["labels": ["hand": .string("\(round)")]]])
            let took = try await eventually("the edit is reverted") {
                let replica = try await world.get(.secrets, "team-a", "db")
                return EngineWorld.secretData(replica) == ["password": "s3cr3t-alpha"]
                    && replica?["metadata"]?["labels"]?["hand"] == nil
            }
            Timings.record("hand-edited replica -> reverted", took)
        }
    }

    func testAHandDeletedReplicaIsRecreated() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["password": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a"])
        try await settle()
        for _ in 0..<20 {
            let before = try await world.get(.secrets, "team-a", "db")?["metadata"]?["uid"]
            try await world.delete(.secrets, "team-a", "db")
            let took = try await eventually("the replica is recreated") {
                let replica = try await world.get(.secrets, "team-a", "db")
                return replica != nil && replica?["metadata"]?["uid"] != before
            }
            Timings.record("hand-deleted replica -> recreated", took)
        }
    }

    func testASourceEditReachesEveryReplica() async throws {
        try await namespaces("apps", "team-a", "team-b")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["password": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a", "team-b"])
        try await settle()
        try await world.patch(.secrets, "apps", "db", ["data": ["password": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        let took = try await eventually("both replicas carry the new value") {
            let a = try await world.get(.secrets, "team-a", "db")
            let b = try await world.get(.secrets, "team-b", "db")
            return EngineWorld.secretData(a)["password"] == "s3cr3t-beta" && EngineWorld.secretData(b)["password"] == "s3cr3t-beta"
        }
        Timings.record("source edited -> replicas updated", took)
    }

    func testASecretTypeChangeRecreatesTheReplicas() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        try await world.createSecret("apps", "cert", annotations: [Self.to: "team-a"],
                                     data: ["tls.crt": "s3cr3t-alpha", "tls.key": "s3cr3t-beta"])
        try await expectSecretReplicas("cert", ["team-a"])
        let before = try await world.get(.secrets, "team-a", "cert")
        XCTAssertEqual(before?["type"], "Opaque")
        // The API forbids changing a Secret's type: the source is replaced by a typed one while
        // the daemon is down, so the Opaque replica meets a kubernetes.io/tls source at start.
        try await replaceSourceWhileStopped("cert")
        try await world.createSecret("apps", "cert", annotations: [Self.to: "team-a"],
                                     data: ["tls.crt": "s3cr3t-alpha", "tls.key": "s3cr3t-beta"], type: SecretType.tls)
        try await world.startEngine()
        try await eventually("the replica is recreated with the new type") {
            try await world.get(.secrets, "team-a", "cert")?["type"]?.stringValue == SecretType.tls
        }
        XCTAssertFalse(world.logs.all.contains { $0.message.contains("field is immutable") }, "never stuck failing on the type")
    }

    func testAnImmutableSourceChangeRecreatesItsReplicas() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        try await world.createSecret("apps", "frozen", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"], immutable: true)
        try await expectSecretReplicas("frozen", ["team-a"])
        let first = try await world.get(.secrets, "team-a", "frozen")
        XCTAssertEqual(first?["immutable"], true)
        try await replaceSourceWhileStopped("frozen")
        try await world.createSecret("apps", "frozen", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-beta"], immutable: true)
        try await world.startEngine()
        try await eventually("the immutable replica is recreated with the new content") {
            let replica = try await world.get(.secrets, "team-a", "frozen")
            return EngineWorld.secretData(replica) == ["k": "s3cr3t-beta"]
                && replica?["metadata"]?["uid"] != first?["metadata"]?["uid"]
        }
    }

    func testIncludeAndExcludeKeysProjectTheDataAndATLSReplicaStaysTypedOnlyWithBothKeys() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        try await world.createSecret("apps", "only", annotations: [Self.to: "team-a", Vocabulary.includeKeys: "tls.crt, ca.crt",
                                                                    Vocabulary.excludeKeys: "ca.crt"],
                                     data: ["tls.crt": "s3cr3t-alpha", "tls.key": "s3cr3t-beta", "ca.crt": "s3cr3t-gamma"],
                                     type: SecretType.tls)
        try await world.createSecret("apps", "minus", annotations: [Self.to: "team-a", Vocabulary.excludeKeys: "ca.crt"],
                                     data: ["tls.crt": "s3cr3t-alpha", "tls.key": "s3cr3t-beta", "ca.crt": "s3cr3t-gamma"],
                                     type: SecretType.tls)
        try await expectSecretReplicas("only", ["team-a"])
        try await expectSecretReplicas("minus", ["team-a"])
        let only = try await world.get(.secrets, "team-a", "only")
        XCTAssertEqual(Set(EngineWorld.secretData(only).keys), ["tls.crt", "ca.crt"], "include wins over exclude")
        XCTAssertEqual(only?["type"], "Opaque", "tls.key was dropped, so the replica cannot stay kubernetes.io/tls")
        let minus = try await world.get(.secrets, "team-a", "minus")
        XCTAssertEqual(Set(EngineWorld.secretData(minus).keys), ["tls.crt", "tls.key"])
        XCTAssertEqual(minus?["type"]?.stringValue, SecretType.tls)
    }

    func testAManagedReplicaIsNeverASourceEvenWithReplicationAnnotations() async throws {
        try await namespaces("apps", "team-a", "team-b")
        try await world.startEngine()
        // A replica that someone annotated: it must not replicate itself (no loops).
        try await world.createSecret("team-a", "loop", annotations: [Self.to: "team-b", Vocabulary.sourceFrom: "Secret/apps/loop"],
                                     labels: [Vocabulary.managedByLabel: Vocabulary.managedByValue], data: ["k": "s3cr3t-alpha"])
        try await world.createSecret("apps", "marker", annotations: [Self.to: "team-b"], data: ["k": "s3cr3t-beta"])
        try await expectSecretReplicas("marker", ["team-b"])
        try await settle()
        let notReplicated = try await world.get(.secrets, "team-b", "loop")
        XCTAssertNil(notReplicated)
    }

    /// Stops the engine and deletes the source `apps/<name>` without letting spillway clean up
    /// (its finalizer is removed by hand), so its replicas stay behind.
    private func replaceSourceWhileStopped(_ name: String) async throws {
        try await settle()
        await world.stopEngine()
        try await world.patch(.secrets, "apps", name, ["metadata": ["finalizers": []]])
        try await world.delete(.secrets, "apps", name)
        try await eventually("the source is gone") { try await world.get(.secrets, "apps", name) == nil }
    }
}
