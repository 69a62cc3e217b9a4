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

    /// The audit plans each source over the namespaces holding its replicas only; what it finds
    /// must be exactly what a plan over every namespace would delete, whatever the targeting.
    func testTheAuditDeletesWhatAPlanOverEveryNamespaceWould() {
        let all = [World.namespace("kube-system"), World.namespace("default"),
                   World.namespace("team-a", labels: ["tier": "gold"]), World.namespace("team-b", labels: ["tier": "silver"]),
                   World.namespace("team-c", acceptFrom: "Secret/default/other"), World.namespace("ops", labels: ["tier": "gold"]),
                   World.namespace("old", terminating: true)]
        let specs: [[String: String]] = [
            [Vocabulary.replicateTo: "team-*"], [Vocabulary.replicateTo: "team-a,ops"],
            [Vocabulary.replicateToMatching: "tier=gold"], [Vocabulary.replicateTo: "all", Vocabulary.excludeNamespaces: "team-b"],
            [Vocabulary.replicateTo: "kube-system,team-*"], [Vocabulary.replicateTo: "*"], [:],
        ]
        let everywhere = ["kube-system", "team-a", "team-b", "team-c", "ops", "old", "gone"]
        for (i, before) in specs.enumerated() {
            for (j, now) in specs.enumerated() {
                let name = "s\(i)-\(j)"
                let old = World.secret("default", name, annotations: before.isEmpty ? [Vocabulary.replicateTo: "all"] : before)
                let source = World.secret("default", name, annotations: now)
                let replicas = everywhere.map { World.replicaOf(old, in: $0) }
                for sources in [[source], []] {
                    var byKey: [ObjectKey: ObservedObject] = [:]
                    for replica in replicas { byKey[ObjectKey(kind: .secret, namespace: replica.namespace, name: name)] = replica }
                    let found = Planner().auditOrphans(replicas: byKey, sources: sources, namespaces: all, now: World.now)
                    let plan = Planner().plan(key: old.key, source: sources.first, namespaces: all, observed: replicas, now: World.now)
                    let expected = plan.decisions.filter {
                        if case .delete = $0.action { [.sourceDeleted, .replicationStopped, .notSelected, .excluded, .protectedNamespace,
                                                       .consentDenied].contains($0.cause) } else { false }
                    }.map(\.namespace)
                    XCTAssertEqual(found.map(\.replica.namespace).sorted(), expected.sorted(), "\(before) → \(now), source \(sources.isEmpty ? "gone" : "kept")")
                }
            }
        }
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
