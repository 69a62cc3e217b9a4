import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// SIGHUP on the real daemon: RELOADING=1 … READY=1 on a fake NOTIFY_SOCKET, the new settings or
/// cluster applied by a new engine, the replicas that stay right left alone, and a kubeconfig that
/// does not load refused with the running connection kept.
final class ReloadProcessTests: XCTestCase {
    static func secret(_ name: String, replicateTo: String, password: String = "aHVudGVyMg==") -> JSONValue {
        [
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": [
                "name": .string(name), "namespace": "default",
                "annotations": ["spillway.kroy.io/replicate-to": .string(replicateTo)],
            ],
            "data": ["password": .string(password)],
        ]
    }

    private var directory: URL!
    private var config: String!
    private var socket: DatagramSocket!

    override func setUpWithError() throws {
        directory = try temporaryDirectory(self)
        config = directory.appendingPathComponent("spillway.conf").path
        socket = try DatagramSocket(path: directory.appendingPathComponent("notify").path)
    }

    /// spillwayd reading `settings` from its config file (so a reload can change any of them),
    /// reporting to the fake NOTIFY_SOCKET; waits for READY=1.
    private func startDaemon(settings: String) throws -> Spillwayd {
        try settings.write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try Spillwayd(
            ["--metrics-bind-address", "127.0.0.1:0", "--health-probe-bind-address", "127.0.0.1:0", "--log-format", "logfmt"],
            environment: ["SPILLWAY_CONFIG": config, "NOTIFY_SOCKET": socket.path],
            emptyConfig: directory.appendingPathComponent("unused.conf"))
        XCTAssertEqual(try XCTUnwrap(next("READY"), daemon.stderr)["READY"], "1")
        return daemon
    }

    /// Rewrites the config file, sends SIGHUP and returns the READY=1 message that ends the
    /// reload, after checking RELOADING=1 came first.
    private func reload(_ daemon: Spillwayd, settings: String) throws -> [String: String] {
        try settings.write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        XCTAssertEqual(try XCTUnwrap(next("RELOADING"), daemon.stderr)["RELOADING"], "1")
        let ready = try XCTUnwrap(next("READY"), daemon.stderr)
        XCTAssertEqual(ready["READY"], "1")
        return ready
    }

    /// The next sd_notify message carrying `key`, as fields (others, such as STATUS updates, are skipped).
    private func next(_ key: String) -> [String: String]? {
        while let datagram = socket.receive() {
            var fields: [String: String] = [:]
            for line in String(decoding: datagram, as: UTF8.self).split(separator: "\n") {
                let parts = line.split(separator: "=", maxSplits: 1)
                fields[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
            }
            if fields[key] != nil { return fields }
        }
        return nil
    }

    private func uid(_ cluster: TestCluster, _ namespace: String, _ name: String) -> String? {
        cluster.object(.secret, namespace, name)?["metadata"]?["uid"]?.stringValue
    }

    /// Successful writes to Secrets outside the sources' namespace: "verb namespace/name".
    private func replicaWrites(_ cluster: TestCluster, since mark: Int) -> [String] {
        cluster.emulator.requests.successfulWrites.dropFirst(mark)
            .filter { $0.resource == "secrets" && $0.namespace != "default" }
            .map { "\($0.verb) \($0.namespace)/\($0.name)" }
    }

    /// Under the shipped unit the kubeconfig is systemd's copy (LoadCredential=, made at start) and
    /// spillway.env is read at start only: a reload cannot see changes to them, and says so.
    func testAReloadUnderSystemdCredentialsSaysThatTheKubeconfigAndEnvironmentNeedARestart() throws {
        let cluster = try TestCluster(self)
        let credentials = directory.appendingPathComponent("credentials")
        try FileManager.default.createDirectory(at: credentials, withIntermediateDirectories: true)
        let kubeconfig = credentials.appendingPathComponent("kubeconfig").path
        try FileManager.default.copyItem(atPath: try cluster.kubeconfig(), toPath: kubeconfig)
        try "".write(toFile: config, atomically: true, encoding: .utf8)
        let daemon = try Spillwayd(
            ["run", "--config=\(config!)", "--kubeconfig=\(kubeconfig)", "--metrics-bind-address", "0",
             "--health-probe-bind-address", "0", "--log-format", "logfmt"],
            environment: ["NOTIFY_SOCKET": socket.path, "CREDENTIALS_DIRECTORY": credentials.path],
            emptyConfig: directory.appendingPathComponent("unused.conf"))
        XCTAssertEqual(try XCTUnwrap(next("READY"), daemon.stderr)["READY"], "1")
        _ = try reload(daemon, settings: "log-level: info\n")
        XCTAssertNotNil(daemon.waitForLog(#"the kubeconfig is the copy systemd made at start \(LoadCredential=\).*systemctl restart spillwayd"#, within: 5),
                        daemon.stderr)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
    }

    func testProtectedNamespacesChangedOnReloadApplyWithoutRewritingTheReplicasThatStay() throws {
        let cluster = try TestCluster(self)
        for name in ["team-a", "team-b"] { try cluster.namespace(name) }
        try cluster.create(.secret, Self.secret("db-pass", replicateTo: "team-*"))
        let daemon = try startDaemon(settings: "kubeconfig: \(try cluster.kubeconfig())\n")
        XCTAssertTrue(eventually { self.uid(cluster, "team-a", "db-pass") != nil && self.uid(cluster, "team-b", "db-pass") != nil }, daemon.stderr)
        let kept = try XCTUnwrap(uid(cluster, "team-a", "db-pass"))
        // The emulator accounts a write once it has answered it, a moment after the object is
        // visible: wait for both creates to be counted, or one could land after the mark.
        XCTAssertTrue(eventually { self.replicaWrites(cluster, since: 0).filter { $0.hasPrefix("create") }.count == 2 })
        let mark = cluster.emulator.requests.successfulWrites.count

        // team-b becomes protected: a glob no longer reaches it.
        _ = try reload(daemon, settings: "kubeconfig: \(try cluster.kubeconfig())\nprotected-namespaces: kube-system,team-b\n")
        XCTAssertTrue(eventually { self.uid(cluster, "team-b", "db-pass") == nil }, daemon.stderr)
        // A namespace created after the reload: its replica proves the source was planned again
        // by the new engine after the deletion.
        try cluster.namespace("team-c")
        XCTAssertTrue(eventually { self.uid(cluster, "team-c", "db-pass") != nil }, daemon.stderr)

        XCTAssertEqual(uid(cluster, "team-a", "db-pass"), kept, "the replica that stays right is the same object")
        XCTAssertEqual(replicaWrites(cluster, since: mark), ["delete team-b/db-pass", "create team-c/db-pass"])
        XCTAssertNotNil(daemon.waitForLog("configuration reloaded", within: 5))

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
    }

    /// Each reload switches identity, so a new client replaces the old one, which goes away when
    /// the old engine's last write in flight lands — from inside that write's completion. Run with
    /// the AddressSanitizer build of spillwayd (docs/testing.md) to check that nothing freed is
    /// touched then; every run checks that no write is lost across the swaps.
    func testReloadsThatReplaceTheClientWhileWritesAreInFlightLoseNothing() throws {
        let cluster = try TestCluster(self, users: ["spillwayd", "admin"])
        let namespaces = (0..<16).map { "team-\($0)" }
        for name in namespaces { try cluster.namespace(name) }
        let identities = [try cluster.kubeconfig(as: "spillwayd"), try cluster.kubeconfig(as: "admin")]
        let daemon = try startDaemon(settings: "kubeconfig: \(identities[0])\n")
        cluster.emulator.faults.latency = .milliseconds(100)
        var sources: [String] = []
        for round in 1...4 {
            let mark = cluster.emulator.requests.writes.count
            for index in 0..<8 {
                let name = "burst-\(round)-\(index)"
                sources.append(name)
                try cluster.create(.secret, Self.secret(name, replicateTo: "team-*"))
            }
            // Reload once the burst's writes are under way.
            XCTAssertTrue(eventually { cluster.emulator.requests.writes.count >= mark + 8 }, daemon.stderr)
            _ = try reload(daemon, settings: "kubeconfig: \(identities[round % 2])\n")
        }
        cluster.emulator.faults.latency = .zero
        let expected = Set(namespaces)
        XCTAssertTrue(eventually(within: 60) {
            sources.allSatisfy { name in expected.allSatisfy { self.uid(cluster, $0, name) != nil } }
        }, "replicas missing after the reloads: \(daemon.tail)")

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.tail)
    }

    func testRequireNamespaceConsentOnReloadRemovesReplicasFromNamespacesThatDidNotConsent() throws {
        let cluster = try TestCluster(self)
        try cluster.namespace("team-a")
        try cluster.create(.namespace, ["metadata": ["name": "team-b", "annotations": ["spillway.kroy.io/accept-from": "Secret/default/*"]]])
        try cluster.create(.secret, Self.secret("db-pass", replicateTo: "team-a,team-b"))
        let daemon = try startDaemon(settings: "kubeconfig: \(try cluster.kubeconfig())\n")
        XCTAssertTrue(eventually { self.uid(cluster, "team-a", "db-pass") != nil && self.uid(cluster, "team-b", "db-pass") != nil }, daemon.stderr)
        let kept = try XCTUnwrap(uid(cluster, "team-b", "db-pass"))
        let mark = cluster.emulator.requests.writes.count

        _ = try reload(daemon, settings: "kubeconfig: \(try cluster.kubeconfig())\nrequire-namespace-consent: true\n")
        XCTAssertTrue(eventually { self.uid(cluster, "team-a", "db-pass") == nil }, daemon.stderr)
        XCTAssertEqual(uid(cluster, "team-b", "db-pass"), kept, "the namespace that consented keeps its replica")
        XCTAssertEqual(replicaWrites(cluster, since: mark), ["delete team-a/db-pass"])

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
    }

    func testReloadWithAKubeconfigOfAnotherClusterMovesTheDaemonThere() throws {
        let first = try TestCluster(self)
        let second = try TestCluster(self)
        for cluster in [first, second] {
            try cluster.namespace("team-a")
            try cluster.create(.secret, Self.secret("db-pass", replicateTo: "team-a"))
        }
        let daemon = try startDaemon(settings: "kubeconfig: \(try first.kubeconfig())\n")
        XCTAssertTrue(eventually { self.uid(first, "team-a", "db-pass") != nil }, daemon.stderr)
        XCTAssertNil(uid(second, "team-a", "db-pass"))

        let ready = try reload(daemon, settings: "kubeconfig: \(try second.kubeconfig())\n")
        XCTAssertFalse(ready["STATUS"]?.contains("last error") ?? true, "\(ready)")
        XCTAssertNotNil(daemon.waitForLog(#"connection reloaded.*server=https?://127\.0\.0\.1:\#(second.port)"#), daemon.stderr)
        XCTAssertTrue(eventually { self.uid(second, "team-a", "db-pass") != nil }, daemon.stderr)

        // A new source in each: only the cluster the daemon now talks to gets a replica.
        try first.create(.secret, Self.secret("api-key", replicateTo: "team-a"))
        try second.create(.secret, Self.secret("api-key", replicateTo: "team-a"))
        XCTAssertTrue(eventually { self.uid(second, "team-a", "api-key") != nil }, daemon.stderr)
        XCTAssertNil(uid(first, "team-a", "api-key"), "the first cluster is no longer served")
        XCTAssertNotNil(uid(first, "team-a", "db-pass"), "leaving a cluster deletes nothing there")

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
    }

    func testReloadWithAKubeconfigThatDoesNotLoadKeepsTheRunningConnectionAndSaysWhy() throws {
        let cluster = try TestCluster(self)
        try cluster.namespace("team-a")
        try cluster.create(.secret, Self.secret("db-pass", replicateTo: "team-a"))
        let daemon = try startDaemon(settings: "kubeconfig: \(try cluster.kubeconfig())\n")
        XCTAssertTrue(eventually { self.uid(cluster, "team-a", "db-pass") != nil }, daemon.stderr)

        let missing = directory.appendingPathComponent("no-such-kubeconfig").path
        let ready = try reload(daemon, settings: "kubeconfig: \(missing)\n")
        let status = try XCTUnwrap(ready["STATUS"])
        XCTAssertTrue(status.contains("last error: reload refused: "), status)
        XCTAssertTrue(status.contains(missing), status)
        XCTAssertNotNil(daemon.waitForLog("configuration not reloaded, keeping the running one", within: 5), daemon.stderr)

        // The running engine still replicates.
        try cluster.create(.secret, Self.secret("api-key", replicateTo: "team-a"))
        XCTAssertTrue(eventually { self.uid(cluster, "team-a", "api-key") != nil }, daemon.stderr)

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
    }
}
