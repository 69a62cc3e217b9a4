import Foundation
import KubeClient
import KubeEmulator
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// Nothing lost: unmanaged objects, adoption, malformed annotations, the leader gate.
final class SafetyTests: EngineTestCase {
    func testAPreexistingUnmanagedObjectIsLeftUntouchedAndTheSourceIsTold() async throws {
        try await namespaces("apps", "team-a", "team-b")
        try await world.createSecret("team-b", "db", data: ["k": "s3cr3t-gamma"])
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a"])
        try await eventually("a ReplicationSkipped event names the unmanaged object") {
            try await world.events(about: "db", in: "apps").contains {
                $0.reason == Vocabulary.reasonSkipped && $0.note.contains("team-b/db")
            }
        }
        try await settle()
        let untouched = try await world.get(.secrets, "team-b", "db")
        XCTAssertEqual(EngineWorld.secretData(untouched), ["k": "s3cr3t-gamma"])
        XCTAssertNil(untouched?["metadata"]?["labels"]?[Vocabulary.managedByLabel])
        let conflicts = try await world.onEngine { $0.status.conflicts }
        XCTAssertEqual(conflicts, 1)
        XCTAssertTrue(world.logs.all.contains { $0.metadata["action"] == "conflict" && $0.metadata["target_namespace"] == "team-b" })
        // A resync repeats neither the write attempt nor the event.
        world.emulator.accounting.reset()
        try await world.onEngine { $0.enqueueAll("test resync") }
        try await settle()
        XCTAssertEqual(world.emulator.requests.writes.map { "\($0.verb) \($0.resource) \($0.namespace)/\($0.name)" }, [])
    }

    func testForceAdoptTakesOverOnlyWhenTheDaemonAllowsIt() async throws {
        try await namespaces("apps", "team-a")
        try await world.createSecret("team-a", "db", data: ["k": "s3cr3t-gamma"])
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a", Vocabulary.forceAdopt: "true"], data: ["k": "s3cr3t-alpha"])
        try await eventually("skipped without --allow-force-adopt") {
            try await world.events(about: "db", in: "apps").contains { $0.note.contains("--allow-force-adopt") }
        }
        let beforeAdoption = EngineWorld.secretData(try await world.get(.secrets, "team-a", "db"))
        XCTAssertEqual(beforeAdoption, ["k": "s3cr3t-gamma"])
        await world.stopEngine()
        try await world.startEngine(EngineOptions(contract: SpillwayContract.Options(allowForceAdopt: true)))
        try await expectSecretReplicas("db", ["team-a"])
        let afterAdoption = EngineWorld.secretData(try await world.get(.secrets, "team-a", "db"))
        XCTAssertEqual(afterAdoption, ["k": "s3cr3t-alpha"])
        XCTAssertTrue(world.logs.all.contains { $0.metadata["action"] == "adopt" })
    }

    func testAMalformedAnnotationChangesNothingAndSaysWhy() async throws {
        try await namespaces("apps", "team-a", "team-b")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a"])
        try await settle()
        world.emulator.accounting.reset()
        try await world.patch(.secrets, "apps", "db", ["metadata": ["annotations": [Self.to: "team-b", Self.matching: "env in (prod"]]])
        try await eventually("a warning names the annotation and the value") {
            try await world.events(about: "db", in: "apps").contains {
                $0.reason == Vocabulary.reasonFailed && $0.note.contains(Self.matching) && $0.note.contains("env in (prod")
            }
        }
        try await settle()
        let replicasNow = try await secretReplicas("db")
        XCTAssertEqual(replicasNow, ["team-a"], "the existing replica stays, no new one appears")
        let writes = world.emulator.requests.successfulWrites.filter { $0.resource != "events.events.k8s.io" && !$0.resource.hasPrefix("events") }
        XCTAssertEqual(writes.filter { $0.namespace != "apps" || $0.name != "db" }.map { "\($0.verb) \($0.namespace)/\($0.name)" }, [])
        XCTAssertTrue(world.logs.all.contains { $0.level == .warning && $0.message.contains("env in (prod") && $0.metadata["source"] == "apps/db" })
    }

    func testAStandbyWritesNothingAndANewLeaderReconcilesEverything() async throws {
        try await namespaces("apps", "team-a")
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"])
        world.emulator.accounting.reset()
        try await world.startEngine(leader: false)
        try await Task.sleep(for: .milliseconds(500))
        XCTAssertEqual(world.emulator.requests.successfulWrites.count, 0, "a standby keeps its caches warm but writes nothing")
        let keptSources = try await world.onEngine { $0.cacheCounts.sources }
        XCTAssertEqual(keptSources, 1)
        try await world.onEngine { $0.setLeader(true) }
        try await expectSecretReplicas("db", ["team-a"])
    }
}

/// A write the API refuses: told, retried with backoff, and no other namespace held up.
final class RefusedWriteTests: EngineTestCase {
    override func setUp() async throws {
        let user: Set<String> = ["spillway"]
        world = try await Self.restrictedWorld([
            AccessRule(users: user, verbs: Self.allVerbs, resources: ["namespaces", "configmaps", "events"]),
            AccessRule(users: user, verbs: Self.allVerbs.subtracting(["create"]), resources: ["secrets"]),
            // Creating Secrets is allowed everywhere but in "locked".
            AccessRule(users: user, verbs: ["create"], resources: ["secrets"], namespaces: ["apps", "open"]),
        ])
    }

    func testARefusedWriteIsReportedAndRetriedWithBackoffWithoutHoldingUpOtherNamespaces() async throws {
        try await namespaces("apps", "open", "locked")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "open,locked"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["open"])
        try await eventually("a ReplicationFailed event names the refused write") {
            try await world.events(about: "db", in: "apps").contains {
                $0.reason == Vocabulary.reasonFailed && $0.note.contains("locked/db") && $0.note.contains("403")
            }
        }
        let key = ObjectKey(kind: .secret, namespace: "apps", name: "db")
        try await eventually("the key backs off after repeated failures") {
            try await world.onEngine { $0.queue.failureCount(.source(key)) >= 3 }
        }
        let status = try await world.onEngine { $0.status }
        XCTAssertTrue(status.lastError?.contains("locked/db") ?? false, "\(status)")
        let failedEvents = try await world.events(about: "db", in: "apps").filter { $0.reason == Vocabulary.reasonFailed }
        XCTAssertEqual(failedEvents.count, 1, "the same failure is reported once, not on every retry")

        // A hand edit in "open" is planned for that namespace alone; its success says nothing of
        // "locked", whose failure keeps its backoff and its error.
        let before = try await world.onEngine { $0.queue.failureCount(.source(key)) }
        try await world.patch(.secrets, "open", "db", ["metadata": ["labels": ["hand": "edit"]]])
        try await eventually("the edit in open is reverted") {
            try await world.get(.secrets, "open", "db")?["metadata"]?["labels"]?["hand"] == nil
        }
        let after = try await world.onEngine { ($0.queue.failureCount(.source(key)), $0.status.lastError) }
        XCTAssertGreaterThanOrEqual(after.0, before, "a namespace-limited success does not reset the backoff")
        XCTAssertTrue(after.1?.contains("locked/db") ?? false, "\(String(describing: after.1))")
    }

    /// A source refused in a dozen namespaces at once posts five ReplicationFailed Events and
    /// one that counts the other seven, not twelve; retries post none.
    func testWritesRefusedInManyNamespacesPostABoundedNumberOfEvents() async throws {
        try await namespaces("apps", "open")
        for i in 1...12 { try await namespaces("locked-\(i)") }
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "open,locked-*"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["open"])
        try await eventually("the failures are reported") {
            try await world.events(about: "db", in: "apps").contains { $0.reason == Vocabulary.reasonFailed && $0.note.hasPrefix("7 more") }
        }
        let key = ObjectKey(kind: .secret, namespace: "apps", name: "db")
        try await eventually("the key is retried") {
            try await world.onEngine { $0.queue.failureCount(.source(key)) >= 3 }
        }
        let failed = try await world.events(about: "db", in: "apps").filter { $0.reason == Vocabulary.reasonFailed }
        XCTAssertEqual(failed.count, 6, failed.map(\.note).joined(separator: "\n"))
        XCTAssertEqual(failed.filter { $0.note.contains("403") }.count, 6)
    }
}
