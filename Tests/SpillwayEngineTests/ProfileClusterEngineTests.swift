import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import SpillwayContract
@testable import SpillwayEngine
import XCTest

/// One engine, one reactor, a watched cluster and two target clusters (emulators over HTTP): a
/// SpillwayProfile's `targetClusters` end to end — fan-out, edits, a cluster dropped from the
/// list, and deletion while a target cluster is down.
final class ProfileClusterEngineTests: XCTestCase {
    private var world: ClusterWorld!
    private static let profiles = Resource.spillwayProfiles("v1")
    private static let secretValues = ["s3cr3t-alpha", "s3cr3t-beta"] + ["s3cr3t-alpha", "s3cr3t-beta"].map { Data($0.utf8).base64EncodedString() }

    override func tearDown() async throws {
        await world?.finish(secretValues: Self.secretValues)
        world = nil
    }

    /// The watched cluster `mgmt` serves the chart's CRD; `prod-eu` and `prod-us` are targets.
    private func makeWorld() async throws -> ClusterWorld {
        let world = try await ClusterWorld(clusters: ["mgmt", "prod-eu", "prod-us"])
        self.world = world
        world.emulators["mgmt"]!.register(try ProfileTests.crd())
        return world
    }

    @discardableResult
    private func expect(_ what: String, timeout: Duration = .seconds(15), file: StaticString = #filePath, line: UInt = #line,
                        _ condition: () async throws -> Bool) async throws -> Duration {
        try await eventually(what, timeout: timeout, file: file, line: line, condition)
    }

    private func createProfile(_ w: ClusterWorld, clusters: [String]) async throws {
        _ = try await w.clients["mgmt"]!.create(Self.profiles, namespace: "platform", object: [
            "apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile",
            "metadata": ["name": "base", "namespace": "platform"],
            "spec": ["targetNamespaces": ["team-*"], "sources": [["kind": "Secret", "name": "db"]],
                     "targetClusters": .array(clusters.map { .string($0) })],
        ])
    }

    private func ready(_ w: ClusterWorld) async throws -> (status: String, reason: String, message: String)? {
        let profile = try await w.get("mgmt", Self.profiles, "platform", "base")
        guard let c = profile?["status"]?["conditions"]?.arrayValue?.first(where: { $0["type"]?.stringValue == "Ready" }) else { return nil }
        return (c["status"]?.stringValue ?? "", c["reason"]?.stringValue ?? "", c["message"]?.stringValue ?? "")
    }

    func testAProfileFansOutIntoTwoOtherClustersFollowsEditsAndLetsGoOfADroppedCluster() async throws {
        let w = try await makeWorld()
        for ns in ["platform", "team-a"] { try await w.namespace("mgmt", ns) }
        for ns in ["team-a", "team-b", "platform"] { try await w.namespace("prod-eu", ns) }
        for ns in ["team-c", "other"] { try await w.namespace("prod-us", ns) }
        try await w.secret("mgmt", "platform", "db", data: ["password": "s3cr3t-alpha"])
        try await w.startEngine(watched: "mgmt", targets: ["prod-eu", "prod-us"], options: EngineOptions(clusterName: "mgmt"))
        try await createProfile(w, clusters: ["local", "prod-*"])

        let took = try await expect("the profile's replicas in the three clusters, each by its own namespaces") {
            w.replicas("mgmt", "db") == ["team-a"] && w.replicas("prod-eu", "db") == ["team-a", "team-b"]
                && w.replicas("prod-us", "db") == ["team-c"]
        }
        Timings.record("profile fan-out into 3 clusters", took)
        let annotations = w.annotations("prod-eu", "team-b", "db")
        XCTAssertEqual(annotations[Vocabulary.sourceCluster], "mgmt")
        XCTAssertEqual(annotations[Vocabulary.profileRef], "platform/base")
        XCTAssertEqual(annotations[Vocabulary.sourceFrom], "Secret/platform/db")
        XCTAssertNil(w.annotations("mgmt", "team-a", "db")[Vocabulary.sourceCluster], "the watched cluster's replicas are as before")
        XCTAssertEqual(w.secretData("prod-us", "team-c", "db"), ["password": "s3cr3t-alpha"])
        let source = try await w.get("mgmt", .secrets, "platform", "db")
        XCTAssertNil(source?["metadata"]?["finalizers"], "the profile holds the finalizer")
        try await expect("Ready says every cluster's count") {
            try await ready(w)?.message
                == "every replica is in place (the watched cluster: 1 namespace; cluster prod-eu: 2 namespaces; cluster prod-us: 1 namespace)"
        }

        // The source changes: every cluster follows.
        try await w.patch("mgmt", .secrets, "platform", "db", ["data": ["password": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        try await expect("the edit reaches every cluster") {
            ["mgmt": "team-a", "prod-eu": "team-b", "prod-us": "team-c"].allSatisfy { w.secretData($0.key, $0.value, "db") == ["password": "s3cr3t-beta"] }
        }
        // A replica edited by hand in a target cluster is put back; one deleted there comes back.
        try await w.patch("prod-eu", .secrets, "team-a", "db", ["data": ["password": .string(Data("hand-edit".utf8).base64EncodedString())]])
        try await expect("the hand edit in prod-eu is reverted") { w.secretData("prod-eu", "team-a", "db") == ["password": "s3cr3t-beta"] }
        try await w.delete("prod-us", .secrets, "team-c", "db")
        try await expect("the replica deleted in prod-us comes back") { w.secretData("prod-us", "team-c", "db") == ["password": "s3cr3t-beta"] }
        // A namespace appears in a target cluster: it gets its replica there.
        try await w.namespace("prod-us", "team-d")
        try await expect("a new namespace in prod-us is served") { w.replicas("prod-us", "db") == ["team-c", "team-d"] }

        // The profile drops the watched cluster and prod-us: their replicas go, prod-eu's stay.
        try await w.patch("mgmt", Self.profiles, "platform", "base", ["spec": ["targetClusters": ["prod-eu"]]])
        try await expect("only prod-eu keeps the profile's replicas") {
            w.replicas("mgmt", "db").isEmpty && w.replicas("prod-us", "db").isEmpty && w.replicas("prod-eu", "db") == ["team-a", "team-b"]
        }
        try await expect("Ready counts prod-eu alone") {
            try await ready(w)?.message == "every replica is in place (the watched cluster: 0 namespaces; cluster prod-eu: 2 namespaces)"
        }

        // Deleted: its replicas go everywhere before the profile does.
        _ = try await w.clients["mgmt"]!.delete(Self.profiles, namespace: "platform", name: "base")
        try await expect("the profile is gone") { try await w.get("mgmt", Self.profiles, "platform", "base") == nil }
        XCTAssertEqual(w.replicas("prod-eu", "db"), [], "the finalizer was released while replicas remained in prod-eu")
    }

    func testDeletingAProfileWithATargetDownHoldsItsFinalizerForTheBoundedWaitAndTheLeftoverGoesWhenItReturns() async throws {
        let w = try await makeWorld()
        for cluster in ["mgmt", "prod-eu", "prod-us"] { try await w.namespace(cluster, "team-a") }
        try await w.namespace("mgmt", "platform")
        try await w.secret("mgmt", "platform", "db", data: ["password": "s3cr3t-alpha"])
        let metrics = ClusterMetrics()
        let engine = try await w.startEngine(watched: "mgmt", targets: ["prod-eu", "prod-us"],
                                             options: EngineOptions(clusterName: "mgmt", targetCleanupTimeout: .seconds(3)), metrics: metrics)
        try await createProfile(w, clusters: ["local", "prod-eu", "prod-us"])
        try await expect("replicas in the three clusters") {
            w.replicas("mgmt", "db") == ["team-a"] && w.replicas("prod-eu", "db") == ["team-a"] && w.replicas("prod-us", "db") == ["team-a"]
        }

        w.stop("prod-us")
        try await expect("prod-us reported unreachable") {
            try await w.on(engine) { $0.status.clusters.first { $0.name == "prod-us" }?.isReady == false }
        }
        try await expect("Ready is False and names prod-us") {
            guard let ready = try await ready(w) else { return false }
            return ready.status == "False" && ready.reason == "ClusterUnavailable" && ready.message.hasPrefix("cluster prod-us: unreachable since ")
        }

        _ = try await w.clients["mgmt"]!.delete(Self.profiles, namespace: "platform", name: "base")
        let deleted = ContinuousClock.now
        try await expect("the reachable clusters are cleaned up") { w.replicas("mgmt", "db").isEmpty && w.replicas("prod-eu", "db").isEmpty }
        let held = try await w.get("mgmt", Self.profiles, "platform", "base")
        XCTAssertNotNil(held, "the finalizer waits for prod-us")
        try await expect("a Warning event on the profile says why it waits") {
            w.events("mgmt", about: "base", in: "platform").contains {
                $0.type == "Warning" && $0.note.hasPrefix("finalizer kept: replicas in cluster prod-us (unreachable) must be deleted first")
            }
        }
        try await expect("released when the wait runs out", timeout: .seconds(20)) {
            try await w.get("mgmt", Self.profiles, "platform", "base") == nil
        }
        let waited = ContinuousClock.now - deleted
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(2500), "released after \(waited), before the 3 s wait ran out")
        XCTAssertEqual(metrics.abandoned.get(), ["prod-us"])
        try await expect("the release is recorded on the profile and in the log") {
            w.events("mgmt", about: "base", in: "platform").contains {
                $0.type == "Warning" && $0.note.hasPrefix("finalizer released after waiting 3s for cluster prod-us: replicas left in team-a")
            } && w.logs.all.contains { $0.metadata["action"] == "cleanup-abandoned" && $0.metadata["cluster"] == "prod-us"
                && $0.metadata["profile"] == "platform/base" }
        }

        // prod-us comes back: the orphan audit deletes what the gone profile left there.
        try await w.restart("prod-us")
        let back = ContinuousClock.now
        XCTAssertEqual(w.replicas("prod-us", "db"), ["team-a"])
        try await expect("the leftover is deleted once prod-us is back") { w.replicas("prod-us", "db").isEmpty }
        Timings.record("profile leftover removed after the cluster's return", ContinuousClock.now - back)
    }
    /// Another management host's profile of the same name wrote replicas into the watched cluster
    /// and into prod-eu (they carry its `source-cluster`): this daemon's profile never takes,
    /// rewrites or deletes them, in either cluster, and says they are held.
    func testAnotherHostsReplicasOfAProfileOfTheSameNameAreNeverOurs() async throws {
        let w = try await makeWorld()
        for ns in ["platform", "team-a", "team-b"] { try await w.namespace("mgmt", ns) }
        for ns in ["team-a", "team-b"] { try await w.namespace("prod-eu", ns) }
        try await w.secret("mgmt", "platform", "db", data: ["password": "s3cr3t-alpha"])
        let theirs = [Vocabulary.sourceFrom: "Secret/platform/db", Vocabulary.profileRef: "platform/base", Vocabulary.sourceCluster: "other-hub"]
        for cluster in ["mgmt", "prod-eu"] {
            try await w.secret(cluster, "team-b", "db", annotations: theirs, labels: [Vocabulary.managedByLabel: Vocabulary.managedByValue],
                               data: ["password": "theirs"])
        }
        try await w.startEngine(watched: "mgmt", targets: ["prod-eu", "prod-us"], options: EngineOptions(clusterName: "mgmt"))
        try await createProfile(w, clusters: ["local", "prod-eu"])
        try await expect("our replicas in team-a of both clusters") { w.replicas("mgmt", "db") == ["team-a", "team-b"] && w.exists("prod-eu", "team-a", "db") }
        try await expect("Ready says the targets are held, in each cluster") {
            guard let ready = try await ready(w) else { return false }
            return ready.status == "False" && ready.reason == "TargetsHeld" && ready.message.contains("Secret team-b/db")
                && ready.message.contains("cluster prod-eu: 1 target is held by another owner")
        }
        for cluster in ["mgmt", "prod-eu"] {
            XCTAssertEqual(w.secretData(cluster, "team-b", "db"), ["password": "theirs"], "\(cluster): the other host's replica is left as it is")
            XCTAssertEqual(w.annotations(cluster, "team-b", "db")[Vocabulary.sourceCluster], "other-hub")
        }

        _ = try await w.clients["mgmt"]!.delete(Self.profiles, namespace: "platform", name: "base")
        try await expect("the profile is gone, with its own replicas") {
            try await w.get("mgmt", Self.profiles, "platform", "base") == nil && !w.exists("mgmt", "team-a", "db") && !w.exists("prod-eu", "team-a", "db")
        }
        for cluster in ["mgmt", "prod-eu"] {
            XCTAssertEqual(w.secretData(cluster, "team-b", "db"), ["password": "theirs"], "\(cluster): the other host's replica stays")
        }
    }
}
