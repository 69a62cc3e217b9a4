import SpillwayContract
import XCTest

final class OrphanAuditTests: XCTestCase {
    private let namespaces = World.namespaces("default", "team-a", "team-b")
    private let toTeams = [Vocabulary.replicateTo: "team-*"]

    private func audit(_ replicas: [ObservedObject], of name: String = "db-pass",
                       sources: [SourceObject]) -> [OrphanDeletion] {
        var byKey: [ObjectKey: ObservedObject] = [:]
        for replica in replicas {
            byKey[ObjectKey(kind: .secret, namespace: replica.namespace, name: name)] = replica
        }
        return Planner().auditOrphans(replicas: byKey, sources: sources, namespaces: namespaces, now: World.now)
    }

    func testReplicasOfAGoneSourceAreOrphans() {
        let source = World.secret(annotations: toTeams)
        let found = audit([World.replicaOf(source, in: "team-a")], sources: [])
        XCTAssertEqual(found.map(\.replica), [ObjectKey(kind: .secret, namespace: "team-a", name: "db-pass")])
        XCTAssertEqual(found.first?.source, source.key)
        XCTAssertEqual(found.first?.cause, .sourceDeleted)
        XCTAssertEqual(found.first?.precondition, Precondition(uid: "uid-team-a", resourceVersion: "1"))
    }

    func testReplicasNoLongerTargetedAreOrphans() {
        let before = World.secret(annotations: toTeams)
        let now = World.secret(annotations: [Vocabulary.replicateTo: "team-a"])
        let found = audit([World.replicaOf(before, in: "team-a"), World.replicaOf(before, in: "team-b")], sources: [now])
        XCTAssertEqual(found.map(\.replica.namespace), ["team-b"])
        XCTAssertEqual(found.first?.cause, .notSelected)
    }

    func testReplicasOfAStoppedSourceAreOrphans() {
        let before = World.secret(annotations: toTeams)
        let found = audit([World.replicaOf(before, in: "team-a")], sources: [World.secret(annotations: [:])])
        XCTAssertEqual(found.first?.cause, .replicationStopped)
    }

    func testTargetedReplicasAreKept() {
        let source = World.secret(annotations: toTeams)
        XCTAssertEqual(audit([World.replicaOf(source, in: "team-a")], sources: [source]), [])
    }

    func testSourceWithMalformedAnnotationsKeepsItsReplicas() {
        let before = World.secret(annotations: toTeams)
        let broken = World.secret(annotations: [Vocabulary.replicateTo: "BROKEN"])
        XCTAssertEqual(audit([World.replicaOf(before, in: "team-a")], sources: [broken]), [])
    }

    func testReplicasThatCannotBeAttributedAreKept() {
        var noSource = World.replicaOf(World.secret(annotations: toTeams), in: "team-a")
        noSource.annotations[Vocabulary.sourceFrom] = nil
        var renamed = World.replicaOf(World.secret(annotations: toTeams), in: "team-b")
        renamed.annotations[Vocabulary.sourceFrom] = "Secret/default/another-name"
        XCTAssertEqual(audit([noSource, renamed], sources: []), [])
    }

    func testExpiredReplicasAreLeftToTheSourcesReconcile() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.replicaTTL: "1h"])
        let expired = World.replicaOf(source, in: "team-a", expiresAt: "2000-01-01T00:00:00Z")
        XCTAssertEqual(audit([expired], sources: [source]), [])
    }

    func testUnmanagedObjectsAreNeverOrphans() {
        XCTAssertEqual(audit([World.unmanaged(in: "team-a")], sources: []), [])
    }
}
