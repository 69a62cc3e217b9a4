import KubeWire
import Foundation
import KubeClient
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// Finalizer, cleanup, TTL, orphans, two sources with one name.
final class LifecycleTests: EngineTestCase {
    func testDeletingTheSourceDeletesItsReplicasThenReleasesTheFinalizer() async throws {
        try await namespaces("apps", "team-a", "team-b")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a", "team-b"])
        let source = try await world.get(.secrets, "apps", "db")
        XCTAssertEqual(source?["metadata"]?["finalizers"], [.string(Vocabulary.finalizer)])
        try await world.delete(.secrets, "apps", "db")
        let took = try await eventually("replicas and then the source are gone") {
            let replicas = try await secretReplicas("db")
            let source = try await world.get(.secrets, "apps", "db")
            return replicas.isEmpty && source == nil
        }
        Timings.record("source deleted -> replicas deleted, finalizer released", took)
        XCTAssertTrue(world.logs.all.contains { $0.metadata["action"] == "cleanup" && $0.metadata["target_namespace"] == "team-a" })
        XCTAssertTrue(world.logs.all.contains { $0.metadata["action"] == "finalizer-remove" })
    }

    func testRemovingReplicateToDeletesExactlyThisSourcesReplicas() async throws {
        try await namespaces("apps", "team-a", "other")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"])
        try await world.createSecret("other", "db", annotations: [Self.to: "team-b"], data: ["k": "s3cr3t-beta"])
        try await world.createNamespace("team-b")
        try await expectSecretReplicas("db", ["team-a", "team-b"])
        try await world.patch(.secrets, "apps", "db", ["metadata": ["annotations": [Self.to: .null]]])
        try await expectSecretReplicas("db", ["team-b"])
        try await eventually("the finalizer is released") {
            try await world.get(.secrets, "apps", "db")?["metadata"]?["finalizers"]?.arrayValue?.isEmpty ?? true
        }
        let formerSource = try await world.get(.secrets, "apps", "db")
        XCTAssertNotNil(formerSource, "the former source itself stays")
    }

    func testExpiresAtIsReadFromTheInjectedWallClock() async throws {
        try await namespaces("apps", "team-a")
        let clock = try XCTUnwrap(Timestamp.parse("2030-01-02T03:04:05Z"))
        try await world.startEngine(EngineOptions(emitEvents: true, wallClock: .fixed(clock)))
        try await world.createSecret("apps", "temp", annotations: [Self.to: "team-a", Vocabulary.replicaTTL: "90m"],
                                     data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("temp", ["team-a"])
        let stamped = try await world.get(.secrets, "team-a", "temp")?["metadata"]?["annotations"]?[Vocabulary.expiresAt]?.stringValue
        XCTAssertEqual(stamped, "2030-01-02T04:34:05Z", "the TTL counts from the engine's wall clock, not the system's")
    }

    func testAReplicaExpiresIsRecordedAndResumesWhenTheRecordIsEdited() async throws {
        try await namespaces("apps", "team-a", "team-b")
        try await world.startEngine()
        try await world.createSecret("apps", "temp", annotations: [Self.to: "team-a", Vocabulary.replicaTTL: "2s"],
                                     data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("temp", ["team-a"])
        let stamped = try await world.get(.secrets, "team-a", "temp")?["metadata"]?["annotations"]?[Vocabulary.expiresAt]?.stringValue
        XCTAssertNotNil(stamped.flatMap(Timestamp.parse), "expires-at is stamped at creation (RFC 3339)")
        try await eventually("the replica expires and the namespace is recorded", timeout: .seconds(15)) {
            let source = try await world.get(.secrets, "apps", "temp")
            return try await secretReplicas("temp").isEmpty
                && source?["metadata"]?["annotations"]?[Vocabulary.expiredNamespaces]?.stringValue == "team-a"
        }
        try await settle()
        let afterExpiry = try await secretReplicas("temp")
        XCTAssertEqual(afterExpiry, [], "an expired replica is not recreated")
        XCTAssertTrue(world.logs.all.contains { $0.metadata["action"] == "expire" })
        // Editing the record resumes replication there.
        try await world.patch(.secrets, "apps", "temp", ["metadata": ["annotations": [Vocabulary.expiredNamespaces: .null]]])
        try await expectSecretReplicas("temp", ["team-a"])
        // Removing replica-ttl keeps it for good.
        try await world.patch(.secrets, "apps", "temp", ["metadata": ["annotations": [Vocabulary.replicaTTL: .null]]])
        try await eventually("the replica stays, without an expiry") {
            let replica = try await world.get(.secrets, "team-a", "temp")
            let source = try await world.get(.secrets, "apps", "temp")
            return replica != nil && replica?["metadata"]?["annotations"]?[Vocabulary.expiresAt] == nil
                && source?["metadata"]?["annotations"]?[Vocabulary.expiredNamespaces] == nil
        }
    }

    func testOrphansLeftWhileTheDaemonWasDownAreRemovedAtStart() async throws {
        try await namespaces("apps", "team-a", "team-b", "keep")
        try await world.startEngine()
        try await world.createSecret("apps", "gone", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"])
        try await world.createSecret("apps", "narrowed", annotations: [Self.to: "team-*,keep"], data: ["k": "s3cr3t-beta"])
        try await expectSecretReplicas("gone", ["team-a"])
        try await expectSecretReplicas("narrowed", ["team-a", "team-b", "keep"])
        try await settle()
        await world.stopEngine()
        // While down: one source deleted outright, another narrowed.
        try await world.patch(.secrets, "apps", "gone", ["metadata": ["finalizers": []]])
        try await world.delete(.secrets, "apps", "gone")
        try await world.patch(.secrets, "apps", "narrowed", ["metadata": ["annotations": [Self.to: "keep"]]])
        try await world.startEngine()
        let took = try await expectSecretReplicas("gone", [])
        try await expectSecretReplicas("narrowed", ["keep"])
        Timings.record("orphans removed after restart", took)
    }

    func testTwoSourcesWithOneNameTheExistingOwnerWinsAndTheLoserTakesOverWhenItGoes() async throws {
        try await namespaces("first", "second", "shared")
        try await world.startEngine()
        try await world.createSecret("first", "db", annotations: [Self.to: "shared"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["shared"])
        try await world.createSecret("second", "db", annotations: [Self.to: "shared"], data: ["k": "s3cr3t-beta"])
        try await eventually("the loser is told") {
            try await world.events(about: "db", in: "second").contains {
                $0.reason == Vocabulary.reasonSkipped && $0.note.contains("Secret/first/db")
            }
        }
        let shared = try await world.get(.secrets, "shared", "db")
        XCTAssertEqual(shared?["metadata"]?["annotations"]?[Vocabulary.sourceFrom], "Secret/first/db", "the existing owner keeps it")
        try await world.delete(.secrets, "first", "db")
        let took = try await eventually("the loser takes over") {
            let replica = try await world.get(.secrets, "shared", "db")
            return replica?["metadata"]?["annotations"]?[Vocabulary.sourceFrom]?.stringValue == "Secret/second/db"
                && EngineWorld.secretData(replica) == ["k": "s3cr3t-beta"]
        }
        Timings.record("winner gone -> loser takes over", took)
    }
}
