import Foundation
import KubeClient
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// `spillwayd plan` and `spillwayd uninstall`.
final class OneShotTests: EngineTestCase {
    func testPlanClusterReportsWhatWouldChangeAndWritesNothing() async throws {
        try await namespaces("apps", "team-a", "team-b")
        try await world.createSecret("team-b", "db", data: ["k": "s3cr3t-gamma"])
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        world.emulator.accounting.reset()
        let reports = try await Engine.planCluster(client: world.client, options: SpillwayContract.Options())
        XCTAssertEqual(world.emulator.requests.writes.count, 0)
        let report = try XCTUnwrap(reports.first { $0.source == ObjectKey(kind: .secret, namespace: "apps", name: "db") })
        XCTAssertEqual(report.decisions.map { "\($0.namespace) \($0.action)" }, ["team-a create", "team-b skip"])
        XCTAssertEqual(report.sourceActions.map(\.action), ["add-finalizer"])
        XCTAssertFalse(report.lines.joined().contains("s3cr3t"), "a plan shows fingerprints, never data")
    }

    func testUninstallRemovesFinalizersAndOnRequestTheReplicas() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"])
        try await world.createConfigMap("apps", "settings", annotations: [Self.to: "team-a"], data: ["mode": "fast"])
        try await expectSecretReplicas("db", ["team-a"])
        try await eventually("ConfigMap replica") { try await configMapReplicas("settings") == ["team-a"] }
        try await settle()
        await world.stopEngine()
        let report = await Engine.uninstall(client: world.client, deleteReplicas: true)
        XCTAssertEqual(report.failures, [])
        XCTAssertEqual(Set(report.finalizersRemoved.map(\.description)), ["Secret/apps/db", "ConfigMap/apps/settings"])
        XCTAssertEqual(Set(report.replicasDeleted.map(\.description)), ["Secret/team-a/db", "ConfigMap/team-a/settings"])
        let secretReplicasLeft = try await secretReplicas("db")
        XCTAssertEqual(secretReplicasLeft, [])
        let configMapReplicasLeft = try await configMapReplicas("settings")
        XCTAssertEqual(configMapReplicasLeft, [])
        let source = try await world.get(.secrets, "apps", "db")
        XCTAssertEqual(source?["metadata"]?["finalizers"]?.arrayValue ?? [], [])
        XCTAssertEqual(EngineWorld.secretData(source), ["k": "s3cr3t-alpha"], "sources themselves are kept")
    }
}
