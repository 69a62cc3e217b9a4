import Foundation
import KubeClient
import KubeEmulator
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// Zero writes in steady state; memory that does not grow with unrelated objects.
final class EfficiencyTests: EngineTestCase {
    func testAResyncThatFindsEverythingInPlaceSendsZeroWrites() async throws {
        try await namespaces("apps", "team-a", "team-b", "team-c")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        try await world.createConfigMap("apps", "settings", annotations: [Self.to: "all"], data: ["mode": "fast"])
        try await expectSecretReplicas("db", ["team-a", "team-b", "team-c"])
        try await eventually("ConfigMap replicas exist") { try await configMapReplicas("settings").count == 6 }
        try await settle()
        world.emulator.accounting.reset()
        for _ in 0..<3 {
            try await world.onEngine { $0.enqueueAll("test resync") }
            try await settle()
        }
        XCTAssertEqual(world.emulator.requests.writes.map { "\($0.verb) \($0.resource) \($0.namespace)/\($0.name)" }, [])
        XCTAssertEqual(world.emulator.requests.count(verb: "get", resource: "secrets"), 0, "unchanged sources are not read again")
    }

    func testUnrelatedObjectsAreSeenAndNotKept() async throws {
        try await namespaces("apps", "team-a")
        for i in 0..<3000 {
            // Seeded through the emulator's store: the same objects and watch events as over HTTP, faster.
            _ = try world.emulator.store.create(.secret, namespace: "team-a", [
                "metadata": ["name": .string("unrelated-\(i)"), "labels": ["app": "noise"]],
                "data": ["k": .string(String(repeating: "eHh4", count: 16))],
            ])
        }
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a"])
        let counts = try await world.onEngine { $0.cacheCounts }
        XCTAssertEqual(counts.sources, 1)
        XCTAssertEqual(counts.payloads, 1)
        XCTAssertEqual(counts.replicas, 1)
        XCTAssertEqual(counts.blockers, 0)
        XCTAssertEqual(counts.namespaces, 6)
    }
}
