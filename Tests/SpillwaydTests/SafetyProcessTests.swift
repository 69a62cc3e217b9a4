import Foundation
import KubeEmulator
import XCTest

/// Nothing lost, with the real spillwayd process: unmanaged objects, adoption, two sources of
/// one name, replicas that look like sources, malformed annotations.
final class SafetyProcessTests: ProcessTestCase {
    func testAPreexistingUnmanagedObjectIsLeftUntouchedWithAReplicationSkippedEvent() throws {
        try namespaces("apps", "team-a", "team-b")
        try cluster.secret("team-b", "db", labels: ["owner": "team-b"], data: ["k": "s3cr3t-gamma"])
        let before = try XCTUnwrap(cluster.object(.secret, "team-b", "db"))
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-*"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["team-a"], daemon)
        expect("a ReplicationSkipped event names the unmanaged object", daemon) {
            cluster.events(about: "db", in: "apps").contains { $0.reason == "ReplicationSkipped" && $0.note.contains("team-b/db") }
        }
        expect("the conflict is audited", daemon) { daemon.audit("conflict").contains { $0["target_namespace"] == "team-b" } }
        XCTAssertEqual(cluster.object(.secret, "team-b", "db"), before, "not one field changed")
        // The daemon keeps no unrelated objects, so it may learn of this one from a create the
        // API refuses (409): a create can never overwrite. Nothing else is sent there.
        let attempts = cluster.emulator.requests.writes.filter { $0.namespace == "team-b" }.map { "\($0.verb) \($0.resource) \($0.code)" }
        XCTAssertTrue(Set(attempts).isSubset(of: ["create secrets 409"]), "\(attempts)")
    }

    func testForceAdoptTakesOverAnUnmanagedObjectOnlyWhenTheDaemonAllowsIt() throws {
        try namespaces("apps", "team-a")
        try cluster.secret("team-a", "db", data: ["k": "s3cr3t-gamma"])
        let refusing = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-a", Key.forceAdopt: "true"], data: ["k": "s3cr3t-alpha"])
        expect("skipped, and told why", refusing) {
            cluster.events(about: "db", in: "apps").contains { $0.reason == "ReplicationSkipped" && $0.note.contains("--allow-force-adopt") }
        }
        XCTAssertEqual(cluster.secretData("team-a", "db"), ["k": "s3cr3t-gamma"])
        XCTAssertNil(cluster.labels(.secret, "team-a", "db")[Key.managedBy])
        stop(refusing)

        let allowing = try startDaemon(["--allow-force-adopt"])
        expectReplicas(.secret, "db", ["team-a"], allowing)
        XCTAssertEqual(cluster.secretData("team-a", "db"), ["k": "s3cr3t-alpha"])
        XCTAssertEqual(cluster.annotations(.secret, "team-a", "db")[Key.sourceFrom], "Secret/apps/db")
        expect("the adoption is audited", allowing) { allowing.audit("adopt").compactMap { $0["target_namespace"] } == ["team-a"] }
    }

    func testTwoSourcesOfOneNameTheExistingOwnerKeepsItAndTheOtherTakesOverWhenItGoes() throws {
        try namespaces("first", "second", "shared")
        let daemon = try startDaemon()
        try cluster.secret("first", "db", annotations: [Key.replicateTo: "shared"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["shared"], daemon)
        try cluster.secret("second", "db", annotations: [Key.replicateTo: "shared"], data: ["k": "s3cr3t-beta"])
        expect("the second source is told who owns it", daemon) {
            cluster.events(about: "db", in: "second").contains { $0.reason == "ReplicationSkipped" && $0.note.contains("Secret/first/db") }
        }
        XCTAssertEqual(cluster.annotations(.secret, "shared", "db")[Key.sourceFrom], "Secret/first/db", "the existing owner keeps it")
        XCTAssertEqual(cluster.secretData("shared", "db"), ["k": "s3cr3t-alpha"])
        try cluster.delete(.secret, "first", "db")
        expect("the other source takes over by itself", daemon) {
            cluster.annotations(.secret, "shared", "db")[Key.sourceFrom] == "Secret/second/db" && cluster.secretData("shared", "db") == ["k": "s3cr3t-beta"]
        }
    }

    func testAManagedReplicaIsNeverASourceEvenWithReplicationAnnotations() throws {
        try namespaces("apps", "team-a", "team-b")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-a"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["team-a"], daemon)
        // Someone annotates the replica as if it were a source: no loop, no copy of a copy.
        try cluster.patch(.secret, "team-a", "db", ["metadata": ["annotations": [Key.replicateTo: "team-b"]]])
        expect("the replica is put back as its source says", daemon) { cluster.annotations(.secret, "team-a", "db")[Key.replicateTo] == nil }
        try cluster.secret("apps", "marker", annotations: [Key.replicateTo: "team-b"], data: ["k": "s3cr3t-beta"])
        expectReplicas(.secret, "marker", ["team-b"], daemon)
        XCTAssertNil(cluster.object(.secret, "team-b", "db"))
        XCTAssertEqual(cluster.finalizers(.secret, "team-a", "db"), [], "a replica never gets the source finalizer")
    }

    func testAMalformedAnnotationChangesNothingAndSaysWhyNamingTheSourceAndTheValue() throws {
        try namespaces("apps", "team-a", "team-b")
        let daemon = try startDaemon()
        let malformed = [(Key.matching, "env in (prod"), (Key.replicateTo, "team-[a"), (Key.ttl, "thirty minutes")]
        for (index, _) in malformed.enumerated() {
            try cluster.secret("apps", "db\(index)", annotations: [Key.replicateTo: "team-a"], data: ["k": "s3cr3t-alpha"])
            expectReplicas(.secret, "db\(index)", ["team-a"], daemon)
        }
        cluster.emulator.accounting.reset()
        for (index, (annotation, value)) in malformed.enumerated() {
            try cluster.patch(.secret, "apps", "db\(index)", ["metadata": ["annotations": [annotation: .string(value)]]])
        }
        for (index, (annotation, value)) in malformed.enumerated() {
            expect("a Warning event on db\(index) names \(annotation) and \"\(value)\"", daemon) {
                cluster.events(about: "db\(index)", in: "apps").contains {
                    $0.type == "Warning" && $0.reason == "ReplicationFailed" && $0.note.contains(annotation) && $0.note.contains(value)
                }
            }
            expect("a warning log line names apps/db\(index) and \"\(value)\"", daemon) {
                daemon.records.contains { $0["level"] == "warning" && $0["source"] == "apps/db\(index)" && ($0["msg"] ?? "").contains(value) }
            }
        }
        expectStays("the replicas stay and nothing is written") {
            (0..<malformed.count).allSatisfy { cluster.replicas(.secret, "db\($0)") == ["team-a"] } && cluster.objectWrites.isEmpty
        }
    }

    func testAWriteTheAPIRefusesIsReportedOnceAndRetriedWithBackoffWhileOtherNamespacesProceed() throws {
        let all: Set<String> = ["get", "list", "watch", "create", "update", "patch", "delete"]
        cluster = try TestCluster(self, restricted: ["limited"], authorization: [
            AccessRule(users: ["limited"], verbs: all, resources: ["namespaces", "configmaps", "events"]),
            AccessRule(users: ["limited"], verbs: all.subtracting(["create"]), resources: ["secrets"]),
            // Creating Secrets is allowed everywhere but in "locked".
            AccessRule(users: ["limited"], verbs: ["create"], resources: ["secrets"], namespaces: ["apps", "open"]),
        ])
        try namespaces("apps", "open", "locked")
        let daemon = try startDaemon(as: "limited")
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "open,locked"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["open"], daemon)
        expect("a ReplicationFailed event names the refused write", daemon) {
            cluster.events(about: "db", in: "apps").contains { $0.reason == "ReplicationFailed" && $0.note.contains("locked/db") && $0.note.contains("403") }
        }
        let emulator = cluster.emulator
        let refused = { emulator.requests.writes.filter { $0.namespace == "locked" && $0.code == 403 }.map(\.time) }
        expect("the refused create is retried", daemon) { refused().count >= 7 }
        // Backoff doubles from 5 ms: the 7th attempt comes at least 160 ms after the 6th.
        let times = refused().prefix(7)
        let gaps = zip(times, times.dropFirst()).map { $1.timeIntervalSince($0) }
        XCTAssertGreaterThanOrEqual(gaps.last ?? 0, 0.15, "retries back off: \(gaps)")
        XCTAssertGreaterThan(gaps.last ?? 0, gaps.first ?? 0, "retries back off: \(gaps)")
        XCTAssertEqual(cluster.events(about: "db", in: "apps").filter { $0.reason == "ReplicationFailed" }.count, 1,
                       "the same failure is reported once, not on every retry")
        XCTAssertTrue(daemon.records.contains { $0["level"] == "warning" && $0["source"] == "apps/db" && ($0["error"] ?? "").contains("locked/db") },
                      daemon.tail)
    }
}
