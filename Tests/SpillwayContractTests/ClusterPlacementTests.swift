import Foundation
import SpillwayContract
import XCTest

/// `replicate-to-clusters`, `source-cluster` and `accept-from`'s cluster prefix: the same planner
/// planning the watched cluster and a target cluster.
final class ClusterPlacementTests: XCTestCase {
    private let local = Placement(sourceCluster: "mgmt", allowedClusters: ["prod-eu", "prod-us", "edge-1"])
    private func target(_ name: String) -> Placement {
        Placement(cluster: name, sourceCluster: "mgmt", allowedClusters: ["prod-eu", "prod-us", "edge-1"])
    }

    private func plan(_ source: SourceObject?, key: ObjectKey? = nil, in placement: Placement, namespaces: [NamespaceInfo],
                      observed: [ObservedObject] = [], options: Options = Options()) -> Plan {
        Planner(options: options, placement: placement).plan(
            key: key ?? source!.key, source: source, namespaces: namespaces, observed: observed, now: World.now)
    }

    /// A replica of `source` as the planner for `placement` writes it.
    private func replica(of source: SourceObject, in namespace: String, placement: Placement) -> ObservedObject {
        let spec = try! ReplicationSpec.parse(source.annotations)
        return World.observed(ReplicaTemplate(source: source, spec: spec, options: Options(), placement: placement)
            .replica(in: namespace, expiresAt: nil))
    }

    // MARK: parsing

    func testClusterListParsesLocalNamesAndGlobs() throws {
        let parsed = try ClusterPattern.parseList(" local, prod-eu ,,edge-*")
        XCTAssertEqual(parsed.map(\.description), ["local", "prod-eu", "edge-*"])
        XCTAssertEqual(parsed[0], .local)
        XCTAssertEqual(parsed[1], .name("prod-eu"))
        XCTAssertTrue(parsed[2].matches(context: "edge-7") && !parsed[2].matches(context: "prod-eu"))
        XCTAssertEqual(try ClusterPattern.parseList("arn:aws:eks:eu-west-1:1234:cluster/prod,gke_p_z_c"),
                       [.name("arn:aws:eks:eu-west-1:1234:cluster/prod"), .name("gke_p_z_c")])
        XCTAssertThrowsError(try ClusterPattern.parseList("prod eu"))
        XCTAssertThrowsError(try ClusterPattern.parseList("prod-[eu"))
        let glob = try ClusterPattern.parseList("*")[0]
        XCTAssertTrue(glob.matches(context: "prod-eu"))
        XCTAssertFalse(ClusterPattern.local.matches(context: "local"), "only the reserved name reaches the watched cluster")
    }

    func testBlankClusterListIsAbsentAndAMalformedOneIsReported() throws {
        XCTAssertNil(try ReplicationSpec.parse([Vocabulary.replicateTo: "a", Vocabulary.replicateToClusters: " , "]).clusters)
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.replicateToClusters: "prod eu"])
        let events = plan(source, in: local, namespaces: World.namespaces("default", "team-a")).events
        XCTAssertEqual(events.map(\.reason), [Vocabulary.reasonFailed])
        XCTAssertTrue(events[0].message.contains(Vocabulary.replicateToClusters), events[0].message)
        XCTAssertEqual(plan(source, in: target("prod-eu"), namespaces: World.namespaces("team-a")), Plan(source: source.key),
                       "a target cluster's plan neither writes nor repeats the event")
    }

    // MARK: which clusters

    func testWithoutTheAnnotationOnlyTheWatchedClusterIsPlanned() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a"])
        XCTAssertEqual(plan(source, in: local, namespaces: World.namespaces("default", "team-a")).created, ["team-a"])
        XCTAssertEqual(plan(source, in: target("prod-eu"), namespaces: World.namespaces("team-a")).created, [])
    }

    func testTheAnnotationNamesExactlyTheClustersAndLocalOnlyByItsName() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.replicateToClusters: "prod-*"])
        let namespaces = World.namespaces("default", "team-a")
        XCTAssertEqual(plan(source, in: local, namespaces: namespaces).created, [], "a glob never reaches the watched cluster")
        XCTAssertEqual(plan(source, in: target("prod-eu"), namespaces: namespaces).created, ["team-a"])
        XCTAssertEqual(plan(source, in: target("edge-1"), namespaces: namespaces).created, [])
        var withLocal = source
        withLocal.annotations[Vocabulary.replicateToClusters] = "local,edge-1"
        XCTAssertEqual(plan(withLocal, in: local, namespaces: namespaces).created, ["team-a"])
        XCTAssertEqual(plan(withLocal, in: target("edge-1"), namespaces: namespaces).created, ["team-a"])
    }

    func testAClusterDroppedFromTheAnnotationLosesExactlyThisSourcesReplicas() {
        let before = World.secret(annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.replicateToClusters: "local,prod-eu"])
        var after = before
        after.annotations[Vocabulary.replicateToClusters] = "prod-eu"
        let ours = World.replicaOf(before, in: "team-a")
        let localPlan = plan(after, in: local, namespaces: World.namespaces("default", "team-a"), observed: [ours])
        XCTAssertEqual(localPlan.deleted, ["team-a"])
        XCTAssertEqual(localPlan.decision("team-a")?.cause, .notSelected)
        XCTAssertEqual(localPlan.sourceActions, [], "the finalizer stays: prod-eu still holds replicas")

        let remote = replica(of: before, in: "team-a", placement: target("prod-us"))
        let dropped = plan(after, in: target("prod-us"), namespaces: World.namespaces("team-a"), observed: [remote])
        XCTAssertEqual(dropped.deleted, ["team-a"])
        XCTAssertTrue(dropped.decision("team-a")!.reason.contains("cluster prod-us is not named"), dropped.decision("team-a")!.reason)
    }

    func testSelectionAndExclusionAreEvaluatedAgainstEachClustersOwnNamespaces() {
        let source = World.secret(annotations: [
            Vocabulary.replicateTo: "team-*", Vocabulary.replicateToMatching: "tier=web", Vocabulary.excludeNamespaces: "team-qa",
            Vocabulary.replicateToClusters: "local,prod-eu",
        ])
        let watched = [World.namespace("default"), World.namespace("team-a"), World.namespace("web", labels: ["tier": "db"])]
        let prodEU = [World.namespace("default"), World.namespace("team-b"), World.namespace("team-qa"),
                      World.namespace("web", labels: ["tier": "web"])]
        XCTAssertEqual(plan(source, in: local, namespaces: watched).created, ["team-a"])
        XCTAssertEqual(plan(source, in: target("prod-eu"), namespaces: prodEU).created, ["team-b", "web"])
    }

    func testInATargetClusterTheNamespaceNamedLikeTheSourcesOwnIsATarget() {
        let source = World.secret("platform", "registry", annotations: [Vocabulary.replicateTo: "all", Vocabulary.replicateToClusters: "prod-eu"])
        let created = plan(source, in: target("prod-eu"), namespaces: World.namespaces("platform", "apps")).created
        XCTAssertEqual(created, ["platform", "apps"])
    }

    // MARK: ownership

    func testReplicasInATargetClusterCarryTheSourceClusterAndAreInPlaceNextTime() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.replicateToClusters: "prod-eu"])
        let first = plan(source, in: target("prod-eu"), namespaces: World.namespaces("team-a"))
        let written = first.decision("team-a")?.action.replica
        XCTAssertEqual(written?.annotations[Vocabulary.sourceCluster], "mgmt")
        XCTAssertEqual(written?.annotations[Vocabulary.sourceFrom], "Secret/default/db-pass")
        XCTAssertEqual(first.sourceActions, [], "the watched cluster's plan owns the finalizer")
        let again = plan(source, in: target("prod-eu"), namespaces: World.namespaces("team-a"), observed: World.apply(first, to: []))
        XCTAssertTrue(again.isSteadyState, "\(again)")
        XCTAssertNil(plan(source, in: local, namespaces: World.namespaces("default", "team-a")).decision("team-a"),
                     "the watched cluster is not named")
    }

    func testAReplicaFromAnotherClusterIsNeverTakenOrDeletedInTheWatchedCluster() {
        // Another management host (cluster "hub") wrote Secret/default/db-pass into team-a here.
        let foreignSource = World.secret(annotations: [Vocabulary.replicateTo: "team-a"])
        var hub = target("this")
        hub.sourceCluster = "hub"
        let foreign = replica(of: foreignSource, in: "team-a", placement: hub)

        let ours = World.secret(annotations: [Vocabulary.replicateTo: "team-a"])
        let live = plan(ours, in: local, namespaces: World.namespaces("default", "team-a"), observed: [foreign])
        XCTAssertEqual(live.decision("team-a")?.action, .skip)
        XCTAssertEqual(live.decision("team-a")?.cause, .ownedByAnotherSource)
        XCTAssertTrue(live.events.contains { $0.message == "Secret team-a/db-pass: owned by Secret/default/db-pass of cluster hub; the existing owner wins" },
                      "\(live.events)")

        let gone = plan(nil, key: ours.key, in: local, namespaces: World.namespaces("team-a"), observed: [foreign])
        XCTAssertEqual(gone.writes, [], "a source of this name deleted here never deletes the other cluster's replica")
        XCTAssertEqual(Planner(placement: local).auditOrphans(replicas: [ours.key.inNamespace("team-a"): foreign], sources: [],
                                                              namespaces: World.namespaces("team-a"), now: World.now), [])
    }

    func testInATargetClusterItsOwnReplicasAndAnotherHostsAreNotOurs() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-*", Vocabulary.replicateToClusters: "prod-eu"])
        let native = World.replicaOf(source, in: "team-a")          // prod-eu's own spillwayd's replica
        var other = target("prod-eu")
        other.sourceCluster = "hub"
        let hubs = replica(of: source, in: "team-b", placement: other)  // another management host's
        let namespaces = World.namespaces("team-a", "team-b", "team-c")
        let planned = plan(source, in: target("prod-eu"), namespaces: namespaces, observed: [native, hubs])
        XCTAssertEqual(planned.created, ["team-c"])
        XCTAssertEqual(planned.decision("team-a")?.reason, "owned by Secret/default/db-pass of that cluster itself")
        XCTAssertEqual(planned.decision("team-b")?.reason, "owned by Secret/default/db-pass of cluster hub")
        XCTAssertTrue(planned.events.contains { $0.message.hasPrefix("Secret team-a/db-pass in cluster prod-eu: owned by") }, "\(planned.events)")

        let orphans = Planner(placement: target("prod-eu")).auditOrphans(
            replicas: [source.key.inNamespace("team-a"): native, source.key.inNamespace("team-b"): hubs], sources: [],
            namespaces: namespaces, now: World.now)
        XCTAssertEqual(orphans, [], "neither is ours to audit")
    }

    func testOrphanAuditInATargetClusterRemovesOurReplicaOfAGoneSource() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.replicateToClusters: "prod-eu"])
        let ours = replica(of: source, in: "team-a", placement: target("prod-eu"))
        let orphans = Planner(placement: target("prod-eu")).auditOrphans(
            replicas: [source.key.inNamespace("team-a"): ours], sources: [], namespaces: World.namespaces("team-a"), now: World.now)
        XCTAssertEqual(orphans.map(\.replica), [source.key.inNamespace("team-a")])
        XCTAssertEqual(orphans.first?.cause, .sourceDeleted)
    }

    func testADeletedSourceIsCleanedUpInATargetClusterWithoutFinalizerActions() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.replicateToClusters: "prod-eu"], deleting: true)
        let ours = replica(of: source, in: "team-a", placement: target("prod-eu"))
        let cleanup = plan(source, in: target("prod-eu"), namespaces: World.namespaces("team-a"), observed: [ours])
        XCTAssertEqual(cleanup.deleted, ["team-a"])
        let done = plan(source, in: target("prod-eu"), namespaces: World.namespaces("team-a"))
        XCTAssertEqual(done.sourceActions, [], "only the watched cluster's plan releases the finalizer")
    }

    // MARK: consent

    func testAcceptFromWithoutAClusterAdmitsOnlySourcesOfItsOwnCluster() {
        let source = World.secret("platform", "registry", annotations: [Vocabulary.replicateTo: "team-*", Vocabulary.replicateToClusters: "local,prod-eu"])
        let namespaces = [World.namespace("team-a", acceptFrom: "Secret/platform/*"), World.namespace("team-b", acceptFrom: "mgmt:Secret/platform/*"),
                          World.namespace("team-c", acceptFrom: "*:Secret/*/*"), World.namespace("team-d", acceptFrom: "hub:Secret/platform/*")]
        XCTAssertEqual(plan(source, in: local, namespaces: namespaces).created, ["team-a", "team-b", "team-c"],
                       "in its own cluster a source of cluster mgmt matches mgmt:")
        let remote = plan(source, in: target("prod-eu"), namespaces: namespaces)
        XCTAssertEqual(remote.created, ["team-b", "team-c"])
        XCTAssertEqual(remote.decision("team-a")?.cause, .consentDenied)
        XCTAssertTrue(remote.decision("team-a")!.reason.contains("mgmt:Secret/platform/registry"), remote.decision("team-a")!.reason)
        XCTAssertTrue(remote.events.contains { $0.message.hasPrefix("2 namespaces in cluster prod-eu do not accept Secret/platform/registry") },
                      "\(remote.events)")
    }

    func testAcceptFromClusterPrefixesParse() throws {
        let patterns = try AcceptPattern.parseList("mgmt:Secret/platform/*, prod-*:ConfigMap/*/x,Secret/a/b")
        XCTAssertEqual(patterns.map(\.description), ["mgmt:Secret/platform/*", "prod-*:ConfigMap/*/x", "Secret/a/b"])
        XCTAssertThrowsError(try AcceptPattern.parseList(":Secret/a/b"))
        XCTAssertThrowsError(try AcceptPattern.parseList("MGMT:Secret/a/b"))
        XCTAssertThrowsError(try AcceptPattern.parseList("a:b:Secret/a/b"))
    }

    func testPerClusterOptionsApplyWhereThePlannerWrites() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "all", Vocabulary.replicateToClusters: "local,prod-eu"])
        let namespaces = World.namespaces("default", "kube-system", "monitoring", "apps")
        let strict = Options(protectedNamespaces: ["kube-system", "monitoring"], requireNamespaceConsent: false)
        XCTAssertEqual(plan(source, in: local, namespaces: namespaces).created, ["monitoring", "apps"])
        XCTAssertEqual(plan(source, in: target("prod-eu"), namespaces: namespaces, options: strict).created, ["default", "apps"])
        let consent = Options(requireNamespaceConsent: true)
        XCTAssertEqual(plan(source, in: target("prod-eu"), namespaces: namespaces, options: consent).created, [])
    }

    // MARK: what the watched cluster's plan says

    func testTheWatchedClustersPlanWarnsAboutClustersItMayNotWriteTo() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.replicateToClusters: "local,prod-eu,staging,dev-*"])
        let events = plan(source, in: local, namespaces: World.namespaces("default", "team-a")).events
        XCTAssertEqual(events.map(\.message), [
            "spillway.kroy.io/replicate-to-clusters names staging, which spillwayd may not write to (--target-contexts); nothing is written there",
        ])
        XCTAssertEqual(plan(source, in: target("prod-eu"), namespaces: World.namespaces("team-a")).events, [])
    }

    func testReplicaTTLAppliesToTheWatchedClusterOnly() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.replicaTTL: "1h",
                                                Vocabulary.replicateToClusters: "local,prod-eu"])
        let watched = plan(source, in: local, namespaces: World.namespaces("default", "team-a"))
        XCTAssertNotNil(watched.decision("team-a")?.action.replica?.annotations[Vocabulary.expiresAt])
        XCTAssertTrue(watched.events.contains { $0.message.contains("replicas in other clusters do not expire") }, "\(watched.events)")
        let remote = plan(source, in: target("prod-eu"), namespaces: World.namespaces("team-a"))
        XCTAssertNil(remote.decision("team-a")?.action.replica?.annotations[Vocabulary.expiresAt])
        XCTAssertNil(remote.requeueAt)
    }

    func testADeniedSecretTypeIsReportedOnceAndWritesNowhere() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.replicateToClusters: "local,prod-eu"],
                                  type: SecretType.serviceAccountToken)
        XCTAssertEqual(plan(source, in: local, namespaces: World.namespaces("default", "team-a")).events.count, 1)
        XCTAssertEqual(plan(source, in: target("prod-eu"), namespaces: World.namespaces("team-a")), Plan(source: source.key))
    }
}
