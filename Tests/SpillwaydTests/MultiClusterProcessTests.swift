import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// The real spillwayd on a management host: one kubeconfig of three contexts (each with its own
/// credentials), three emulators, `--target-contexts`; per-cluster settings in the config file;
/// each cluster's health in `/readyz`, `STATUS=` and `/metrics`; configuration mistakes refused.
final class MultiClusterProcessTests: XCTestCase {
    private var clusters: [String: TestCluster] = [:]
    private var directory: URL!

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
        for name in ["mgmt", "prod-eu", "prod-us"] { clusters[name] = try TestCluster(self, users: ["spillwayd", "admin"]) }
    }

    /// A kubeconfig holding a context per cluster, each with the token of its own daemon user,
    /// as a management host keeps them; `current-context` is the watched one.
    private func kubeconfig(current: String = "mgmt") throws -> String {
        var text = "apiVersion: v1\nkind: Config\nclusters:\n"
        for (name, cluster) in clusters.sorted(by: { $0.key < $1.key }) {
            text += "- name: \(name)\n  cluster:\n    server: \(cluster.emulator.baseURL)\n"
        }
        text += "users:\n"
        for name in clusters.keys.sorted() { text += "- name: spillwayd-\(name)\n  user:\n    token: token-spillwayd\n" }
        text += "contexts:\n"
        for name in clusters.keys.sorted() { text += "- name: \(name)\n  context: {cluster: \(name), user: spillwayd-\(name)}\n" }
        text += "current-context: \(current)\n"
        let path = directory.appendingPathComponent("kubeconfig").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private func daemon(_ flags: [String], config: String = "", configPath: String? = nil, environment: [String: String] = [:]) throws -> Spillwayd {
        let name = "spillway-\(UUID().uuidString)"
        var arguments = ["--kubeconfig", try kubeconfig(), "--log-format", "json"] + flags
        if !config.isEmpty {
            let path = configPath ?? directory.appendingPathComponent("\(name).conf").path
            try config.write(toFile: path, atomically: true, encoding: .utf8)
            arguments += ["--config", path]
        }
        let daemon = try Spillwayd(arguments, environment: environment, emptyConfig: directory.appendingPathComponent("\(name).empty"))
        addTeardownBlock {
            if daemon.process.isRunning {
                daemon.signal(SIGTERM)
                XCTAssertEqual(daemon.waitForExit(), 0, "spillwayd did not stop cleanly: \(daemon.tail)")
            }
            XCTAssertFalse(daemon.stderr.contains("s3cr3t-alpha") || daemon.stderr.contains(Data("s3cr3t-alpha".utf8).base64EncodedString()),
                           "a secret value reached the log")
        }
        return daemon
    }

    // MARK: - End to end

    func testOneDaemonReplicatesIntoTheClustersOfItsKubeconfigAndShowsEachClustersHealth() throws {
        let (mgmt, eu, us) = (clusters["mgmt"]!, clusters["prod-eu"]!, clusters["prod-us"]!)
        try mgmt.namespace("platform")
        try mgmt.namespace("team-a")
        for cluster in [eu, us] {
            try cluster.namespace("team-a")
            try cluster.namespace("team-b", labels: [:], annotations: [Key.acceptFrom: "mgmt:Secret/platform/*"])
            try cluster.namespace("monitoring")
        }
        let socket = try DatagramSocket(path: directory.appendingPathComponent("notify").path)
        // prod-us protects monitoring and requires consent: only team-b (accept-from) gets a copy there.
        let config = """
            target-clusters:
              prod-us:
                protected-namespaces: [kube-system, monitoring]
                require-namespace-consent: true

            """
        let daemon = try daemon(
            ["--target-contexts", "prod-*", "--cluster-name", "mgmt", "--metrics-bind-address", "127.0.0.1:0",
             "--health-probe-bind-address", "127.0.0.1:0", "--target-cleanup-timeout", "3s"],
            config: config, environment: ["NOTIFY_SOCKET": socket.path])
        XCTAssertNotNil(daemon.waitForLog(#""msg":"ready""#), daemon.tail)
        let metrics = try XCTUnwrap(daemon.waitForLog(#""address":"(127\.0\.0\.1:\d+)","endpoint":"metrics""#), daemon.tail)
        let health = try XCTUnwrap(daemon.waitForLog(#""address":"(127\.0\.0\.1:\d+)","endpoint":"health""#), daemon.tail)

        try mgmt.secret("platform", "db", annotations: [Key.replicateTo: "all", Key.clusters: "local,prod-*"], data: ["password": "s3cr3t-alpha"])
        XCTAssertTrue(eventually {
            mgmt.replicas(.secret, "db") == ["team-a", "default", "kube-public", "kube-node-lease"]
                && eu.replicas(.secret, "db") == ["team-a", "team-b", "monitoring", "default", "kube-public", "kube-node-lease"]
                && us.replicas(.secret, "db") == ["team-b"]
        }, "mgmt \(mgmt.replicas(.secret, "db")), prod-eu \(eu.replicas(.secret, "db")), prod-us \(us.replicas(.secret, "db"))\n\(daemon.tail)")
        XCTAssertEqual(eu.annotations(.secret, "team-a", "db")[Key.sourceCluster], "mgmt")
        // The server lists a replica before its answer reaches the daemon, which logs the audit line then.
        XCTAssertTrue(eventually {
            daemon.records.contains { $0["action"] == "create" && $0["cluster"] == "prod-us" && $0["target_namespace"] == "team-b" }
        }, "audit lines name the cluster")

        // Status reaches /readyz a moment after the writes (it is published at most every 100 ms).
        XCTAssertTrue(eventually { (try? httpGet("http://\(health)/readyz"))?.body == "ok\ncluster prod-eu: ready\ncluster prod-us: ready\n" },
                      (try? httpGet("http://\(health)/readyz"))?.body ?? "")
        XCTAssertEqual(try httpGet("http://\(health)/readyz").status, 200)
        var samples = try scrapeMetrics(metrics)
        XCTAssertEqual(samples[#"spillway_cluster_ready{cluster="prod-eu"}"#], 1, "\(samples.filter { $0.key.contains("cluster") })")
        XCTAssertEqual(samples[#"spillway_cluster_replicas{cluster="prod-us"}"#], 1)
        XCTAssertEqual(samples[#"spillway_cluster_writes_total{cluster="prod-eu",kind="Secret",action="create"}"#], 6)
        XCTAssertGreaterThanOrEqual(samples[#"spillway_cluster_api_requests_total{cluster="prod-us",verb="watch",code="200"}"#] ?? 0, 3)

        // prod-us goes away: the daemon stays ready (it serves the others), and says so.
        us.stop()
        XCTAssertTrue(eventually { (try? httpGet("http://\(health)/readyz"))?.body.contains("cluster prod-us: unreachable since") == true },
                      daemon.tail)
        XCTAssertEqual(try httpGet("http://\(health)/readyz").status, 200)
        XCTAssertTrue(eventually { (try? scrapeMetrics(metrics))?[#"spillway_cluster_ready{cluster="prod-us"}"#] == 0 })
        var statuses: [String] = []
        XCTAssertTrue(eventually {
            while let datagram = socket.receive(within: 0.05) { statuses.append(String(decoding: datagram, as: UTF8.self)) }
            return statuses.contains { $0.contains("clusters not ready: prod-us: unreachable since") }
        }, "\(statuses)")
        try eu.namespace("team-c")
        XCTAssertTrue(eventually { eu.replicas(.secret, "db").contains("team-c") }, "prod-eu is served while prod-us is away\n\(daemon.tail)")

        // The source is deleted while prod-us is away: the finalizer waits 3 s, then lets go.
        try mgmt.delete(.secret, "platform", "db")
        XCTAssertTrue(eventually { mgmt.replicas(.secret, "db").isEmpty && eu.replicas(.secret, "db").isEmpty }, daemon.tail)
        XCTAssertNotNil(mgmt.object(.secret, "platform", "db"), "held for prod-us")
        XCTAssertTrue(eventually(within: 15) { mgmt.object(.secret, "platform", "db") == nil }, daemon.tail)
        XCTAssertTrue(eventually { daemon.records.contains { $0["action"] == "cleanup-abandoned" && $0["cluster"] == "prod-us" } }, daemon.tail)
        samples = try scrapeMetrics(metrics)
        XCTAssertEqual(samples[#"spillway_cluster_cleanup_abandoned_total{cluster="prod-us"}"#], 1)

        // prod-us returns: its leftover replica is removed, and it is ready again.
        try us.restart()
        XCTAssertTrue(eventually { us.replicas(.secret, "db").isEmpty }, daemon.tail)
        XCTAssertTrue(eventually { (try? httpGet("http://\(health)/readyz"))?.body.contains("cluster prod-us: ready") == true })
    }

    func testAReloadAllowsAnotherTargetCluster() throws {
        let (mgmt, eu, us) = (clusters["mgmt"]!, clusters["prod-eu"]!, clusters["prod-us"]!)
        try mgmt.namespace("platform")
        for cluster in [eu, us] { try cluster.namespace("team-a") }
        let config = directory.appendingPathComponent("reload.conf").path
        let daemon = try daemon(["--cluster-name", "mgmt"], config: "target-contexts: prod-eu\n", configPath: config)
        XCTAssertNotNil(daemon.waitForLog(#""msg":"ready""#), daemon.tail)
        try mgmt.secret("platform", "db", annotations: [Key.replicateTo: "team-a", Key.clusters: "prod-*"], data: ["password": "s3cr3t-alpha"])
        XCTAssertTrue(eventually { eu.replicas(.secret, "db") == ["team-a"] }, daemon.tail)
        XCTAssertEqual(us.replicas(.secret, "db"), [], "prod-us is not allowed yet")

        try "target-contexts: prod-eu,prod-us\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        XCTAssertTrue(eventually { us.replicas(.secret, "db") == ["team-a"] }, "prod-us is written to once allowed\n\(daemon.tail)")
        XCTAssertEqual(eu.replicas(.secret, "db"), ["team-a"])
        XCTAssertEqual(mgmt.replicas(.secret, "db"), [], "local is not named")
        XCTAssertTrue(daemon.records.contains { $0["msg"] == "target clusters reloaded" && $0["clusters"] == "prod-eu,prod-us" }, daemon.tail)
    }

    // MARK: - Configuration

    func testTargetContextsAreCheckedAgainstTheKubeconfigBeforeAnythingStarts() throws {
        let unknown = try daemon(["--target-contexts", "prod-eu,staging"])
        XCTAssertEqual(unknown.waitForExit(), 2)
        XCTAssertTrue(unknown.stderr.contains(#"target context "staging" (from target-contexts) is not defined in kubeconfig"#), unknown.stderr)

        let noMatch = try daemon(["--target-contexts", "edge-*"])
        XCTAssertEqual(noMatch.waitForExit(), 2)
        XCTAssertTrue(noMatch.stderr.contains(#"target-contexts pattern "edge-*" matches no context"#), noMatch.stderr)

        let itself = try daemon(["--target-contexts", "mgmt"])
        XCTAssertEqual(itself.waitForExit(), 2)
        XCTAssertTrue(itself.stderr.contains(#"target context "mgmt" reaches the watched cluster"#), itself.stderr)

        let local = try daemon(["--target-contexts", "local"])
        XCTAssertEqual(local.waitForExit(), 2)
        XCTAssertTrue(local.stderr.contains(#"invalid target-contexts "local" (from flag --target-contexts)"#), local.stderr)

        let badName = try daemon(["--target-contexts", "prod-eu", "--cluster-name", "Mgmt_1"])
        XCTAssertEqual(badName.waitForExit(), 2)
        XCTAssertTrue(badName.stderr.contains(#"invalid cluster-name "Mgmt_1""#), badName.stderr)

        let stray = try daemon(["--target-contexts", "prod-eu"], config: "target-clusters:\n  prod-us:\n    qps: 5\n    burst: 10\n")
        XCTAssertEqual(stray.waitForExit(), 2)
        XCTAssertTrue(stray.stderr.contains(#"target-clusters sets "prod-us", which is not a target context"#), stray.stderr)

        let typo = try daemon(["--target-contexts", "prod-eu"], config: "target-clusters:\n  prod-eu:\n    protected: [a]\n")
        XCTAssertEqual(typo.waitForExit(), 2)
        XCTAssertTrue(typo.stderr.contains("prod-eu: protected"), typo.stderr)
        XCTAssertTrue(typo.stderr.contains("unknown setting; a target cluster may set protected-namespaces, require-namespace-consent, qps, burst"),
                      typo.stderr)
    }

    func testAGlobSkipsTheWatchedClustersOwnContext() throws {
        try clusters["prod-eu"]!.namespace("team-a")
        try clusters["mgmt"]!.namespace("platform")
        let daemon = try daemon(["--target-contexts", "*", "--cluster-name", "mgmt", "--metrics-bind-address", "0", "--health-probe-bind-address", "0"])
        XCTAssertNotNil(daemon.waitForLog(#""msg":"ready""#), daemon.tail)
        XCTAssertTrue(daemon.stderr.contains("target context left out: mgmt: reaches the watched cluster"), daemon.tail)
        try clusters["mgmt"]!.secret("platform", "db", annotations: [Key.replicateTo: "team-a", Key.clusters: "*"], data: ["password": "s3cr3t-alpha"])
        XCTAssertTrue(eventually { self.clusters["prod-eu"]!.replicas(.secret, "db") == ["team-a"] }, daemon.tail)
        XCTAssertEqual(clusters["mgmt"]!.replicas(.secret, "db"), [], "`*` never names the watched cluster")
    }

    /// A SpillwayProfile's `targetClusters` with the real daemon: each named cluster is served by
    /// its own namespaces and its own rules (prod-us requires consent), the status says each
    /// cluster's count, and deleting the profile removes its replicas in every cluster first.
    func testAProfileNamingTargetClustersReplicatesIntoThemAndCleansUpEverywhere() throws {
        let (mgmt, eu, us) = (clusters["mgmt"]!, clusters["prod-eu"]!, clusters["prod-us"]!)
        let crd = try CustomResourceDefinition(yaml: String(contentsOfFile: ProfileProcessTests.crdPath, encoding: .utf8))
        mgmt.emulator.register(crd)
        let profiles = try XCTUnwrap(crd.resourceTypes.first { $0.version == "v1" })
        try mgmt.namespace("platform")
        try mgmt.namespace("team-a")
        for cluster in [eu, us] {
            try cluster.namespace("team-a")
            try cluster.namespace("team-b", labels: [:], annotations: [Key.acceptFrom: "mgmt:Secret/platform/*"])
        }
        try mgmt.secret("platform", "registry", data: ["k": "s3cr3t-alpha"])
        let daemon = try daemon(["--target-contexts", "prod-*", "--cluster-name", "mgmt", "--metrics-bind-address", "0",
                                 "--health-probe-bind-address", "0"],
                                config: "target-clusters:\n  prod-us:\n    require-namespace-consent: true\n")
        XCTAssertNotNil(daemon.waitForLog(#""msg":"ready""#), daemon.tail)
        try mgmt.create(profiles, [
            "apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile", "metadata": ["name": "base", "namespace": "platform"],
            "spec": ["targetNamespaces": ["team-*"], "targetClusters": ["prod-*"], "sources": [["kind": "Secret", "name": "registry"]]],
        ])
        XCTAssertTrue(eventually { eu.replicas(.secret, "registry") == ["team-a", "team-b"] && us.replicas(.secret, "registry") == ["team-b"] },
                      "prod-eu \(eu.replicas(.secret, "registry")), prod-us \(us.replicas(.secret, "registry"))\n\(daemon.tail)")
        XCTAssertEqual(mgmt.replicas(.secret, "registry"), [], "targetClusters does not name local")
        XCTAssertEqual(eu.annotations(.secret, "team-a", "registry")[Key.sourceCluster], "mgmt")
        XCTAssertEqual(eu.annotations(.secret, "team-a", "registry")[Key.profileRef], "platform/base")
        XCTAssertTrue(eventually {
            daemon.records.contains { $0["action"] == "create" && $0["cluster"] == "prod-us" && $0["profile"] == "platform/base" }
        }, "audit lines name the cluster and the profile")
        let ready = { mgmt.object(profiles, "platform", "base")?["status"]?["conditions"]?.arrayValue?.first { $0["type"] == "Ready" } }
        XCTAssertTrue(eventually {
            ready()?["message"]?.stringValue
                == "every replica is in place (the watched cluster: 0 namespaces; cluster prod-eu: 2 namespaces; cluster prod-us: 1 namespace)"
        }, String(describing: ready()))

        try mgmt.delete(profiles, "platform", "base")
        XCTAssertTrue(eventually { mgmt.object(profiles, "platform", "base") == nil }, daemon.tail)
        XCTAssertEqual(eu.replicas(.secret, "registry"), [], "the finalizer was released while replicas remained in prod-eu")
        XCTAssertEqual(us.replicas(.secret, "registry"), [], "the finalizer was released while replicas remained in prod-us")
    }

    /// `spillwayd plan` and `spillwayd uninstall --delete-replicas` with `--target-contexts`: the
    /// plan shows each target cluster's decisions by its own rules, and uninstall deletes the
    /// replicas this watched cluster wrote there — and nothing else: not that cluster's own
    /// replicas, nor another management host's (in a target cluster or in the watched one).
    func testPlanAndUninstallCoverTheTargetClustersAndTouchNothingElse() throws {
        let (mgmt, eu, us) = (clusters["mgmt"]!, clusters["prod-eu"]!, clusters["prod-us"]!)
        try mgmt.namespace("platform")
        for cluster in [mgmt, eu, us] { try cluster.namespace("team-a") }
        try eu.namespace("team-b")
        try mgmt.secret("platform", "db", annotations: [Key.replicateTo: "team-*", Key.clusters: "local,prod-*"], data: ["password": "s3cr3t-alpha"])
        // A profile naming prod-eu only.
        let crd = try CustomResourceDefinition(yaml: String(contentsOfFile: ProfileProcessTests.crdPath, encoding: .utf8))
        mgmt.emulator.register(crd)
        try mgmt.secret("platform", "registry", data: ["k": "s3cr3t-alpha"])
        try mgmt.create(try XCTUnwrap(crd.resourceTypes.first { $0.version == "v1" }), [
            "apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile", "metadata": ["name": "base", "namespace": "platform"],
            "spec": ["targetNamespaces": ["team-b"], "targetClusters": ["prod-eu"], "sources": [["kind": "Secret", "name": "registry"]]],
        ])
        // Not ours: prod-eu's own spillway's replica, and another management host's, in prod-eu and in mgmt.
        let managed = [Key.managedBy: "spillway"]
        try eu.secret("team-b", "own", annotations: [Key.sourceFrom: "Secret/platform/own"], labels: managed, data: ["k": "v"])
        try eu.secret("team-a", "elsewhere", annotations: [Key.sourceFrom: "Secret/platform/elsewhere", Key.sourceCluster: "other-hub"],
                      labels: managed, data: ["k": "v"])
        try mgmt.secret("team-a", "elsewhere", annotations: [Key.sourceFrom: "Secret/platform/elsewhere", Key.sourceCluster: "other-hub"],
                        labels: managed, data: ["k": "v"])
        let config = "target-clusters:\n  prod-us:\n    require-namespace-consent: true\n"
        let configPath = directory.appendingPathComponent("commands.conf").path
        try config.write(toFile: configPath, atomically: true, encoding: .utf8)
        func command(_ arguments: [String]) throws -> (code: Int32?, stdout: String, stderr: String) {
            let process = try Spillwayd(arguments + ["--kubeconfig", try kubeconfig(), "--config", configPath,
                                                     "--target-contexts", "prod-*", "--cluster-name", "mgmt"],
                                        emptyConfig: directory.appendingPathComponent("empty-\(UUID()).conf"))
            let code = process.waitForExit()
            return (code, process.stdout, process.stderr)
        }

        let plan = try command(["plan"])
        XCTAssertEqual(plan.code, 0, plan.stderr)
        for line in ["create    Secret team-a/db (", "create    Secret team-a/db in cluster prod-eu (",
                     "create    Secret team-b/db in cluster prod-eu (", "skip      Secret team-a/db in cluster prod-us: ",
                     "create    Secret team-b/registry in cluster prod-eu (named in targetNamespaces) [SpillwayProfile platform/base]"] {
            XCTAssertTrue(plan.stdout.contains(line), "\(line)\n\(plan.stdout)")
        }
        XCTAssertTrue(plan.stdout.contains("plan: 2 sources (with target clusters prod-eu, prod-us): 4 create, 1 skip"), plan.stdout)
        let json = try command(["plan", "--output", "json"])
        let reports = try XCTUnwrap(JSONParser.parse(json.stdout).arrayValue)
        XCTAssertEqual(Set(reports.map { $0["cluster"]?.stringValue ?? "local" }), ["local", "prod-eu", "prod-us"])
        XCTAssertEqual(eu.replicas(.secret, "db"), [], "plan writes nothing")

        let daemon = try daemon(["--target-contexts", "prod-*", "--cluster-name", "mgmt", "--metrics-bind-address", "0",
                                 "--health-probe-bind-address", "0"], config: config)
        XCTAssertTrue(eventually { mgmt.replicas(.secret, "db") == ["team-a"] && eu.replicas(.secret, "db") == ["team-a", "team-b"]
            && eu.replicas(.secret, "registry") == ["team-b"] }, daemon.tail)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.tail)
        let settled = try command(["plan"])
        XCTAssertTrue(settled.stdout.contains("unchanged Secret team-b/db in cluster prod-eu"), settled.stdout)

        let uninstall = try command(["uninstall", "--delete-replicas"])
        XCTAssertEqual(uninstall.code, 0, uninstall.stderr)
        XCTAssertTrue(uninstall.stdout.contains("replica deleted    Secret/team-b/db in cluster prod-eu"), uninstall.stdout)
        XCTAssertTrue(uninstall.stdout.contains("2 finalizer(s) removed, 4 replica(s) deleted (in the watched cluster and 2 target clusters); done"), uninstall.stdout)
        XCTAssertEqual(mgmt.replicas(.secret, "db"), [])
        XCTAssertEqual(eu.replicas(.secret, "db"), [])
        XCTAssertEqual(eu.replicas(.secret, "registry"), [], "the profile's replica in prod-eu is deleted too")
        XCTAssertEqual(eu.replicas(.secret, "own"), ["team-b"], "prod-eu's own replica stays")
        XCTAssertEqual(eu.replicas(.secret, "elsewhere"), ["team-a"], "another management host's replica stays")
        XCTAssertEqual(mgmt.replicas(.secret, "elsewhere"), ["team-a"], "another management host's replica in the watched cluster stays")
        XCTAssertEqual(mgmt.finalizers(.secret, "platform", "db"), [])
    }
}
