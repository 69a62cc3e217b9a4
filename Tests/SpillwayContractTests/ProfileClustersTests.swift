import Foundation
import KubeWire
import SpillwayContract
import XCTest

/// A SpillwayProfile's `targetClusters`: read and checked like `replicate-to-clusters`, planned by
/// the same planner for the watched cluster and for each target cluster, and said per cluster in
/// the profile's status.
final class ProfileClustersTests: XCTestCase {
    private let key = NamespacedName(namespace: "platform", name: "base")
    private let allowed: Set<String> = ["prod-eu", "prod-us"]

    private func planner(_ cluster: String? = nil) -> Planner {
        Planner(options: Options(), placement: Placement(cluster: cluster, sourceCluster: "mgmt", allowedClusters: allowed))
    }

    private func spec(_ clusters: JSONValue?) -> JSONValue {
        var spec: JSONValue = ["targetNamespaces": ["team-*"], "sources": [["kind": "Secret", "name": "db"]]]
        if let clusters { spec["targetClusters"] = clusters }
        return spec
    }

    private func profile(_ clusters: JSONValue?, finalizer: Bool = true, deleting: Bool = false) -> ProfileObject {
        let (parsed, problems) = ProfileSpec.read(spec(clusters))
        return ProfileObject(key: key, uid: "p-uid", resourceVersion: "4", finalizers: finalizer ? [Vocabulary.finalizer] : [],
                             deletionTimestamp: deleting ? World.now : nil, spec: parsed, problems: problems)
    }

    private let source = World.secret("platform", "db", finalizer: false)

    private func plan(_ profile: ProfileObject?, in cluster: String? = nil, namespaces: [NamespaceInfo],
                      observed: [ObservedObject] = [], owned: Set<ObjectKey> = []) -> ProfilePlan {
        planner(cluster).planProfile(key, profile: profile, sources: [source.key: source], namespaces: namespaces,
                                     observed: [source.key: Dictionary(uniqueKeysWithValues: observed.map { ($0.namespace, $0) })],
                                     owned: owned, now: World.now)
    }

    /// The profile's replica of `source` as the planner for `cluster` writes it.
    private func replica(in namespace: String, cluster: String?) -> ObservedObject {
        let profile = profile(["local", "prod-*"])
        let decision = plan(profile, in: cluster, namespaces: World.namespaces(namespace)).plans.first?.decisions
            .first { $0.namespace == namespace }
        guard case .create(let replica)? = decision?.action else {
            XCTFail("no create in \(namespace)")
            return World.unmanaged(in: namespace)
        }
        return World.observed(replica)
    }

    // MARK: - Reading the spec

    func testTargetClustersReadsLocalNamesAndGlobsAndAbsentMeansTheWatchedClusterOnly() {
        XCTAssertNil(profile(nil).spec.clusters)
        XCTAssertEqual(profile(nil).spec.replicationSpec(for: profile(nil).spec.sources[0]).clusters, nil)
        let read = profile(["local", "prod-eu", "edge-[a-c]*", "arn:aws:eks:eu-west-1:1234:cluster/prod"])
        XCTAssertEqual(read.problems, [])
        XCTAssertEqual(read.spec.clusters?.map(\.description), ["local", "prod-eu", "edge-[a-c]*", "arn:aws:eks:eu-west-1:1234:cluster/prod"])
        XCTAssertEqual(read.spec.replicationSpec(for: read.spec.sources[0]).clusters, read.spec.clusters,
                       "the planner reads the same field an annotation source has")
    }

    func testMalformedTargetClustersAreReportedNamingTheEntry() {
        XCTAssertEqual(profile([]).problems,
                       ["spec.targetClusters: must name at least one cluster; leave it out to replicate into the watched cluster only"])
        XCTAssertEqual(profile("prod-eu").problems,
                       ["spec.targetClusters: must be a list of kubeconfig context names or globs (local for the watched cluster)"])
        let bad = profile(["prod-eu", "a,b", 7, "edge-[a", "prod eu"]).problems
        XCTAssertEqual(bad.count, 4, "\(bad)")
        XCTAssertTrue(bad[0].hasPrefix("spec.targetClusters[1]: \"a,b\": one context name or glob per entry"), bad[0])
        XCTAssertEqual(bad[1], "spec.targetClusters[2]: must be a string")
        XCTAssertTrue(bad[2].hasPrefix("spec.targetClusters[3]: "), bad[2])
        XCTAssertTrue(bad[3].hasPrefix("spec.targetClusters[4]: "), bad[3])
        // A malformed spec changes nothing anywhere; the watched cluster's plan says it, once.
        let broken = profile(["a,b"])
        XCTAssertEqual(plan(broken, namespaces: World.namespaces("platform", "team-a")).events.count, 1)
        let remote = plan(broken, in: "prod-eu", namespaces: World.namespaces("team-a"))
        XCTAssertEqual(remote.writes, [])
        XCTAssertEqual(remote.events, [])
    }

    // MARK: - Planning per cluster

    func testEachNamedClusterIsPlannedAgainstItsOwnNamespacesWithSourceClusterAndNoFinalizerWork() throws {
        let profile = profile(["prod-*"])
        // The watched cluster is not named: nothing there.
        let local = plan(profile, namespaces: World.namespaces("platform", "team-a"))
        XCTAssertEqual(local.writes, [])
        XCTAssertEqual(local.summary?.replicas, [:])
        // prod-eu: its own namespaces, the one named like the profile's namespace included.
        let remote = plan(profile, in: "prod-eu", namespaces: World.namespaces("team-x", "team-y", "platform", "other"))
        XCTAssertEqual(Set(remote.writes.map(\.namespace)), ["team-x", "team-y"])
        XCTAssertEqual(remote.actions, [], "the watched cluster's plan owns the finalizer")
        guard case .create(let replica)? = remote.writes.first?.action else { return XCTFail("no create") }
        XCTAssertEqual(replica.annotations[Vocabulary.sourceCluster], "mgmt")
        XCTAssertEqual(replica.annotations[Vocabulary.profileRef], "platform/base")
        XCTAssertEqual(replica.annotations[Vocabulary.sourceFrom], "Secret/platform/db")
        XCTAssertEqual(remote.summary?.replicas, ["team-x": 1, "team-y": 1])
        // A cluster the list does not name gets nothing.
        let unnamed = Planner(options: Options(), placement: Placement(cluster: "edge-1", sourceCluster: "mgmt"))
            .planProfile(key, profile: profile, sources: [source.key: source], namespaces: World.namespaces("team-x"),
                         observed: [:], owned: [], now: World.now)
        XCTAssertEqual(unnamed.writes, [])
    }

    func testATargetClusterWaitsForTheFinalizerAndNamesNotAllowedAreSaid() {
        XCTAssertEqual(plan(profile(["prod-eu"], finalizer: false), in: "prod-eu", namespaces: World.namespaces("team-a")).writes, [],
                       "no replica in a target cluster before the profile holds the finalizer")
        let local = plan(profile(["local", "prod-eu", "staging"], finalizer: false), namespaces: World.namespaces("platform", "team-a"))
        XCTAssertEqual(local.actions, [.addFinalizer])
        XCTAssertEqual(local.events.map(\.message),
                       ["spec.targetClusters names staging, which spillwayd may not write to (--target-contexts); nothing is written there"])
    }

    func testAClusterDroppedFromTheListLosesTheProfilesReplicasThereAndDeletionRemovesThemEverywhere() {
        let ours = replica(in: "team-a", cluster: "prod-eu")
        let owned: Set<ObjectKey> = [source.key]
        let dropped = plan(profile(["local"]), in: "prod-eu", namespaces: World.namespaces("team-a"), observed: [ours], owned: owned)
        XCTAssertEqual(dropped.writes.map(\.action.verb), ["delete"])
        XCTAssertEqual(dropped.plans.first?.decisions.first?.cause, .notSelected)
        let deleting = profile(["prod-eu"], deleting: true)
        let remote = plan(deleting, in: "prod-eu", namespaces: World.namespaces("team-a"), observed: [ours], owned: owned)
        XCTAssertEqual(remote.writes.map(\.action.verb), ["delete"])
        XCTAssertEqual(remote.actions, [], "only the watched cluster's plan removes the finalizer")
        XCTAssertEqual(plan(deleting, namespaces: World.namespaces("platform")).actions, [.removeFinalizer])
    }

    func testAnotherClustersProfileReplicaWithTheSameRefIsNeverOurs() {
        // In prod-eu: a replica another management host's profile platform/base wrote there.
        var theirs = replica(in: "team-a", cluster: "prod-eu")
        theirs.annotations[Vocabulary.sourceCluster] = "other-hub"
        let remote = plan(profile(["prod-eu"]), in: "prod-eu", namespaces: World.namespaces("team-a"), observed: [theirs],
                          owned: [source.key])
        XCTAssertEqual(remote.writes, [])
        XCTAssertEqual(remote.plans.first?.decisions.first?.cause, .ownedByAnotherSource)
        XCTAssertEqual(remote.summary?.held.count, 1)
        // In the watched cluster, a replica of a profile of the same name that another host wrote
        // into it (it carries that host's source-cluster) is not this profile's either.
        let deleting = plan(profile(["local"], deleting: true), namespaces: World.namespaces("platform", "team-a"),
                            observed: [theirs], owned: [source.key])
        XCTAssertEqual(deleting.writes, [])
    }

    // MARK: - Status

    func testTheReadyConditionSaysPerClusterWhatIsMissingOrUnreachable() {
        var summary = ProfileSummary()
        summary.listed = [source.key]
        summary.replicas = ["team-a": 1]
        let fine = ProfileStatus(summary: summary, generation: 2, clusters: [
            ProfileClusterReport(cluster: "prod-eu", replicatedNamespaces: 2),
            ProfileClusterReport(cluster: "prod-us", replicatedNamespaces: 1),
        ])
        XCTAssertTrue(fine.isReady)
        XCTAssertEqual(fine.conditions[1].message,
                       "every replica is in place (the watched cluster: 1 namespace; cluster prod-eu: 2 namespaces; cluster prod-us: 1 namespace)")
        XCTAssertEqual(fine.replicatedNamespaces, ["team-a"], "replicatedNamespaces keeps naming the watched cluster's namespaces")

        let troubled = ProfileStatus(summary: summary, generation: 2, clusters: [
            ProfileClusterReport(cluster: "prod-eu", held: ["Secret team-b/db (unmanaged object)"]),
            ProfileClusterReport(cluster: "prod-us", problem: "unreachable since 2027-01-15T08:00:00Z (connection refused)"),
        ])
        XCTAssertFalse(troubled.isReady)
        XCTAssertEqual(troubled.conditions[1].reason, "TargetsHeld")
        XCTAssertEqual(troubled.conditions[1].message, """
            cluster prod-eu: 1 target is held by another owner, which keeps them: Secret team-b/db (unmanaged object); \
            cluster prod-us: unreachable since 2027-01-15T08:00:00Z (connection refused); its replicas are written once it answers
            """)
        XCTAssertEqual(troubled.conditions[0].status, "True", "SourcesAvailable keeps its meaning: the sources exist")
        let away = ProfileStatus(summary: summary, generation: 2, clusters: [ProfileClusterReport(cluster: "prod-us", problem: "not synced yet")])
        XCTAssertEqual(away.conditions[1].reason, "ClusterUnavailable")
        XCTAssertEqual(ProfileStatus(summary: summary, generation: 2), ProfileStatus(summary: summary, generation: 2, clusters: []),
                       "a profile without targetClusters has the status it always had")
    }
}
