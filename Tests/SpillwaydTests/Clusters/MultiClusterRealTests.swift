import Foundation
import KubeWire
import XCTest

/// Two real control planes driven by the real spillwayd: the watched one (where the daemon runs
/// as the chart's ServiceAccount, see RealScenarioCluster) and a target cluster started for the
/// test, reached through a kubeconfig of two contexts with a credential of its own per cluster.
/// A fan-out into the target cluster, a spillwayd inside the target cluster leaving those
/// replicas alone, the fan-out interrupted by the target cluster's outage, and a source deleted
/// while the target cluster is away. Skips with one line without `../shared/kube` (or without a
/// second control plane to start beside SPILLWAY_TEST_KUBECONFIG).
final class MultiClusterRealTests: ClusterScenarioTestCase {
    override func makeCluster() throws -> ScenarioCluster { try RealScenarioCluster(self) }

    private static let teams = 30

    func testFanOutIntoASecondControlPlaneSurvivesItsOutageAndDeletionWaitsForIt() throws {
        let watched = try XCTUnwrap(cluster as? RealScenarioCluster)
        let target = try TargetControlPlane(self, scratch: watched.directory)
        let platform = try namespace("platform"), app = try namespace("app")
        let teams = (0..<Self.teams).map { "\(prefix)team-\($0)" }
        for name in teams + [app] { try target.namespace(name) }
        // Without a cluster prefix, accept-from admits sources of its own cluster only: this
        // namespace of the target cluster opts in by naming the watched cluster.
        let consenting = "\(prefix)consent"
        try target.namespace(consenting, annotations: [Key.acceptFrom: "mgmt:Secret/\(platform)/*"])
        try target.namespace("\(prefix)refusing", annotations: [Key.acceptFrom: "Secret/\(platform)/*"])

        let kubeconfig = try twoContexts(watched: watched, target: target)
        let notify = try DatagramSocket(path: watched.directory.appendingPathComponent("notify").path)
        try secret(platform, "db", annotations: [Key.replicateTo: "\(prefix)app,\(prefix)team-*,\(consenting),\(prefix)refusing",
                                                 Key.clusters: "local,prod"], data: ["password": "s3cr3t-alpha"])
        let daemon = try launchDaemon(
            kubeconfig: kubeconfig, ["--target-contexts", "prod", "--cluster-name", "mgmt", "--target-cleanup-timeout", "120s",
                                   "--health-probe-bind-address", "127.0.0.1:0"],
            config: watched.directory.appendingPathComponent("daemon.conf"), environment: ["NOTIFY_SOCKET": notify.path])
        XCTAssertNotNil(daemon.waitForLog(#""msg":"ready""#, within: 60), daemon.tail)
        var health = ""
        expect("the health endpoint is served", daemon) {
            health = daemon.records.first { $0["endpoint"] == "health" }?["address"] ?? ""
            return !health.isEmpty
        }

        let all = Set(teams + [app, consenting])
        expect("replicas in the watched cluster and in every target namespace", within: 60, daemon) {
            replicas("secret", "db") == [app] && targetReplicas(target, "db") == all
        }
        let annotations = try target.kubectl.json("get", "secret", "db", "-n", app, "-o", "json")["metadata"]?["annotations"]
        XCTAssertEqual(annotations?[Key.sourceCluster]?.stringValue, "mgmt")
        XCTAssertEqual(annotations?[Key.sourceFrom]?.stringValue, "Secret/\(platform)/db")

        // A spillwayd running inside the target cluster sees these replicas as another cluster's:
        // its orphan audit (at start, then every second) neither deletes nor rewrites them, though
        // their source-from names a namespace that does not exist there.
        let inside = try launchDaemon(kubeconfig: target.server.adminKubeconfig,
                                      ["--orphan-audit-interval", "1s", "--self-heal-interval", "1s"],
                                      config: watched.directory.appendingPathComponent("inside.conf"))
        XCTAssertNotNil(inside.waitForLog(#""msg":"ready""#, within: 60), inside.tail)
        let versions = try targetItems(target, "db").mapValues { $0["metadata"]?["resourceVersion"]?.stringValue ?? "" }
        sleep(3)
        XCTAssertEqual(try targetItems(target, "db").mapValues { $0["metadata"]?["resourceVersion"]?.stringValue ?? "" }, versions,
                       "the target cluster's own spillwayd left the replicas alone\n\(inside.tail)")
        XCTAssertFalse(inside.records.contains { $0["action"] == "orphan" || $0["action"] == "cleanup" }, inside.tail)
        inside.signal(SIGTERM)
        XCTAssertEqual(inside.waitForExit(), 0, inside.tail)

        // Each target replica was written once: the watch's echo of a remote write, whose body
        // the daemon does not build, never passed for a replica to write again (on a real
        // server the answer comes first as a rule, the echo a moment later).
        let remote = daemon.records.filter { $0["cluster"] == "prod" }.compactMap { $0["action"] }
        XCTAssertEqual(remote.filter { $0 == "create" }.count, all.count, daemon.tail)
        XCTAssertEqual(remote.filter { $0 == "update" }, [], daemon.tail)

        // The target cluster hangs (its kube-apiserver frozen: connections open, nothing
        // answered) during a fan-out of an edit: the watched cluster is not held up, and the
        // target converges once it answers again.
        try target.freeze()
        try mergePatch("secret", platform, "db", ["data": ["password": .string(Data("s3cr3t-gamma".utf8).base64EncodedString())]])
        expect("the watched cluster is served while the target cluster hangs", within: 15, daemon) {
            secretData(app, "db")?["password"] == "s3cr3t-gamma"
        }
        sleep(1)
        try target.thaw()
        expect("the target cluster converges once it answers again", within: 60, daemon) {
            (try? self.targetPasswords(target, "db")) == Dictionary(uniqueKeysWithValues: all.map { ($0, "s3cr3t-gamma") })
        }

        // The target cluster goes away in the middle of a fan-out of an edit.
        let outage = target.outage(seconds: 15)
        usleep(300_000)
        try mergePatch("secret", platform, "db", ["data": ["password": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        expect("the watched cluster is served while the target cluster is away", daemon) {
            secretData(app, "db")?["password"] == "s3cr3t-beta"
        }
        XCTAssertFalse(outage.isOver, "the watched cluster's replica waited for the target cluster")
        expect("/readyz names the target cluster unreachable, and stays 200", daemon) {
            guard let ready = try? httpGet("http://\(health)/readyz") else { return false }
            return ready.status == 200 && ready.body.contains("cluster prod: unreachable")
        }
        var statuses: [String] = []
        expect("STATUS= names the target cluster unreachable", daemon) {
            while let datagram = notify.receive(within: 0.05) { statuses.append(String(decoding: datagram, as: UTF8.self)) }
            return statuses.contains { $0.contains("clusters not ready: prod: unreachable since") }
        }
        outage.wait()
        let back = Date()
        let took = seconds(since: back, limit: 60) {
            (try? self.targetPasswords(target, "db")) == Dictionary(uniqueKeysWithValues: all.map { ($0, "s3cr3t-beta") })
        }
        XCTAssertNotNil(took, "the target cluster converges once it is back\n\(daemon.tail)")
        print("timing: [\(cluster.kind)] target cluster back to \(all.count) replicas converged, as kubectl sees it: \(took ?? -1) s")
        expect("/readyz says the target cluster is ready again", daemon) {
            (try? httpGet("http://\(health)/readyz"))?.body.contains("cluster prod: ready") == true
        }

        // The source is deleted while the target cluster is away: its finalizer waits for it.
        let second = target.outage(seconds: 10)
        usleep(300_000)
        try kubectl("delete", "secret", "db", "-n", platform, "--wait=false")
        expect("the watched cluster's replica goes at once", daemon) { replicas("secret", "db").isEmpty }
        XCTAssertNotNil(object("secret", platform, "db"), "the source is held while the target cluster is away")
        XCTAssertFalse(second.isOver)
        second.wait()
        expect("once the target cluster is back its replicas go, then the source", within: 60, daemon) {
            targetReplicas(target, "db").isEmpty && object("secret", platform, "db") == nil
        }
        XCTAssertTrue(daemon.records.contains { $0["action"] == "cleanup" && $0["cluster"] == "prod" }, "audit lines name the cluster")
    }

    /// What the operator sets per target cluster (protected namespaces, consent, QPS), the
    /// `cluster` label of the metrics, two management hosts writing into one target cluster
    /// without a fight, and a source released when `--target-cleanup-timeout` runs out while its
    /// target cluster is away (what was left removed once it is back, and the other host's
    /// source taking the name over). Three real control planes: the watched one, the target one,
    /// and the watched cluster of the second management host.
    func testTwoManagementHostsShareATargetClusterWithItsOwnSettingsAndTheCleanupWaitRunsOut() throws {
        let watched = try XCTUnwrap(cluster as? RealScenarioCluster)
        let target = try TargetControlPlane(self, scratch: watched.directory)
        let secondHub = try TargetControlPlane(self, scratch: watched.directory)
        let platform = try namespace("platform"), guarded = try namespace("team-guarded")
        let teams = (0..<20).map { "\(prefix)team-\($0)" }, excluded = teams[19], labelled = "\(prefix)labelled"
        // prod requires consent: the teams name both management hosts' sources; `silent` names none.
        let consent = "mgmt:Secret/\(platform)/*,hub-b:Secret/\(platform)/*"
        for name in teams + [guarded] { try target.namespace(name, annotations: [Key.acceptFrom: consent]) }
        try target.kubectl.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": [
            "name": .string(labelled), "labels": ["spillway-tier": "gold"], "annotations": [Key.acceptFrom: .string(consent)]]])
        try target.namespace("\(prefix)silent")
        // What prod gets: replicate-to, replicate-to-matching and exclude-namespaces evaluated
        // against its own namespaces and labels.
        let inProd = Set(teams.dropLast() + [labelled])
        try secondHub.namespace(platform)

        // prod protects `team-guarded` (reached through a glob, not by its name), requires consent
        // and takes 5 requests a second; the watched cluster does none of that.
        let settings = "{prod: {protected-namespaces: [kube-system, kube-public, kube-node-lease, \(guarded)], require-namespace-consent: true, qps: 5, burst: 5}}"
        let first = try launchDaemon(
            kubeconfig: try twoContexts(watched: watched, target: target),
            ["--target-contexts", "pro*", "--cluster-name", "mgmt", "--target-clusters", settings,
             "--target-cleanup-timeout", "6s", "--metrics-bind-address", "127.0.0.1:0"] + election,
            config: watched.directory.appendingPathComponent("first.conf"))
        XCTAssertNotNil(first.waitForLog(#""msg":"ready""#, within: 60), first.tail)
        // Leader election stays in the watched cluster.
        XCTAssertEqual(try kubectl.json("get", "leases", "-n", cluster.leaseNamespace)["items"]?.arrayValue?.count, 1, first.tail)
        XCTAssertEqual(try target.kubectl.json("get", "leases", "-A")["items"]?.arrayValue?.filter {
            $0["metadata"]?["name"]?.stringValue?.contains("spillway") == true
        }.count, 0, "no lease of spillway's in the target cluster")
        let metrics = try XCTUnwrap(first.waitForLog(#""address":"(127\.0\.0\.1:\d+)","endpoint":"metrics""#), first.tail)
        expect("prod is synced", first) { (try? scrapeMetrics(metrics))?[#"spillway_cluster_ready{cluster="prod"}"#] == 1 }
        sleep(1)  // prod's request budget is full again after the lists and watches of its start

        let created = Date()
        try secret(platform, "db", annotations: [Key.replicateTo: "\(prefix)team-*,\(prefix)silent", Key.matching: "spillway-tier=gold",
                                                 Key.exclude: excluded, Key.clusters: "local,pro*"],
                   data: ["password": "s3cr3t-alpha"])
        let inWatched = seconds(since: created, limit: 30) { replicas("secret", "db") == [guarded] }
        let inTarget = seconds(since: created, limit: 60) { targetReplicas(target, "db") == inProd }
        XCTAssertNotNil(inWatched, "the watched cluster does not protect \(guarded)\n\(first.tail)")
        XCTAssertNotNil(inTarget, "prod: the teams but the excluded one, the labelled namespace; not its protected namespace nor the one without consent\n\(first.tail)")
        print("timing: [\(cluster.kind)] 1 replica in the watched cluster \(inWatched ?? -1) s; 20 creates in prod at qps 5 burst 5: \(inTarget ?? -1) s")
        // 20 creates with 5 at once and 5 a second after that take at least 3 s.
        XCTAssertGreaterThan(inTarget ?? 0, 2.5, "prod's qps holds its writes back")
        XCTAssertEqual(targetReplicas(target, "db"), inProd, "nothing in prod's protected namespace or without consent")
        // The gauge counts the daemon's cache of prod, which follows prod's watch: it may trail
        // what a list of prod shows by the watch's delivery.
        expect("prod's replica gauge reaches the 20 replicas", first) {
            (try? scrapeMetrics(metrics))?[#"spillway_cluster_replicas{cluster="prod"}"#] == 20
        }
        var samples = try scrapeMetrics(metrics)
        XCTAssertEqual(samples[#"spillway_cluster_writes_total{cluster="prod",kind="Secret",action="create"}"#], 20)
        XCTAssertGreaterThanOrEqual(samples[#"spillway_cluster_api_requests_total{cluster="prod",verb="watch",code="200"}"#] ?? 0, 3)
        XCTAssertNil(samples.keys.first { $0.contains(#"cluster="mgmt""#) }, "the watched cluster has the unlabelled series")

        // A second management host, watching another cluster, has a source of the same name for
        // team-0 of prod: the existing owner wins, and nobody rewrites the replica.
        let second = try launchDaemon(
            kubeconfig: try managementKubeconfig("second", [("hub-b", secondHub.server, try secondHub.adminToken()),
                                                            ("prod", target.server, try target.daemonToken())]),
            ["--target-contexts", "prod", "--cluster-name", "hub-b"],
            config: watched.directory.appendingPathComponent("second.conf"))
        XCTAssertNotNil(second.waitForLog(#""msg":"ready""#, within: 60), second.tail)
        let versions = try targetItems(target, "db").mapValues { $0["metadata"]?["resourceVersion"]?.stringValue ?? "" }
        try secondHub.kubectl.apply([
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": ["name": "db", "namespace": .string(platform), "annotations": [Key.replicateTo: .string(teams[0]), Key.clusters: "prod"]],
            "data": ["password": .string(Data("s3cr3t-beta".utf8).base64EncodedString())],
        ])
        let refusal = "Secret \(teams[0])/db in cluster prod: owned by Secret/\(platform)/db of cluster mgmt; the existing owner wins"
        expect("the second host is told the existing owner wins", second) {
            let events = try? secondHub.kubectl.json("get", "events", "-n", platform, "--field-selector", "involvedObject.name=db")
            return (events?["items"]?.arrayValue ?? []).contains { $0["message"]?.stringValue == refusal }
        }
        sleep(2)
        XCTAssertEqual(try targetItems(target, "db").mapValues { $0["metadata"]?["resourceVersion"]?.stringValue ?? "" }, versions,
                       "neither host rewrote the other's replica\n\(second.tail)")

        // prod goes away for longer than the cleanup wait, and the first host's source is deleted.
        let outage = target.outage(seconds: 25)
        usleep(300_000)
        try kubectl("delete", "secret", "db", "-n", platform, "--wait=false")
        expect("the watched cluster's replica goes at once", first) { replicas("secret", "db").isEmpty }
        XCTAssertNotNil(object("secret", platform, "db"), "the source is held while prod is away")
        expect("after 6 s the source is released, prod still away", within: 15, first) { object("secret", platform, "db") == nil }
        XCTAssertFalse(outage.isOver, "released by the timeout, not by prod's return")
        XCTAssertTrue(first.records.contains { $0["action"] == "cleanup-abandoned" && $0["cluster"] == "prod" }, first.tail)
        let released = try kubectl.json("get", "events", "-n", platform, "--field-selector", "involvedObject.name=db")
        XCTAssertTrue((released["items"]?.arrayValue ?? []).contains {
            $0["type"]?.stringValue == "Warning"
                && $0["message"]?.stringValue?.hasPrefix("finalizer released after waiting 6s for cluster prod: replicas left in \(labelled), \(teams[0])") == true
        }, "a Warning Event on the source says what was left: \(released)")
        samples = try scrapeMetrics(metrics)
        XCTAssertEqual(samples[#"spillway_cluster_cleanup_abandoned_total{cluster="prod"}"#], 1)
        XCTAssertEqual(samples[#"spillway_cluster_ready{cluster="prod"}"#], 0)

        // prod is back: the first host's orphan audit removes what was left, and the second
        // host's source takes team-0 over.
        outage.wait()
        expect("the leftovers go and the second host takes team-0 over", within: 60, first) {
            let items = (try? targetItems(target, "db")) ?? [:]
            return Set(items.keys) == [teams[0]] && items[teams[0]]?["metadata"]?["annotations"]?[Key.sourceCluster]?.stringValue == "hub-b"
        }
        XCTAssertEqual(try targetPasswords(target, "db"), [teams[0]: "s3cr3t-beta"], second.tail)
        XCTAssertTrue(first.records.contains { $0["action"] == "orphan" && $0["cluster"] == "prod" }, first.tail)
    }

    /// What a user runs: examples/multi-cluster.yaml, applied as its comment says, on three
    /// control planes of this test's own (their `default` and `team-*` namespaces are free):
    /// mgmt (watched), prod-eu and prod-us, one kubeconfig with a user per cluster. Every team-*
    /// namespace of the three receives the Secret; deleting the example removes them all before
    /// the source goes.
    func testTheMultiClusterExampleReachesTheTeamNamespacesOfThreeControlPlanes() throws {
        let mgmt = try TargetControlPlane(self, scratch: cluster.directory)
        let eu = try TargetControlPlane(self, scratch: cluster.directory), us = try TargetControlPlane(self, scratch: cluster.directory)
        for plane in [mgmt, eu, us] {
            for name in ["team-a", "team-b", "other"] { try plane.namespace(name) }
        }
        let kubeconfig = try managementKubeconfig("example", [("mgmt", mgmt.server, try mgmt.adminToken()),
                                                              ("prod-eu", eu.server, try eu.daemonToken()),
                                                              ("prod-us", us.server, try us.daemonToken())])
        let daemon = try launchDaemon(kubeconfig: kubeconfig, ["--target-contexts", "prod-eu,prod-us", "--cluster-name", "mgmt"],
                                      config: cluster.directory.appendingPathComponent("example.conf"))
        XCTAssertNotNil(daemon.waitForLog(#""msg":"ready""#, within: 60), daemon.tail)
        let example = packageRoot.appendingPathComponent("examples/multi-cluster.yaml").path
        try mgmt.kubectl("apply", "-f", example)
        func holders(_ plane: TargetControlPlane) -> Set<String> {
            let list = try? plane.kubectl.json("get", "secrets", "-A", "-l", "\(Key.managedBy)=spillway",
                                               "--field-selector", "metadata.name=registry-credentials")
            return Set((list?["items"]?.arrayValue ?? []).compactMap { $0["metadata"]?["namespace"]?.stringValue })
        }
        expect("every team-* namespace of the three clusters holds the Secret", within: 60, daemon) {
            [mgmt, eu, us].allSatisfy { holders($0) == ["team-a", "team-b"] }
        }
        let shown = try eu.kubectl("get", "secret", "registry-credentials", "-n", "team-a", "-o", "yaml")
        XCTAssertTrue(shown.contains("spillway.kroy.io/source-cluster: mgmt"), shown)
        XCTAssertTrue(shown.contains("spillway.kroy.io/source-from: Secret/default/registry-credentials"), shown)

        try mgmt.kubectl("delete", "-f", example, "--timeout=60s")
        XCTAssertEqual([mgmt, eu, us].map(holders), [[], [], []], "the source went only once its replicas were gone everywhere")
    }

    /// A kubeconfig as a management host keeps it: context `mgmt` (the watched cluster, current)
    /// and `prod` (the target cluster), each with its own user and token file.
    private func twoContexts(watched: RealScenarioCluster, target: TargetControlPlane) throws -> String {
        try managementKubeconfig("management", [("mgmt", watched.server, try watched.daemonToken(boundTo: nil)),
                                                ("prod", target.server, try target.daemonToken())])
    }

    /// A kubeconfig of one context per cluster, each with a user of its own whose token is in a
    /// file beside the kubeconfig (a relative `tokenFile`); the first context is the current one:
    /// the watched cluster.
    private func managementKubeconfig(_ name: String, _ contexts: [(name: String, server: RealScenarioCluster.Server, token: String)]) throws -> String {
        var clusters = "clusters:\n", users = "users:\n", entries = "contexts:\n"
        for context in contexts {
            let tokenFile = "\(name)-\(context.name).token"
            let tokenPath = cluster.directory.appendingPathComponent(tokenFile).path
            try context.token.write(toFile: tokenPath, atomically: true, encoding: .utf8)
            chmod(tokenPath, 0o600)
            clusters += "- name: \(context.name)\n  cluster:\n    server: \(context.server.url)\n"
            if let ca = context.server.caData { clusters += "    certificate-authority-data: \(ca)\n" }
            if context.server.insecure { clusters += "    insecure-skip-tls-verify: true\n" }
            users += "- name: spillway-\(context.name)\n  user:\n    tokenFile: \(tokenFile)\n"
            entries += "- {name: \(context.name), context: {cluster: \(context.name), user: spillway-\(context.name)}}\n"
        }
        let text = "apiVersion: v1\nkind: Config\n" + clusters + users + entries + "current-context: \(contexts[0].name)\n"
        let path = cluster.directory.appendingPathComponent("\(name).kubeconfig").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    /// Namespaces of the target cluster holding a managed Secret `name` (this test's only).
    private func targetReplicas(_ target: TargetControlPlane, _ name: String) -> Set<String> {
        Set(((try? targetPasswords(target, name)) ?? [:]).keys)
    }

    /// namespace → the `password` of the managed Secret `name` there.
    private func targetPasswords(_ target: TargetControlPlane, _ name: String) throws -> [String: String] {
        try targetItems(target, name).mapValues { item in
            String(decoding: Data(base64Encoded: item["data"]?["password"]?.stringValue ?? "") ?? Data(), as: UTF8.self)
        }
    }

    /// namespace → the managed Secret `name` there (this test's namespaces only).
    private func targetItems(_ target: TargetControlPlane, _ name: String) throws -> [String: JSONValue] {
        let list = try target.kubectl.json("get", "secrets", "-A", "-l", "\(Key.managedBy)=spillway", "--field-selector", "metadata.name=\(name)")
        var items: [String: JSONValue] = [:]
        for item in list["items"]?.arrayValue ?? [] {
            guard let namespace = item["metadata"]?["namespace"]?.stringValue, namespace.hasPrefix(prefix) else { continue }
            items[namespace] = item
        }
        return items
    }
}
