import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// The real spillwayd binary against the emulator: readiness, replication, plan, uninstall,
/// metrics, the API going away, two daemons sharing a lease, and secrets kept out of the logs.
final class DaemonClusterTests: XCTestCase {
    /// The seed's examples (examples/secret.yaml, examples/configmap.yaml) as the API stores them.
    static let secret: JSONValue = [
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": [
            "name": "shared-db-credentials", "namespace": "default",
            "annotations": [
                "spillway.kroy.io/replicate-to": "team-*,sandbox,prod",
                "spillway.kroy.io/exclude-namespaces": "team-dev,team-qa-*",
            ],
        ],
        // username: app, password: change-me
        "data": ["username": "YXBw", "password": "Y2hhbmdlLW1l"],
    ]
    static let configMap: JSONValue = [
        "apiVersion": "v1", "kind": "ConfigMap",
        "metadata": [
            "name": "shared-settings", "namespace": "default",
            "labels": ["app.kubernetes.io/part-of": "platform"],
            "annotations": ["spillway.kroy.io/replicate-to": "all"],
        ],
        "data": ["LOG_LEVEL": "info", "FEATURE_FLAGS": "search,checkout"],
    ]
    static let namespaces = ["team-a", "team-b", "team-dev", "team-qa-1", "sandbox", "prod", "other"]
    static let secretTargets = ["team-a", "team-b", "sandbox", "prod"]

    var cluster: TestCluster!

    override func setUpWithError() throws {
        cluster = try TestCluster(self, users: ["spillwayd", "daemon-a", "daemon-b"])
        for name in Self.namespaces { try cluster.namespace(name) }
    }

    func seedExamples() throws {
        try cluster.create(.secret, Self.secret)
        try cluster.create(.configMap, Self.configMap)
    }

    func daemon(_ extra: [String] = [], user: String = "spillwayd", environment: [String: String] = [:]) throws -> Spillwayd {
        try Spillwayd(
            ["--kubeconfig", try cluster.kubeconfig(as: user), "--metrics-bind-address", "127.0.0.1:0",
             "--health-probe-bind-address", "127.0.0.1:0", "--log-format", "logfmt"] + extra,
            environment: environment, emptyConfig: cluster.directory.appendingPathComponent("empty-\(UUID()).conf"))
    }

    func command(_ arguments: [String]) throws -> (code: Int32?, stdout: String, stderr: String) {
        let process = try Spillwayd(
            arguments + ["--kubeconfig", try cluster.kubeconfig()],
            emptyConfig: cluster.directory.appendingPathComponent("empty-\(UUID()).conf"))
        let code = process.waitForExit()
        return (code, process.stdout, process.stderr)
    }

    func replica(_ type: ResourceType, _ namespace: String, _ name: String) -> JSONValue? {
        guard let object = cluster.object(type, namespace, name),
            object["metadata"]?["labels"]?["spillway.kroy.io/managed-by"]?.stringValue == "spillway"
        else { return nil }
        return object
    }

    func allReplicasExist() -> Bool {
        Self.secretTargets.allSatisfy { replica(.secret, $0, "shared-db-credentials") != nil }
            && (Self.namespaces.filter { $0 != "default" }).allSatisfy { replica(.configMap, $0, "shared-settings") != nil }
    }

    // MARK: - Readiness and replication

    func testReadyOnlyAfterTheCachesSyncedThenReplicasOfTheSeedExamplesAppear() throws {
        try seedExamples()
        cluster.stop()
        let socket = try DatagramSocket(path: cluster.directory.appendingPathComponent("notify").path)
        let daemon = try daemon(environment: ["NOTIFY_SOCKET": socket.path])
        // The API is down: the informers cannot list, so no READY.
        var early: [String] = []
        while let datagram = socket.receive(within: 3) { early.append(String(decoding: datagram, as: UTF8.self)) }
        XCTAssertFalse(early.contains { $0.contains("READY=1") }, "READY before any list: \(early)")
        XCTAssertTrue(early.contains { $0.contains("STATUS=Syncing caches") }, "\(early)")

        try cluster.restart()
        var ready: String?
        while ready == nil, let datagram = socket.receive(within: 30) {
            let text = String(decoding: datagram, as: UTF8.self)
            if text.contains("READY=1") { ready = text }
        }
        XCTAssertNotNil(ready, daemon.stderr)
        XCTAssertNotNil(daemon.waitForLog("caches synced", within: 5), "READY without a sync")

        XCTAssertTrue(eventually { self.allReplicasExist() }, daemon.stderr)
        let copy = try XCTUnwrap(replica(.secret, "team-a", "shared-db-credentials"))
        XCTAssertEqual(copy["metadata"]?["annotations"]?["spillway.kroy.io/source-from"]?.stringValue, "Secret/default/shared-db-credentials")
        XCTAssertEqual(copy["data"]?["password"]?.stringValue, "Y2hhbmdlLW1l")
        XCTAssertNil(cluster.object(.secret, "team-dev", "shared-db-credentials"), "excluded")
        XCTAssertNil(cluster.object(.secret, "team-qa-1", "shared-db-credentials"), "excluded by glob")
        XCTAssertNil(cluster.object(.configMap, "kube-system", "shared-settings"), "protected from all")
        XCTAssertEqual(
            replica(.configMap, "other", "shared-settings")?["metadata"]?["labels"]?["app.kubernetes.io/part-of"]?.stringValue, "platform")

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
    }

    func testMetricsAfterAReplicationAndReadyzFollowsTheAPIServer() throws {
        try seedExamples()
        let daemon = try daemon()
        let metrics = try XCTUnwrap(daemon.waitForLog(#"address=(127\.0\.0\.1:\d+) endpoint=metrics"#), daemon.stderr)
        let health = try XCTUnwrap(daemon.waitForLog(#"address=(127\.0\.0\.1:\d+) endpoint=health"#), daemon.stderr)
        XCTAssertTrue(eventually { self.allReplicasExist() }, daemon.stderr)
        XCTAssertTrue(eventually { (try? httpGet("http://\(health)/readyz").status) == 200 })

        let scrape = try httpGet("http://\(metrics)/metrics").body
        let samples = exposition(scrape)
        XCTAssertEqual(samples[#"spillway_replications_total{kind="Secret",result="success"}"#], 4, scrape)
        XCTAssertEqual(samples[#"spillway_replications_total{kind="ConfigMap",result="success"}"#], 9, scrape)
        XCTAssertEqual(samples["spillway_leader"], 1)
        XCTAssertNotNil(samples["spillway_managed_replicas"], scrape)

        cluster.stop()
        XCTAssertTrue(eventually { (try? httpGet("http://\(health)/readyz").status) == 503 }, "readyz stays 200 without the API")
        XCTAssertTrue(try httpGet("http://\(health)/readyz").body.contains("API server unreachable"))
        XCTAssertEqual(try httpGet("http://\(health)/healthz").status, 200, "the process itself is fine")
        try cluster.restart()
        XCTAssertTrue(eventually { (try? httpGet("http://\(health)/readyz").status) == 200 }, daemon.stderr)

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
    }

    // MARK: - plan and uninstall

    func testPlanShowsWhatWouldBeCreatedAndWritesNothing() throws {
        try seedExamples()
        try cluster.create(.secret, ["metadata": ["name": "shared-db-credentials", "namespace": "prod"], "data": ["x": "eA=="]])
        cluster.emulator.accounting.reset()

        let text = try command(["plan"])
        XCTAssertEqual(text.code, 0, text.stderr)
        XCTAssertTrue(text.stdout.contains("create    Secret team-a/shared-db-credentials"), text.stdout)
        XCTAssertTrue(text.stdout.contains("create    ConfigMap other/shared-settings"), text.stdout)
        XCTAssertTrue(text.stdout.contains("skip      Secret prod/shared-db-credentials: "), text.stdout)
        XCTAssertTrue(text.stdout.contains("force-adopt"), "a skip says how to take the object over: \(text.stdout)")
        XCTAssertFalse(text.stdout.contains("create    Secret team-dev/"), text.stdout)

        let json = try command(["plan", "--output", "json", "--namespaces", "team-a,prod"])
        XCTAssertEqual(json.code, 0, json.stderr)
        let reports = try XCTUnwrap(try JSONSerialization.jsonObject(with: Data(json.stdout.utf8)) as? [[String: Any]])
        let decisions = reports.flatMap { ($0["decisions"] as? [[String: Any]]) ?? [] }
        let byNamespace = Dictionary(grouping: decisions) { $0["namespace"] as? String ?? "" }
        XCTAssertEqual(Set(byNamespace.keys), ["team-a", "prod"])
        XCTAssertEqual(Set(decisions.compactMap { $0["action"] as? String }), ["create", "skip"])

        XCTAssertEqual(cluster.emulator.requests.writes.count, 0, "plan wrote: \(cluster.emulator.requests.writes)")
        XCTAssertFalse(text.stdout.contains("Y2hhbmdlLW1l") || json.stdout.contains("Y2hhbmdlLW1l"), "plan printed secret data")
    }

    func testPlanFromFilesAgainstGivenNamespacesNeedsNoCluster() throws {
        let file = cluster.directory.appendingPathComponent("secret.yaml").path
        try """
            apiVersion: v1
            kind: Secret
            metadata:
              name: shared-db-credentials
              namespace: default
              annotations:
                spillway.kroy.io/replicate-to: "team-*,sandbox,prod"
                spillway.kroy.io/exclude-namespaces: "team-dev,team-qa-*"
            type: Opaque
            stringData:
              password: change-me
            """.write(toFile: file, atomically: true, encoding: .utf8)
        cluster.stop()
        let plan = try command(["plan", "--namespaces", "team-a,team-dev,sandbox,other", file])
        XCTAssertEqual(plan.code, 0, plan.stderr)
        let creates = plan.stdout.split(separator: "\n").filter { $0.hasPrefix("create") }
        XCTAssertEqual(creates.count, 2, plan.stdout)
        XCTAssertTrue(plan.stdout.contains("create    Secret team-a/shared-db-credentials"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("create    Secret sandbox/shared-db-credentials"), plan.stdout)
        XCTAssertFalse(plan.stdout.contains("change-me"), "plan printed secret data")
    }

    func testUninstallRemovesFinalizersAndWithDeleteReplicasEveryReplica() throws {
        try seedExamples()
        let daemon = try daemon()
        XCTAssertTrue(eventually { self.allReplicasExist() }, daemon.stderr)
        XCTAssertTrue(eventually { self.finalizers("shared-db-credentials", .secret).contains("spillway.kroy.io/replicas") })
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0)

        let first = try command(["uninstall"])
        XCTAssertEqual(first.code, 0, first.stderr)
        XCTAssertTrue(first.stdout.contains("finalizer removed"), first.stdout)
        XCTAssertFalse(finalizers("shared-db-credentials", .secret).contains("spillway.kroy.io/replicas"))
        XCTAssertFalse(finalizers("shared-settings", .configMap).contains("spillway.kroy.io/replicas"))
        XCTAssertTrue(allReplicasExist(), "without --delete-replicas the replicas stay")

        let second = try command(["uninstall", "--delete-replicas"])
        XCTAssertEqual(second.code, 0, second.stderr)
        XCTAssertTrue(second.stdout.contains("replica deleted"), second.stdout)
        for namespace in Self.namespaces {
            XCTAssertNil(replica(.secret, namespace, "shared-db-credentials"), namespace)
            XCTAssertNil(replica(.configMap, namespace, "shared-settings"), namespace)
        }
        XCTAssertNotNil(cluster.object(.secret, "default", "shared-db-credentials"), "sources stay")

        let again = try command(["uninstall", "--delete-replicas"])
        XCTAssertEqual(again.code, 0, "idempotent: \(again.stderr)")
        XCTAssertTrue(again.stdout.contains("0 finalizer(s) removed, 0 replica(s) deleted; done"), again.stdout)
    }

    func testUninstallAgainstAnUnreachableAPIFailsWithExitCodeOne() throws {
        cluster.stop()
        let result = try command(["uninstall"])
        XCTAssertEqual(result.code, 1, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("failed"), result.stdout)
    }

    func finalizers(_ name: String, _ type: ResourceType) -> [String] {
        cluster.object(type, "default", name)?["metadata"]?["finalizers"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    // MARK: - Two daemons

    func testTwoDaemonsExactlyOneWritesAndKillNineFailsOverWithinTheLeaseDuration() throws {
        let election = [
            "--leader-elect", "--leader-elect-namespace", "default", "--leader-elect-lease-duration", "3s",
            "--leader-elect-renew-deadline", "2s", "--leader-elect-retry-period", "500ms",
        ]
        let a = try daemon(election, user: "daemon-a")
        let b = try daemon(election, user: "daemon-b")
        try seedExamples()
        XCTAssertTrue(eventually { self.allReplicasExist() }, a.stderr + b.stderr)
        let writers = Set(replicaWrites().map(\.user))
        XCTAssertEqual(writers.count, 1, "replicas written by \(writers)")
        let leaderUser = try XCTUnwrap(writers.first)
        let standbyUser = leaderUser == "daemon-a" ? "daemon-b" : "daemon-a"
        let (leaderProcess, standbyProcess) = leaderUser == "daemon-a" ? (a, b) : (b, a)

        leaderProcess.signal(SIGKILL)
        let killed = Date()
        try cluster.create(.secret, source("after-kill", to: "team-a"))
        XCTAssertTrue(eventually(within: 15) { self.replica(.secret, "team-a", "after-kill") != nil }, standbyProcess.stderr)
        let failover = Date().timeIntervalSince(killed)
        XCTAssertLessThan(failover, 3 + 2 * 0.6 + 2, "failover took \(failover) s")
        XCTAssertEqual(replicaWrites().last?.user, standbyUser)
        assertWritersNeverOverlap()

        standbyProcess.signal(SIGTERM)
        XCTAssertEqual(standbyProcess.waitForExit(), 0, standbyProcess.stderr)
    }

    func testSIGTERMOfTheLeaderHandsOverWithinASecond() throws {
        // Production timings: the release, not the 15 s lease, must make the handover quick.
        try seedExamples()
        let election = ["--leader-elect", "--leader-elect-namespace", "default"]
        let a = try daemon(election, user: "daemon-a")
        XCTAssertNotNil(a.waitForLog("became the leader"), a.stderr)
        let b = try daemon(election, user: "daemon-b")
        XCTAssertNotNil(b.waitForLog("standing by"), b.stderr)
        XCTAssertNotNil(b.waitForLog("caches synced"), b.stderr)

        a.signal(SIGTERM)
        XCTAssertEqual(a.waitForExit(), 0, a.stderr)
        let released = Date()
        XCTAssertTrue(a.stderr.contains("lease released"), a.stderr)
        try cluster.create(.secret, source("after-handover", to: "team-b"))
        XCTAssertNotNil(b.waitForLog("became the leader", within: 10), b.stderr)
        let handover = Date().timeIntervalSince(released)
        // The standby watches the Lease: the release, not its 2 s poll, starts the takeover.
        XCTAssertLessThan(handover, 1, "handover took \(handover) s")

        XCTAssertTrue(eventually { self.replica(.secret, "team-b", "after-handover") != nil }, b.stderr)
        XCTAssertEqual(replicaWrites().last?.user, "daemon-b")
        assertWritersNeverOverlap()
        b.signal(SIGTERM)
        XCTAssertEqual(b.waitForExit(), 0, b.stderr)
    }

    func source(_ name: String, to targets: String) -> JSONValue {
        [
            "metadata": ["name": .string(name), "namespace": "default", "annotations": ["spillway.kroy.io/replicate-to": .string(targets)]],
            "data": ["k": "dg=="],
        ]
    }

    func replicaWrites() -> [RequestAccounting.Write] {
        cluster.emulator.requests.successfulWrites.filter { ($0.resource == "secrets" || $0.resource == "configmaps") && $0.namespace != "default" }
    }

    /// A writer change happens only through a lease write by the new writer after the old
    /// writer's last write.
    func assertWritersNeverOverlap(file: StaticString = #filePath, line: UInt = #line) {
        let writes = cluster.emulator.requests.successfulWrites
        let replicas = replicaWrites()
        for (previous, next) in zip(replicas, replicas.dropFirst()) where previous.user != next.user {
            XCTAssertTrue(
                writes.contains { $0.resource.hasPrefix("leases") && $0.user == next.user && $0.time >= previous.time && $0.time <= next.time },
                "\(next.user) wrote without taking the lease after \(previous.user)'s last write", file: file, line: line)
        }
    }

    // MARK: - Secrets never reach the logs

    func testPlantedSecretValuesAppearInNoLogLineOfADebugRun() throws {
        let planted = ["planted-password-7f3a9c", "planted-token-Q2VjcmV0", "multi\nline-planted-value"]
        var data: [String: JSONValue] = [:]
        for (index, value) in planted.enumerated() { data["key\(index)"] = .string(Data(value.utf8).base64EncodedString()) }
        try cluster.create(.secret, [
            "metadata": ["name": "planted", "namespace": "default", "annotations": ["spillway.kroy.io/replicate-to": "team-*"]],
            "data": .object(data),
        ])
        // A conflict and an update make the engine log skips and changes too.
        try cluster.create(.secret, ["metadata": ["name": "planted", "namespace": "team-b"], "data": ["x": "eA=="]])
        for format in ["logfmt", "json"] {
            let daemon = try daemon(["--log-level", "debug", "--log-format", format])
            XCTAssertTrue(eventually { self.replica(.secret, "team-a", "planted") != nil }, daemon.stderr)
            XCTAssertNotNil(daemon.waitForLog(#"\bready\b"#), daemon.stderr)
            daemon.signal(SIGTERM)
            XCTAssertEqual(daemon.waitForExit(), 0)
            let log = daemon.stderr + daemon.stdout
            XCTAssertTrue(log.contains("caches synced") && log.contains("debug"), "the scanned log is a whole debug run's: \(log)")
            for value in planted {
                for form in [value, Data(value.utf8).base64EncodedString()] {
                    XCTAssertFalse(log.contains(form), "\(format) log contains a secret value (\(form))")
                }
            }
        }
        let plan = try command(["plan", "--output", "json", "--log-level", "debug"])
        for value in planted {
            XCTAssertFalse((plan.stdout + plan.stderr).contains(Data(value.utf8).base64EncodedString()))
            XCTAssertFalse((plan.stdout + plan.stderr).contains(value))
        }
    }

    func exposition(_ text: String) -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            let split = line.lastIndex(of: " ")!
            samples[String(line[..<split])] = Double(line[line.index(after: split)...])
        }
        return samples
    }
}
