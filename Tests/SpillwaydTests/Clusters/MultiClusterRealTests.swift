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
        try secret(platform, "db", annotations: [Key.replicateTo: "\(prefix)app,\(prefix)team-*,\(consenting),\(prefix)refusing",
                                                 Key.clusters: "local,prod"], data: ["password": "s3cr3t-alpha"])
        let daemon = try launchDaemon(
            kubeconfig: kubeconfig, ["--target-contexts", "prod", "--cluster-name", "mgmt", "--target-cleanup-timeout", "120s",
                                   "--health-probe-bind-address", "127.0.0.1:0"],
            config: watched.directory.appendingPathComponent("daemon.conf"))
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

    /// A kubeconfig as a management host keeps it: context `mgmt` (the watched cluster, current)
    /// and `prod` (the target cluster), each with its own user; prod's token in a file beside it.
    private func twoContexts(watched: RealScenarioCluster, target: TargetControlPlane) throws -> String {
        let tokenFile = watched.directory.appendingPathComponent("prod.token").path
        try target.daemonToken().write(toFile: tokenFile, atomically: true, encoding: .utf8)
        func cluster(_ name: String, _ server: RealScenarioCluster.Server) -> String {
            var text = "- name: \(name)\n  cluster:\n    server: \(server.url)\n"
            if let ca = server.caData { text += "    certificate-authority-data: \(ca)\n" }
            if server.insecure { text += "    insecure-skip-tls-verify: true\n" }
            return text
        }
        let text = """
            apiVersion: v1
            kind: Config
            clusters:
            \(cluster("mgmt", watched.server))\(cluster("prod", target.server))users:
            - name: spillway-mgmt
              user:
                token: \(try watched.daemonToken(boundTo: nil))
            - name: spillway-prod
              user:
                tokenFile: prod.token
            contexts:
            - {name: mgmt, context: {cluster: mgmt, user: spillway-mgmt}}
            - {name: prod, context: {cluster: prod, user: spillway-prod}}
            current-context: mgmt

            """
        let path = watched.directory.appendingPathComponent("management.kubeconfig").path
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        chmod(tokenFile, 0o600)
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
