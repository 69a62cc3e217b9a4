import Foundation
import SpillwayContract
import XCTest

final class PlanReportTests: XCTestCase {
    private let namespaces = [World.namespace("default"), World.namespace("team-a"), World.namespace("team-b"),
                              World.namespace("kube-system")]

    private func samplePlan() -> Plan {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "all", Vocabulary.replicaTTL: "1h"],
                                  data: ["password": "hunter2"], finalizer: false)
        return World.plan(source, namespaces: namespaces, observed: [World.unmanaged(in: "team-b")])
    }

    func testTextLinesSayWhatHappensWhereAndWhy() {
        let lines = PlanReport(samplePlan()).lines
        XCTAssertEqual(lines, [
            "skip      Secret kube-system/db-pass: protected namespace; only naming it in replicate-to replicates there",
            "create    Secret team-a/db-pass (matched replicate-to all)",
            "skip      Secret team-b/db-pass: unmanaged object exists; add force-adopt and run with --allow-force-adopt to take it over",
            "source    Secret default/db-pass: add finalizer spillway.kroy.io/replicas",
            "event     Warning ReplicationSkipped: Secret team-b/db-pass: unmanaged object exists; add force-adopt and run with --allow-force-adopt to take it over",
            "requeue   Secret default/db-pass at 2027-01-15T09:00:00Z",
        ])
    }

    func testTextShowsPatternReasonsAndExpiredList() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-*", Vocabulary.replicaTTL: "1h"])
        let expired = World.replicaOf(source, in: "team-a", expiresAt: "2000-01-01T00:00:00Z")
        let lines = PlanReport(World.plan(source, namespaces: namespaces, observed: [expired])).lines
        XCTAssertTrue(lines.contains("delete    Secret team-a/db-pass (expired at 2000-01-01T00:00:00Z)"), "\(lines)")
        XCTAssertTrue(lines.contains("create    Secret team-b/db-pass (matched replicate-to pattern team-*)"), "\(lines)")
        XCTAssertTrue(lines.contains("source    Secret default/db-pass: set spillway.kroy.io/expired-namespaces=team-a"), "\(lines)")
    }

    func testJSONRoundTripsAndHoldsNoData() throws {
        let report = PlanReport(samplePlan())
        let json = try JSONEncoder().encode(report)
        let text = String(decoding: json, as: UTF8.self)
        XCTAssertFalse(text.contains("hunter2"))
        XCTAssertFalse(text.contains(Data("hunter2".utf8).base64EncodedString()))
        XCTAssertEqual(try JSONDecoder().decode(PlanReport.self, from: json), report)
        let create = try XCTUnwrap(report.decisions.first { $0.action == "create" })
        XCTAssertEqual(create.cause, .missing)
        XCTAssertEqual(create.reason, "matched replicate-to all")
        XCTAssertEqual(create.fingerprint?.hasPrefix("sha256:"), true)
        XCTAssertEqual(report.decisions.first { $0.namespace == "team-b" }?.cause, .unmanagedObject)
    }

    func testJSONCarriesPreconditionsOfDeletes() throws {
        let source = World.secret(annotations: [:])
        let replica = World.replicaOf(World.secret(annotations: [Vocabulary.replicateTo: "team-a"]), in: "team-a")
        let report = PlanReport(World.plan(source, namespaces: namespaces, observed: [replica]))
        XCTAssertEqual(report.decisions.first?.precondition, Precondition(uid: "uid-team-a", resourceVersion: "1"))
        XCTAssertEqual(report.decisions.first?.action, "delete")
    }
}
