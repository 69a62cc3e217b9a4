import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import SpillwayContract
@testable import SpillwayEngine
import XCTest

/// One engine, one reactor, a watched cluster and two or three target clusters (emulators over
/// HTTP): `replicate-to-clusters` end to end, deletion across clusters, clusters that are down
/// or slow, and replicas of other owners.
final class ClusterEngineTests: XCTestCase {
    private var world: ClusterWorld!

    private static let secretValues = ["s3cr3t-alpha", "s3cr3t-beta"] + ["s3cr3t-alpha", "s3cr3t-beta"].map { Data($0.utf8).base64EncodedString() }

    override func tearDown() async throws {
        await world?.finish(secretValues: Self.secretValues)
        world = nil
    }

    private func makeWorld(_ clusters: String...) async throws -> ClusterWorld {
        let world = try await ClusterWorld(clusters: clusters)
        self.world = world
        return world
    }

    private static let to = Vocabulary.replicateTo
    private static let clusters = Vocabulary.replicateToClusters

    /// Waits until `condition` holds; returns how long it took.
    @discardableResult
    private func expect(_ what: String, timeout: Duration = .seconds(15), file: StaticString = #filePath, line: UInt = #line,
                        _ condition: () async throws -> Bool) async throws -> Duration {
        try await eventually(what, timeout: timeout, file: file, line: line, condition)
    }

    // MARK: - Fan-out

    func testSourceReachesEveryNamedClusterEvaluatedAgainstItsOwnNamespaces() async throws {
        let w = try await makeWorld("mgmt", "prod-eu", "prod-us", "edge-1")
        for ns in ["platform", "team-a"] { try await w.namespace("mgmt", ns) }
        for ns in ["team-a", "team-b", "platform"] { try await w.namespace("prod-eu", ns) }
        try await w.namespace("prod-us", "team-c")
        try await w.namespace("prod-us", "other", labels: ["tier": "web"])
        try await w.namespace("edge-1", "team-a")
        try await w.startEngine(watched: "mgmt", targets: ["prod-eu", "prod-us", "edge-1"], options: EngineOptions(clusterName: "mgmt"))
        try await w.secret("mgmt", "platform", "db", annotations: [
            Self.to: "team-*,platform", Vocabulary.replicateToMatching: "tier=web", Self.clusters: "local,prod-*",
        ], data: ["password": "s3cr3t-alpha"])

        let took = try await expect("replicas in every named cluster") {
            w.replicas("mgmt", "db") == ["team-a"] && w.replicas("prod-eu", "db") == ["team-a", "team-b", "platform"]
                && w.replicas("prod-us", "db") == ["team-c", "other"]
        }
        Timings.record("one source into 3 clusters (6 replicas)", took)
        XCTAssertEqual(w.replicas("edge-1", "db"), [], "edge-1 is not named")
        XCTAssertEqual(w.annotations("prod-eu", "team-a", "db")[Vocabulary.sourceCluster], "mgmt")
        XCTAssertEqual(w.annotations("prod-eu", "team-a", "db")[Vocabulary.sourceFrom], "Secret/platform/db")
        XCTAssertNil(w.annotations("mgmt", "team-a", "db")[Vocabulary.sourceCluster], "a replica in its own cluster is unchanged")
        XCTAssertEqual(w.secretData("prod-us", "other", "db"), ["password": "s3cr3t-alpha"])

        // A source edit reaches every cluster; a hand deletion there is undone; a new namespace there is served.
        try await w.patch("mgmt", .secrets, "platform", "db", ["data": ["password": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        try await expect("the edit reaches every cluster") {
            w.secretData("mgmt", "team-a", "db")?["password"] == "s3cr3t-beta"
                && ["team-a", "team-b", "platform"].allSatisfy { w.secretData("prod-eu", $0, "db")?["password"] == "s3cr3t-beta" }
                && ["team-c", "other"].allSatisfy { w.secretData("prod-us", $0, "db")?["password"] == "s3cr3t-beta" }
        }
        try await w.delete("prod-eu", .secrets, "team-b", "db")
        try await w.namespace("prod-us", "team-z")
        try await expect("a deleted remote replica is recreated, a new remote namespace served") {
            w.replicas("prod-eu", "db") == ["team-a", "team-b", "platform"] && w.replicas("prod-us", "db") == ["team-c", "other", "team-z"]
        }

        // The annotation changes: prod-us is dropped, edge-1 is added.
        try await w.patch("mgmt", .secrets, "platform", "db", ["metadata": ["annotations": [Self.clusters: "local,prod-eu,edge-*"]]])
        try await expect("exactly the named clusters hold replicas") {
            w.replicas("prod-us", "db").isEmpty && w.replicas("edge-1", "db") == ["team-a"] && w.replicas("prod-eu", "db").count == 3
        }
    }

    func testDeletionRemovesTheReplicasInEveryClusterBeforeTheFinalizerGoes() async throws {
        let w = try await makeWorld("mgmt", "prod-eu", "prod-us")
        try await w.namespace("mgmt", "platform")
        for cluster in ["prod-eu", "prod-us"] {
            for i in 0..<20 { try await w.namespace(cluster, "app-\(i)") }
        }
        try await w.startEngine(watched: "mgmt", targets: ["prod-eu", "prod-us"], options: EngineOptions(clusterName: "mgmt"))
        try await w.secret("mgmt", "platform", "db", annotations: [Self.to: "app-*", Self.clusters: "prod-eu,prod-us"], data: ["password": "s3cr3t-alpha"])
        try await expect("40 remote replicas") { w.replicas("prod-eu", "db").count == 20 && w.replicas("prod-us", "db").count == 20 }
        XCTAssertEqual(w.replicas("mgmt", "db"), [], "the watched cluster is not named")
        let finalizers = try await w.get("mgmt", .secrets, "platform", "db")?["metadata"]?["finalizers"]
        XCTAssertEqual(finalizers, [.string(Vocabulary.finalizer)])

        // The second target answers slowly: the source must still wait for it.
        w.emulators["prod-us"]!.faults.latency = .milliseconds(40)
        try await w.delete("mgmt", .secrets, "platform", "db")
        var sawReplicasWithoutSource = false
        try await expect("the source is gone") {
            let sourceThere = w.exists("mgmt", "platform", "db")
            let left = w.replicas("prod-eu", "db").count + w.replicas("prod-us", "db").count
            if !sourceThere && left > 0 { sawReplicasWithoutSource = true }
            return !sourceThere
        }
        XCTAssertFalse(sawReplicasWithoutSource, "the finalizer was released while replicas remained in a target cluster")
        XCTAssertEqual(w.replicas("prod-eu", "db").count + w.replicas("prod-us", "db").count, 0)
    }

    // MARK: - A cluster that is away

    func testAnUnreachableClusterHoldsTheFinalizerForTheBoundedWaitAndItsLeftoverGoesWhenItReturns() async throws {
        let w = try await makeWorld("mgmt", "prod-eu", "prod-us")
        for cluster in ["mgmt", "prod-eu", "prod-us"] { try await w.namespace(cluster, "app") }
        try await w.namespace("mgmt", "platform")
        let metrics = ClusterMetrics()
        let engine = try await w.startEngine(watched: "mgmt", targets: ["prod-eu", "prod-us"],
                                             options: EngineOptions(clusterName: "mgmt", targetCleanupTimeout: .seconds(3)), metrics: metrics)
        try await w.secret("mgmt", "platform", "db", annotations: [Self.to: "app", Self.clusters: "local,prod-eu,prod-us"], data: ["password": "s3cr3t-alpha"])
        try await expect("replicas in the three clusters") {
            w.replicas("mgmt", "db") == ["app"] && w.replicas("prod-eu", "db") == ["app"] && w.replicas("prod-us", "db") == ["app"]
        }

        w.stop("prod-us")
        try await expect("prod-us reported unreachable") {
            try await w.on(engine) { $0.status.clusters.first { $0.name == "prod-us" }?.isReady == false }
        }
        try await w.delete("mgmt", .secrets, "platform", "db")
        let deleted = ContinuousClock.now
        try await expect("the reachable clusters are cleaned up") { w.replicas("mgmt", "db").isEmpty && w.replicas("prod-eu", "db").isEmpty }
        XCTAssertTrue(w.exists("mgmt", "platform", "db"), "the finalizer waits for prod-us")
        try await expect("a Warning event says why the source waits") {
            w.events("mgmt", about: "db", in: "platform").contains {
                $0.type == "Warning" && $0.note.hasPrefix("finalizer kept: replicas in cluster prod-us (unreachable) must be deleted first")
            }
        }
        try await expect("released when the wait runs out", timeout: .seconds(20)) { !w.exists("mgmt", "platform", "db") }
        let waited = ContinuousClock.now - deleted
        XCTAssertGreaterThanOrEqual(waited, .milliseconds(2500), "released after \(waited), before the 3 s wait ran out")
        XCTAssertEqual(metrics.abandoned.get(), ["prod-us"])
        // The Event is posted after the write that released the source: it may land a moment later.
        try await expect("a Warning event records what was left") {
            w.events("mgmt", about: "db", in: "platform").contains {
                $0.type == "Warning" && $0.note.hasPrefix("finalizer released after waiting 3s for cluster prod-us: replicas left in app")
            }
        }
        XCTAssertTrue(w.logs.all.contains { $0.metadata["action"] == "cleanup-abandoned" && $0.metadata["cluster"] == "prod-us" })

        // prod-us comes back: the orphan audit deletes what was left there.
        try await w.restart("prod-us")
        let back = ContinuousClock.now
        XCTAssertEqual(w.replicas("prod-us", "db"), ["app"])
        try await expect("the leftover is deleted once prod-us is back") { w.replicas("prod-us", "db").isEmpty }
        Timings.record("leftover removed after the cluster's return", ContinuousClock.now - back)
    }

    func testAClusterThatIsDownDoesNotStallTheOthersAndConvergesWhenBack() async throws {
        let w = try await makeWorld("mgmt", "prod-eu", "prod-us")
        try await w.namespace("mgmt", "platform")
        for cluster in ["mgmt", "prod-eu", "prod-us"] {
            for i in 0..<5 { try await w.namespace(cluster, "app-\(i)") }
        }
        let engine = try await w.startEngine(watched: "mgmt", targets: ["prod-eu", "prod-us"], options: EngineOptions(clusterName: "mgmt"))
        try await expect("both targets synced") { try await w.on(engine) { $0.status.clusters.allSatisfy(\.isReady) } }
        w.stop("prod-us")
        try await expect("prod-us reported unreachable") {
            try await w.on(engine) { $0.status.clusters.first { $0.name == "prod-us" }?.state != .ready }
        }
        try await w.secret("mgmt", "platform", "db", annotations: [Self.to: "app-*", Self.clusters: "local,prod-*"], data: ["password": "s3cr3t-alpha"])
        let served = try await expect("the watched cluster and prod-eu are served while prod-us is down") {
            w.replicas("mgmt", "db").count == 5 && w.replicas("prod-eu", "db").count == 5
        }
        Timings.record("two clusters served while a third is down", served)
        try await Task.sleep(for: .seconds(3))
        XCTAssertEqual(w.replicas("prod-us", "db"), [])
        // Work parked for prod-us built up no backoff: it converges within 2 s of the return.
        try await w.restart("prod-us")
        let converged = try await expect("prod-us converges once back") { w.replicas("prod-us", "db").count == 5 }
        Timings.record("a target cluster back after 3 s down → converged", converged)
        XCTAssertLessThan(converged, .seconds(5), "converged only \(converged) after the cluster came back")
    }

    func testASlowClusterDoesNotHoldUpTheOthers() async throws {
        let w = try await makeWorld("mgmt", "prod-eu", "prod-us")
        try await w.namespace("mgmt", "platform")
        for cluster in ["prod-eu", "prod-us"] {
            for i in 0..<40 { try await w.namespace(cluster, "app-\(i)") }
        }
        let engine = try await w.startEngine(watched: "mgmt", targets: ["prod-eu", "prod-us"], options: EngineOptions(clusterName: "mgmt"))
        try await expect("both targets synced") { try await w.on(engine) { $0.status.clusters.allSatisfy(\.isReady) } }
        w.emulators["prod-us"]!.faults.latency = .milliseconds(300)
        try await w.secret("mgmt", "platform", "db", annotations: [Self.to: "app-*", Self.clusters: "prod-*"], data: ["password": "s3cr3t-alpha"])
        let fast = try await expect("prod-eu is served at its own pace") { w.replicas("prod-eu", "db").count == 40 }
        Timings.record("40 replicas into a fast cluster beside a slow one", fast)
        XCTAssertLessThan(w.replicas("prod-us", "db").count, 40, "the slow cluster was not slower: the test proves nothing")
        w.emulators["prod-us"]!.faults.latency = .zero
        try await expect("the slow cluster gets there too") { w.replicas("prod-us", "db").count == 40 }
    }

    /// In a target cluster as in the watched one: the watch's echo of each replica the engine
    /// wrote is not built (the answer or the write in flight accounts for it), each replica is
    /// written once, and the cache knows every replica's content.
    func testTheEchoesOfRemoteWritesAreNotBuiltAndEachReplicaIsWrittenOnce() async throws {
        let w = try await makeWorld("mgmt", "prod-eu")
        try await w.namespace("mgmt", "platform")
        let targets = Set((0..<8).map { "app-\($0)" })
        for ns in targets { try await w.namespace("prod-eu", ns) }
        let engine = try await w.startEngine(watched: "mgmt", targets: ["prod-eu"], options: EngineOptions(clusterName: "mgmt"))
        try await expect("the target synced") { try await w.on(engine) { $0.status.clusters.allSatisfy(\.isReady) } }
        w.emulators["prod-eu"]!.accounting.reset()
        try await w.secret("mgmt", "platform", "db", annotations: [Self.to: "app-*", Self.clusters: "prod-eu"], data: ["password": "s3cr3t-alpha"])
        try await expect("every remote replica, each cached with its content") {
            try await w.on(engine) { engine in
                let state = engine.clusters["prod-eu"]!.state
                return targets.allSatisfy { state.replicas[ObjectKey(kind: .secret, namespace: $0, name: "db")]?.content != nil }
            }
        }
        try await Task.sleep(for: .milliseconds(300))
        let writes = w.emulators["prod-eu"]!.requests.writes.filter { $0.resource == "secrets" }
        XCTAssertEqual(writes.map(\.verb), Array(repeating: "create", count: targets.count), "no remote replica is written again")
        let skipped = try await w.on(engine) { engine in
            engine.clusters["prod-eu"]!.informers.filter { $0.options.resource == .secrets }.map(\.statistics.bodiesSkipped).reduce(0, +)
        }
        XCTAssertEqual(skipped, targets.count, "the echo of every remote write went without its body")
    }

    // MARK: - Other owners

    func testReplicasOfOtherClustersAreNeverTakenNorDeleted() async throws {
        let w = try await makeWorld("mgmt", "prod-eu")
        try await w.namespace("mgmt", "platform")
        try await w.namespace("mgmt", "team-a")
        try await w.namespace("prod-eu", "team-a")
        try await w.namespace("prod-eu", "team-b")
        // In the watched cluster: a replica another management host ("hub") wrote here.
        try await w.secret("mgmt", "team-a", "db", annotations: [Vocabulary.sourceFrom: "Secret/platform/db", Vocabulary.sourceCluster: "hub"],
                           labels: [Vocabulary.managedByLabel: Vocabulary.managedByValue], data: ["k": "hub's"])
        // In prod-eu: a replica of prod-eu's own spillwayd, of a source of the same name.
        try await w.secret("prod-eu", "team-a", "db", annotations: [Vocabulary.sourceFrom: "Secret/platform/db"],
                           labels: [Vocabulary.managedByLabel: Vocabulary.managedByValue], data: ["k": "prod-eu's"])
        try await w.startEngine(watched: "mgmt", targets: ["prod-eu"], options: EngineOptions(clusterName: "mgmt"))
        try await w.secret("mgmt", "platform", "db", annotations: [Self.to: "team-*", Self.clusters: "local,prod-eu"], data: ["password": "s3cr3t-alpha"])

        try await expect("prod-eu's team-b is served") { w.replicas("prod-eu", "db") == ["team-a", "team-b"] && w.exists("prod-eu", "team-b", "db") }
        try await expect("both conflicts are reported") {
            let notes = w.events("mgmt", about: "db", in: "platform").map(\.note)
            return notes.contains("Secret team-a/db: owned by Secret/platform/db of cluster hub; the existing owner wins")
                && notes.contains("Secret team-a/db in cluster prod-eu: owned by Secret/platform/db of that cluster itself; the existing owner wins")
        }
        XCTAssertEqual(w.secretData("mgmt", "team-a", "db"), ["k": "hub's"])
        XCTAssertEqual(w.secretData("prod-eu", "team-a", "db"), ["k": "prod-eu's"])

        // Deleting our source deletes ours only; the others' stay.
        try await w.delete("mgmt", .secrets, "platform", "db")
        try await expect("our source is gone") { !w.exists("mgmt", "platform", "db") }
        XCTAssertEqual(w.replicas("prod-eu", "db"), ["team-a"])
        XCTAssertEqual(w.secretData("prod-eu", "team-a", "db"), ["k": "prod-eu's"])
        XCTAssertEqual(w.secretData("mgmt", "team-a", "db"), ["k": "hub's"])
    }

    func testTwoManagementHostsWritingIntoOneClusterNeverFight() async throws {
        let w = try await makeWorld("hub-a", "hub-b", "prod-eu")
        for hub in ["hub-a", "hub-b"] { try await w.namespace(hub, "platform") }
        try await w.namespace("prod-eu", "team-a")
        try await w.startEngine(watched: "hub-a", targets: ["prod-eu"], options: EngineOptions(clusterName: "hub-a"))
        try await w.secret("hub-a", "platform", "db", annotations: [Self.to: "team-a", Self.clusters: "prod-eu"], data: ["password": "s3cr3t-alpha"])
        try await expect("hub-a's replica") { w.annotations("prod-eu", "team-a", "db")[Vocabulary.sourceCluster] == "hub-a" }

        try await w.startEngine(watched: "hub-b", targets: ["prod-eu"], options: EngineOptions(clusterName: "hub-b"))
        try await w.secret("hub-b", "platform", "db", annotations: [Self.to: "team-a", Self.clusters: "prod-eu"], data: ["password": "s3cr3t-beta"])
        try await expect("hub-b is told the existing owner wins") {
            w.events("hub-b", about: "db", in: "platform").contains {
                $0.note == "Secret team-a/db in cluster prod-eu: owned by Secret/platform/db of cluster hub-a; the existing owner wins"
            }
        }
        let before = try await w.get("prod-eu", .secrets, "team-a", "db")?["metadata"]?["resourceVersion"]
        try await Task.sleep(for: .seconds(1))
        let after = try await w.get("prod-eu", .secrets, "team-a", "db")?["metadata"]?["resourceVersion"]
        XCTAssertEqual(after, before, "nobody rewrote it")

        // The owner goes: the other takes over.
        try await w.delete("hub-a", .secrets, "platform", "db")
        try await expect("hub-b takes the name over") {
            w.annotations("prod-eu", "team-a", "db")[Vocabulary.sourceCluster] == "hub-b"
                && w.secretData("prod-eu", "team-a", "db") == ["password": "s3cr3t-beta"]
        }
    }

    func testWithoutAClusterNameTheWatchedClustersKubeSystemUIDNamesIt() async throws {
        let w = try await makeWorld("mgmt", "prod-eu")
        try await w.namespace("mgmt", "platform")
        try await w.namespace("prod-eu", "team-a")
        let kubeSystem = try await w.get("mgmt", .namespaces, nil, "kube-system")
        let uid = try XCTUnwrap(kubeSystem?["metadata"]?["uid"]?.stringValue)
        try await w.startEngine(watched: "mgmt", targets: ["prod-eu"])
        try await w.secret("mgmt", "platform", "db", annotations: [Self.to: "team-a", Self.clusters: "prod-eu"], data: ["password": "s3cr3t-alpha"])
        try await expect("the replica names the watched cluster by its kube-system uid") {
            w.annotations("prod-eu", "team-a", "db")[Vocabulary.sourceCluster] == uid
        }
    }
}
