import Foundation
import KubeEmulator
import XCTest

/// The real spillwayd process: the finalizer and cleanup, replica-ttl, and orphans.
final class LifecycleProcessTests: ProcessTestCase {
    func testDeletingTheSourceDeletesItsReplicasThenReleasesTheFinalizer() throws {
        try namespaces("apps", "team-a", "team-b")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-*"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["team-a", "team-b"], daemon)
        expect("the source carries the finalizer", daemon) { cluster.finalizers(.secret, "apps", "db") == [Key.finalizer] }
        try cluster.delete(.secret, "apps", "db")
        expect("the replicas and then the source are gone", daemon) {
            cluster.replicas(.secret, "db").isEmpty && cluster.object(.secret, "apps", "db") == nil
        }
        expect("each cleanup and the finalizer release are audited", daemon) {
            daemon.audit("cleanup").filter { $0["source"] == "apps/db" }.compactMap { $0["target_namespace"] }.sorted() == ["team-a", "team-b"]
                && !daemon.audit("finalizer-remove").isEmpty
        }
        let lines = daemon.records.map { $0["action"] ?? "" }
        let released = try XCTUnwrap(lines.lastIndex(of: "finalizer-remove"), daemon.tail)
        let lastCleanup = try XCTUnwrap(lines.lastIndex(of: "cleanup"), daemon.tail)
        XCTAssertLessThan(lastCleanup, released, "the replicas go before the finalizer is released")
    }

    func testRemovingReplicateToDeletesExactlyThisSourcesReplicas() throws {
        try namespaces("apps", "other", "team-a", "team-b")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-a"], data: ["k": "s3cr3t-alpha"])
        try cluster.secret("other", "db", annotations: [Key.replicateTo: "team-b"], data: ["k": "s3cr3t-beta"])
        try cluster.secret("team-b", "unrelated", data: ["k": "s3cr3t-gamma"])
        expectReplicas(.secret, "db", ["team-a", "team-b"], daemon)
        try cluster.patch(.secret, "apps", "db", ["metadata": ["annotations": [Key.replicateTo: .null]]])
        expectReplicas(.secret, "db", ["team-b"], daemon)
        expect("the finalizer is released", daemon) { cluster.finalizers(.secret, "apps", "db").isEmpty }
        XCTAssertEqual(cluster.annotations(.secret, "team-b", "db")[Key.sourceFrom], "Secret/other/db", "the other source's replica stays")
        XCTAssertNotNil(cluster.object(.secret, "apps", "db"), "the former source itself stays")
        XCTAssertNotNil(cluster.object(.secret, "team-b", "unrelated"))
    }

    func testANamespaceExcludedLaterLosesExactlyThatReplica() throws {
        try namespaces("apps", "team-a", "team-b")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-*"], data: ["k": "s3cr3t-alpha"])
        try cluster.configMap("apps", "db", annotations: [Key.replicateTo: "team-*"], data: ["k": "v"])
        expectReplicas(.secret, "db", ["team-a", "team-b"], daemon)
        expectReplicas(.configMap, "db", ["team-a", "team-b"], daemon)
        try cluster.patch(.secret, "apps", "db", ["metadata": ["annotations": [Key.exclude: "team-b"]]])
        expectReplicas(.secret, "db", ["team-a"], daemon)
        XCTAssertEqual(cluster.replicas(.configMap, "db"), ["team-a", "team-b"], "the ConfigMap of the same name keeps its replica")
    }

    func testAnExpiredReplicaIsRecordedNotRecreatedAndResumesWhenTheRecordIsEditedOrTheTTLRemoved() throws {
        try namespaces("apps", "team-a", "team-b")
        let daemon = try startDaemon()
        try cluster.secret("apps", "temp", annotations: [Key.replicateTo: "team-*", Key.ttl: "2s"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "temp", ["team-a", "team-b"], daemon)
        let stamp = try XCTUnwrap(cluster.annotations(.secret, "team-a", "temp")[Key.expiresAt], "expires-at is stamped at creation")
        let expiry = try XCTUnwrap(ISO8601DateFormatter().date(from: stamp), "expires-at is RFC 3339: \(stamp)")
        XCTAssertLessThan(abs(expiry.timeIntervalSinceNow - 2), 2, stamp)

        expect("both replicas expire and are recorded on the source", daemon) {
            cluster.replicas(.secret, "temp").isEmpty
                && Set((cluster.annotations(.secret, "apps", "temp")[Key.expired] ?? "").split(separator: ",")) == ["team-a", "team-b"]
        }
        expect("each expiry is audited", daemon) { daemon.audit("expire").compactMap { $0["target_namespace"] }.sorted() == ["team-a", "team-b"] }
        expectStays("an expired replica is not recreated") { cluster.replicas(.secret, "temp").isEmpty }

        // Editing the record resumes replication there (for another TTL).
        try cluster.patch(.secret, "apps", "temp", ["metadata": ["annotations": [Key.expired: "team-b"]]])
        expectReplicas(.secret, "temp", ["team-a"], daemon)
        // Removing replica-ttl resumes everywhere, for good, and clears the record.
        try cluster.patch(.secret, "apps", "temp", ["metadata": ["annotations": [Key.ttl: .null]]])
        expectReplicas(.secret, "temp", ["team-a", "team-b"], daemon)
        expect("no expiry remains", daemon) {
            cluster.annotations(.secret, "apps", "temp")[Key.expired] == nil
                && ["team-a", "team-b"].allSatisfy { cluster.annotations(.secret, $0, "temp")[Key.expiresAt] == nil }
        }
        expectStays("the replicas stay past the old TTL", for: 2.5) { cluster.replicas(.secret, "temp") == ["team-a", "team-b"] }
    }

    func testOrphansLeftWhileTheDaemonWasDownAreRemovedAtStart() throws {
        try namespaces("apps", "team-a", "team-b", "keep")
        let first = try startDaemon()
        try cluster.secret("apps", "gone", annotations: [Key.replicateTo: "team-a"], data: ["k": "s3cr3t-alpha"])
        try cluster.configMap("apps", "narrowed", annotations: [Key.replicateTo: "team-*,keep"], data: ["k": "v"])
        expectReplicas(.secret, "gone", ["team-a"], first)
        expectReplicas(.configMap, "narrowed", ["team-a", "team-b", "keep"], first)
        stop(first)
        // While the daemon is down: one source deleted outright, another narrowed.
        try cluster.deleteBypassingTheFinalizer(.secret, "apps", "gone")
        try cluster.patch(.configMap, "apps", "narrowed", ["metadata": ["annotations": [Key.replicateTo: "keep"]]])
        let second = try startDaemon()
        expectReplicas(.secret, "gone", [], second)
        expectReplicas(.configMap, "narrowed", ["keep"], second)
        let orphans = Set(second.audit("orphan").compactMap { line in line["source"].map { "\($0) in \(line["target_namespace"] ?? "")" } })
        XCTAssertEqual(orphans, ["apps/gone in team-a", "apps/narrowed in team-a", "apps/narrowed in team-b"], "the start-up audit names each orphan")
    }

    func testAnOrphanAppearingWhileTheDaemonRunsIsRemovedFromTheWatch() throws {
        try namespaces("apps", "team-a")
        let daemon = try startDaemon()
        try cluster.secret("apps", "real", annotations: [Key.replicateTo: "team-a"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "real", ["team-a"], daemon)
        // A managed replica whose source never existed (e.g. restored from a backup).
        try cluster.secret("team-a", "restored", annotations: [Key.sourceFrom: "Secret/apps/restored"], labels: [Key.managedBy: "spillway"],
                           data: ["k": "s3cr3t-beta"])
        expectReplicas(.secret, "restored", [], daemon)
        XCTAssertEqual(cluster.replicas(.secret, "real"), ["team-a"], "only the orphan goes")
    }
}
