import Foundation
import KubeEmulator
import KubeWire
import SpillwayTestSupport
import XCTest

/// Scenarios that run the real spillwayd against any `ScenarioCluster`, reading and writing the
/// cluster with kubectl alone. A subclass picks the cluster (`makeCluster`) and names the
/// scenarios it runs as its test methods.
class ClusterScenarioTestCase: XCTestCase {
    var cluster: ScenarioCluster!
    private var daemons = 0

    func makeCluster() throws -> ScenarioCluster { fatalError("a subclass picks the cluster") }

    override func setUpWithError() throws {
        cluster = try makeCluster()
    }

    var kubectl: Kubectl { cluster.kubectl }
    var prefix: String { cluster.prefix }

    // MARK: Arranging

    /// Creates the namespace `prefix + name`, labelled for clean-up; returns its full name.
    @discardableResult
    func namespace(_ name: String, labels: [String: String] = [:]) throws -> String {
        let full = prefix + name
        var all = labels
        all["spillway-test"] = cluster.runLabel
        try kubectl.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(full), "labels": .strings(all)]])
        return full
    }

    func secret(_ namespace: String, _ name: String, annotations: [String: String] = [:], data: [String: String]) throws {
        try kubectl.apply([
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "annotations": .strings(annotations)],
            "data": .strings(data.mapValues { Data($0.utf8).base64EncodedString() }),
        ])
    }

    func configMap(_ namespace: String, _ name: String, annotations: [String: String] = [:], labels: [String: String] = [:], data: [String: String]) throws {
        try kubectl.apply([
            "apiVersion": "v1", "kind": "ConfigMap",
            "metadata": ["name": .string(name), "namespace": .string(namespace), "annotations": .strings(annotations), "labels": .strings(labels)],
            "data": .strings(data),
        ])
    }

    func mergePatch(_ kind: String, _ namespace: String, _ name: String, _ patch: JSONValue) throws {
        try kubectl("patch", kind, name, "-n", namespace, "--type", "merge", "-p", patch.jsonString)
    }

    // MARK: Reading

    func object(_ kind: String, _ namespace: String, _ name: String) -> JSONValue? {
        guard let result = try? kubectl.attempt(["get", kind, name, "-n", namespace, "-o", "json"]), result.status == 0 else { return nil }
        return try? JSONParser.parse(result.output)
    }

    /// A Secret's data, decoded; nil when it does not exist.
    func secretData(_ namespace: String, _ name: String) -> [String: String]? {
        guard let object = object("secret", namespace, name) else { return nil }
        return (object["data"]?.stringMap ?? [:]).mapValues { String(decoding: Data(base64Encoded: $0) ?? Data(), as: UTF8.self) }
    }

    /// This test's namespaces holding a managed replica named `name`.
    func replicas(_ kind: String, _ name: String) -> Set<String> {
        guard let list = try? kubectl.json("get", kind, "-A", "-l", "\(Key.managedBy)=spillway", "--field-selector", "metadata.name=\(name)")
        else { return [] }
        return Set((list["items"]?.arrayValue ?? []).compactMap { $0["metadata"]?["namespace"]?.stringValue }.filter { $0.hasPrefix(prefix) })
    }

    // MARK: The daemon

    /// Starts spillwayd as the cluster's daemon identity (through `proxy` when given) and waits
    /// until it is ready (see `launchDaemon` for what happens when the test ends).
    func startDaemon(
        _ flags: [String] = [], through proxy: TCPProxy? = nil, tokenFile: String? = nil, waitForReady: Bool = true,
        file: StaticString = #filePath, line: UInt = #line
    ) throws -> Spillwayd {
        let daemon = try launchDaemon(
            kubeconfig: try cluster.daemonKubeconfig(port: proxy?.port, tokenFile: tokenFile), flags,
            config: cluster.directory.appendingPathComponent("daemon-\(daemons).conf"))
        daemons += 1
        if waitForReady {
            XCTAssertNotNil(daemon.waitForLog(#""msg":"ready""#, within: 60), "spillwayd never became ready: \(daemon.tail)", file: file, line: line)
        }
        return daemon
    }

    /// Leader election in this test's lease namespace, with a short lease and renew deadline and
    /// the production retry period (a standby that only polled would take up to 2.4 s).
    var election: [String] {
        ["--leader-elect", "--leader-elect-namespace", cluster.leaseNamespace, "--leader-elect-lease-duration", "6s",
         "--leader-elect-renew-deadline", "4s", "--leader-elect-retry-period", "2s"]
    }

    /// Waits until `condition` holds; fails naming `what` (and the daemon's log) if it never does.
    @discardableResult
    func expect(
        _ what: String, within seconds: Double = 30, _ daemon: Spillwayd? = nil, file: StaticString = #filePath, line: UInt = #line,
        _ condition: () throws -> Bool
    ) rethrows -> Bool {
        let held = try eventually(within: seconds, condition)
        XCTAssertTrue(held, "[\(cluster.kind)] timed out after \(seconds) s: \(what)\n\(daemon?.tail ?? "")", file: file, line: line)
        return held
    }

    /// Seconds from `start` until `condition` holds (nil after `limit`), polling as fast as
    /// kubectl answers.
    func seconds(since start: Date, limit: Double = 30, _ condition: () -> Bool) -> Double? {
        while Date().timeIntervalSince(start) < limit {
            if condition() { return Date().timeIntervalSince(start) }
            usleep(50_000)
        }
        return nil
    }

    // MARK: - Scenarios

    /// Targeting, edits, hand edits, a new namespace, an unmanaged object, source deletion.
    func replicatesFollowsEditsAndCleansUp() throws {
        let source = try namespace("src")
        let app1 = try namespace("app-1"), app2 = try namespace("app-2")
        try namespace("other")
        try secret(source, "db", annotations: [Key.replicateTo: "\(prefix)app-*"], data: ["password": "s3cr3t-alpha"])
        // Someone's own ConfigMap of the name a source will use: never touched.
        try configMap(app1, "settings", data: ["mine": "yes"])
        try configMap(source, "settings", annotations: [Key.replicateTo: "\(app1),\(app2)"], data: ["color": "blue"])
        let daemon = try startDaemon()

        expect("replicas in both app namespaces", daemon) { replicas("secret", "db") == [app1, app2] }
        expect("the ConfigMap replicated where nothing was in the way", daemon) { replicas("configmap", "settings") == [app2] }
        XCTAssertEqual(object("configmap", app1, "settings")?["data"]?.stringMap, ["mine": "yes"], "an unmanaged object stays as it was")

        let app3 = try namespace("app-3")
        expect("a new matching namespace gets its replica", daemon) { replicas("secret", "db") == [app1, app2, app3] }

        try mergePatch("secret", source, "db", ["data": ["password": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        expect("a source edit reaches every replica", daemon) {
            [app1, app2, app3].allSatisfy { secretData($0, "db")?["password"] == "s3cr3t-beta" }
        }

        try mergePatch("secret", app1, "db", ["data": ["password": .string(Data("s3cr3t-gamma".utf8).base64EncodedString())]])
        try kubectl("delete", "secret", "db", "-n", app2)
        expect("a hand edit reverted and a hand deletion recreated", daemon) {
            secretData(app1, "db")?["password"] == "s3cr3t-beta" && secretData(app2, "db")?["password"] == "s3cr3t-beta"
        }

        try kubectl("delete", "secret", "db", "-n", source, "--wait=false")
        expect("deleting the source deletes its replicas, then the source goes", daemon) {
            replicas("secret", "db").isEmpty && object("secret", source, "db") == nil
        }
    }

    /// A SpillwayProfile, written as the original's v1alpha1 manifests are: its unannotated
    /// sources replicated with `profile-ref`, its status, a source edit within a second, a
    /// listed source that goes and comes back, and the profile's deletion cleaning up through its
    /// finalizer. On a real server, spillwayd runs as the chart's ServiceAccount, so the chart's
    /// RBAC on profiles and their status is what lets it work.
    func profileReplicatesReportsAndCleansUp() throws {
        try cluster.installProfileCRD()
        let source = try namespace("platform")
        let team1 = try namespace("team-1"), team2 = try namespace("team-2")
        try namespace("other")
        try secret(source, "registry", data: ["token": "s3cr3t-alpha"])
        try configMap(source, "shared-env", data: ["LOG_LEVEL": "info", "SENTRY_DSN": "https://example.com"])
        let daemon = try startDaemon()
        try kubectl.apply([
            "apiVersion": "spillway.kroy.io/v1alpha1", "kind": "SpillwayProfile",
            "metadata": ["name": "defaults", "namespace": .string(source)],
            "spec": [
                "targetNamespaces": [.string("\(prefix)team-*")],
                "sources": [["kind": "Secret", "name": "registry"], ["kind": "ConfigMap", "name": "shared-env", "excludeKeys": ["SENTRY_DSN"]]],
            ],
        ])
        expect("replicas in both team namespaces", daemon) {
            replicas("secret", "registry") == [team1, team2] && replicas("configmap", "shared-env") == [team1, team2]
        }
        XCTAssertEqual(object("secret", team1, "registry")?["metadata"]?["annotations"]?[Key.profileRef]?.stringValue, "\(source)/defaults")
        XCTAssertEqual(object("configmap", team2, "shared-env")?["data"]?.stringMap, ["LOG_LEVEL": "info"])
        func condition(_ type: String) -> JSONValue? {
            object("spillwayprofile", source, "defaults")?["status"]?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }
        }
        expect("Ready is True for generation 1, and the finalizer is on the profile", daemon) {
            condition("Ready")?["status"]?.stringValue == "True" && condition("Ready")?["observedGeneration"]?.intValue == 1
                && object("spillwayprofile", source, "defaults")?["metadata"]?["finalizers"] == [.string(Key.finalizer)]
        }
        let table = try kubectl("get", "swp", "defaults", "-n", source).split(separator: "\n")
        XCTAssertEqual(table.last?.split(separator: " ").prefix(4).map(String.init), ["defaults", "2", "2/2", "True"], "\(table)")

        let edited = Date()
        try mergePatch("secret", source, "registry", ["data": ["token": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        let took = seconds(since: edited) { [team1, team2].allSatisfy { secretData($0, "registry")?["token"] == "s3cr3t-beta" } }
        XCTAssertNotNil(took, "[\(cluster.kind)] a source edit reaches every replica\n\(daemon.tail)")
        print("timing: [\(cluster.kind)] profile source edit to every replica, as kubectl sees it: \(took ?? -1) s")

        try kubectl("delete", "configmap", "shared-env", "-n", source)
        expect("the replicas of a source that went are deleted, and the condition names it", daemon) {
            replicas("configmap", "shared-env").isEmpty && condition("SourcesAvailable")?["status"]?.stringValue == "False"
                && (condition("SourcesAvailable")?["message"]?.stringValue ?? "").contains("ConfigMap/shared-env")
        }
        try configMap(source, "shared-env", data: ["LOG_LEVEL": "debug"])
        expect("they come back with it", daemon) { replicas("configmap", "shared-env") == [team1, team2] }

        try kubectl("delete", "spillwayprofile", "defaults", "-n", source, "--wait=false")
        expect("deleting the profile deletes its replicas, then the profile goes", daemon) {
            replicas("secret", "registry").isEmpty && replicas("configmap", "shared-env").isEmpty
                && object("spillwayprofile", source, "defaults") == nil
        }
        XCTAssertNotNil(object("secret", source, "registry"), "the sources stay")
    }

    /// The daemon watches the SpillwayProfile CRD (by name: the chart's RBAC grants that one):
    /// installed after the daemon started, profiles are served at once; deleted, the profile is
    /// released through its finalizer and the profile watch stops, instead of failing on.
    func profileCRDInstalledLaterIsServedAndItsDeletionStopsTheWatch() throws {
        try cluster.removeProfileCRD()
        let source = try namespace("platform"), team = try namespace("team-1")
        try secret(source, "registry", data: ["token": "s3cr3t-alpha"])
        let daemon = try startDaemon()
        XCTAssertNotNil(daemon.waitForLog("(not installed: profiles are not served)"), daemon.tail)

        let installed = Date()
        try cluster.installProfileCRD()
        try kubectl.apply([
            "apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile",
            "metadata": ["name": "defaults", "namespace": .string(source)],
            "spec": ["targetNamespaces": [.string(team)], "sources": [["kind": "Secret", "name": "registry"]]],
        ])
        let took = seconds(since: installed) { replicas("secret", "registry") == [team] }
        XCTAssertNotNil(took, "[\(cluster.kind)] the profile was served after its CRD was installed\n\(daemon.tail)")
        print("timing: [\(cluster.kind)] CRD installed (kubectl apply, wait Established, apply a profile) to its replica: \(took ?? -1) s")

        try cluster.removeProfileCRD()
        XCTAssertTrue(replicas("secret", "registry").isEmpty, "the profile's replica went before the CRD did")
        expect("the daemon says profiles are not served any more", daemon) {
            daemon.records.filter { ($0["msg"] ?? "").contains("not installed: profiles are not served") }.count >= 2
        }
        sleep(5)
        let failures = daemon.records.filter { $0["level"] != "info" && $0["level"] != "debug" && ($0["msg"] ?? "").contains("spillwayprofiles") }
        XCTAssertEqual(failures.map { $0["msg"] ?? "" }, [], "nothing fails on about profiles once the CRD is gone")
        XCTAssertNotNil(object("secret", source, "registry"), "the source stays")
        try cluster.installProfileCRD()
    }

    /// A start with more sources than an HTTP/2 connection has streams (100 on kube-apiserver):
    /// the daemon reads their content at once, yet holds one connection to the API server, and
    /// hands the memory of that burst back once it is over.
    func aBurstOfSourcesSharesOneConnectionAndHandsItsMemoryBack() throws {
        let port = try XCTUnwrap(cluster.loopbackPort, "the daemon's connections are counted on the loopback")
        let source = try namespace("src")
        let target = try namespace("app-1")
        let secrets: [JSONValue] = (0..<150).map { index in
            [
                "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
                "metadata": ["name": .string("s\(index)"), "namespace": .string(source),
                             "annotations": .strings([Key.replicateTo: target])],
                "data": .strings(["k": Data("s3cr3t-alpha".utf8).base64EncodedString()]),
            ]
        }
        try kubectl.run(["apply", "-f", "-"], stdin: secrets.map(\.jsonString).joined(separator: "\n"))
        let daemon = try startDaemon(["--log-level", "debug"])
        expect("150 replicas", within: 60, daemon) {
            let list = try? kubectl.json("get", "secrets", "-n", target, "-l", "\(Key.managedBy)=spillway")
            return list?["items"]?.arrayValue?.count == 150
        }
        expect("the burst's memory is handed back", daemon) {
            daemon.records.contains { $0["msg"] == "returned memory freed by a burst of work" }
        }
        // Each replica is written once, whether the write's answer or the watch's echo of it
        // arrived first (an echo that overtakes its answer is not decoded; the answer fills in
        // what was written).
        let writes = daemon.records.filter { $0["target_namespace"] == target }.compactMap { $0["action"] }
        XCTAssertEqual(writes.filter { $0 == "create" }.count, 150, "[\(cluster.kind)] one create per replica")
        XCTAssertEqual(writes.filter { $0 == "update" }, [], "[\(cluster.kind)] no replica was written again")
        XCTAssertEqual(try TCPConnections.established(from: daemon.process.processIdentifier, toLoopbackPort: port), 1,
                       "[\(cluster.kind)] the reads, the writes and the watches share one connection")
    }

    /// Resyncs and self-heal passes that find everything in place write nothing.
    func steadyStateWritesNothing() throws {
        let source = try namespace("src")
        let targets = try (1...3).map { try namespace("app-\($0)") }
        try secret(source, "db", annotations: [Key.replicateTo: "\(prefix)app-*"], data: ["password": "s3cr3t-alpha"])
        try configMap(source, "settings", annotations: [Key.replicateTo: "\(prefix)app-*"], data: ["color": "blue"])
        let daemon = try startDaemon(["--sync-period", "1s", "--self-heal-interval", "1s"])
        expect("converged", daemon) { replicas("secret", "db") == Set(targets) && replicas("configmap", "settings") == Set(targets) }
        let versions = { () -> [String] in
            let list = try? self.kubectl.json("get", "secrets,configmaps", "-A")
            return (list?["items"]?.arrayValue ?? [])
                .filter { ($0["metadata"]?["namespace"]?.stringValue ?? "").hasPrefix(self.prefix) }
                .filter { ["db", "settings"].contains($0["metadata"]?["name"]?.stringValue ?? "") }
                .map { "\($0["metadata"]?["namespace"]?.stringValue ?? "")/\($0["metadata"]?["name"]?.stringValue ?? "")@\($0["metadata"]?["resourceVersion"]?.stringValue ?? "")" }
                .sorted()
        }
        // Let the finalizer and the first self-heal settle, then nothing may change for 4 s.
        Thread.sleep(forTimeInterval: 2)
        let before = versions()
        Thread.sleep(forTimeInterval: 4)
        XCTAssertEqual(versions(), before, "[\(cluster.kind)] a resync or self-heal wrote to an object that was in place")
    }

    /// The daemon's link to the API server is cut for `outage` seconds; `/readyz` says so while
    /// it lasts (judged from the daemon's own traffic), and everything that happened meanwhile — a
    /// source edit, a namespace created, a replica deleted by hand, a source deleted — is acted on
    /// within a few seconds of the link's return. Returns that time.
    @discardableResult
    func catchesUpAfterItsLinkIsCut(for outage: Double) throws -> Double? {
        let port = try XCTUnwrap(cluster.loopbackPort, "a proxy needs the API server on loopback")
        let proxy = try TCPProxy(to: port)
        addTeardownBlock { proxy.stop() }
        let source = try namespace("src")
        let app1 = try namespace("app-1"), app2 = try namespace("app-2")
        try secret(source, "db", annotations: [Key.replicateTo: "\(prefix)app-*"], data: ["password": "s3cr3t-alpha"])
        try configMap(source, "doomed", annotations: [Key.replicateTo: app1], data: ["k": "v"])
        let daemon = try startDaemon(["--health-probe-bind-address", "127.0.0.1:0"], through: proxy)
        var health = ""
        expect("the health endpoint is served", daemon) {
            health = daemon.records.first { $0["endpoint"] == "health" }?["address"] ?? ""
            return !health.isEmpty
        }
        let readyz = { (try? httpGet("http://\(health)/readyz")) }
        expect("converged before the outage", daemon) { replicas("secret", "db") == [app1, app2] && replicas("configmap", "doomed") == [app1] }
        expect("/readyz says ready", daemon) { readyz()?.status == 200 }

        proxy.cut()
        let cutAt = Date()
        try mergePatch("secret", source, "db", ["data": ["password": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        let app3 = try namespace("app-3")
        try kubectl("delete", "secret", "db", "-n", app2)
        try kubectl("delete", "configmap", "doomed", "-n", source, "--wait=false")
        expect("/readyz turns not ready while the link is cut", within: max(1, outage - 1 - Date().timeIntervalSince(cutAt)), daemon) {
            readyz().map { $0.status == 503 && $0.body.contains("API server unreachable") } ?? false
        }
        Thread.sleep(forTimeInterval: max(0, outage - Date().timeIntervalSince(cutAt)))
        proxy.restore()
        let back = Date()

        let caughtUp = seconds(since: back) {
            [app1, app2, app3].allSatisfy { secretData($0, "db")?["password"] == "s3cr3t-beta" }
                && replicas("configmap", "doomed").isEmpty && object("configmap", source, "doomed") == nil
        }
        XCTAssertNotNil(caughtUp, "[\(cluster.kind)] not caught up 30 s after a \(outage) s outage\n\(daemon.tail)")
        if let caughtUp {
            print("[\(cluster.kind)] caught up \(String(format: "%.2f", caughtUp)) s after a \(outage) s outage of the daemon's link")
            // The contract's figure (2 s) is measured by Benchmarks/resilience; this bound is
            // generous for a loaded machine, and far below the 30 s backoff it replaces.
            XCTAssertLessThan(caughtUp, 5, "[\(cluster.kind)] caught up only \(caughtUp) s after the link's return")
        }
        expect("/readyz is ready again once the link is back", daemon) { readyz()?.status == 200 }
        return caughtUp
    }

    /// The whole API server restarts: old watches are answered 410 (its watch cache is new);
    /// the daemon relists at once and acts on what changed right after the restart.
    func catchesUpAfterTheServerRestarts() throws {
        guard cluster.canRestart else { throw XCTSkip("[\(cluster.kind)] the API server cannot be restarted from the test") }
        let source = try namespace("src")
        let app1 = try namespace("app-1")
        try secret(source, "db", annotations: [Key.replicateTo: "\(prefix)app-*"], data: ["password": "s3cr3t-alpha"])
        let daemon = try startDaemon(["--log-level", "debug"])  // the memory hand-back is logged at debug
        expect("converged before the restart", daemon) { replicas("secret", "db") == [app1] }

        try cluster.restart()
        let back = Date()
        let app2 = try namespace("app-2")
        try mergePatch("secret", source, "db", ["data": ["password": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        let caughtUp = seconds(since: back) {
            [app1, app2].allSatisfy { secretData($0, "db")?["password"] == "s3cr3t-beta" }
        }
        XCTAssertNotNil(caughtUp, "[\(cluster.kind)] not caught up 30 s after the API server restarted\n\(daemon.tail)")
        if let caughtUp {
            print("[\(cluster.kind)] caught up \(String(format: "%.2f", caughtUp)) s after the API server restarted")
            XCTAssertLessThan(caughtUp, 10, "[\(cluster.kind)] caught up only \(caughtUp) s after the restart")
        }
        // The restarted server's watch cache starts at its current resourceVersion: the watches
        // get 410 and list again, a burst whose memory is handed back like the first lists'.
        expect("the relists' memory is handed back", daemon) {
            daemon.records.filter { $0["msg"] == "returned memory freed by a burst of work" }.count >= 2
        }
    }

    /// Two replicas started together, as a Deployment starts them, race to create the Lease:
    /// one leads and the other names it as the leader, however the race went. (The loser of the
    /// create used to stay a standby with no leader named for as long as the leader lived.)
    func twoDaemonsStartedTogetherAgreeOnTheLeader() throws {
        let a = try startDaemon(election, waitForReady: false)
        let b = try startDaemon(election, waitForReady: false)
        var leader: Spillwayd?
        expect("one of them leads", a) {
            leader = [a, b].first { $0.stderr.contains(#""msg":"became the leader""#) }
            return leader != nil
        }
        let (winner, loser) = leader === a ? (a, b) : (b, a)
        let identity = try XCTUnwrap(winner.waitForLog(#""msg":"became the leader"[^\n]*"identity":"([^"]+)""#), winner.tail)
        let named = loser.waitForLog(#""msg":"standing by"[^\n]*"leader":"([^"]+)""#, within: 10)
        XCTAssertEqual(named, identity, "[\(cluster.kind)] the standby does not name the leader\n\(loser.tail)")
        // Several renewals later nothing has changed hands.
        Thread.sleep(forTimeInterval: 5)
        XCTAssertFalse(loser.stderr.contains(#""msg":"became the leader""#), loser.tail)
        XCTAssertEqual(winner.stderr.components(separatedBy: #""msg":"became the leader""#).count - 1, 1, winner.tail)
    }

    /// SIGTERM on the leader: it releases the lease, and the standby, watching it, leads at once.
    func leaderHandsOverOnSIGTERM() throws {
        let source = try namespace("src")
        let app1 = try namespace("app-1")
        try secret(source, "db", annotations: [Key.replicateTo: "\(prefix)app-*"], data: ["password": "s3cr3t-alpha"])
        let a = try startDaemon(election)
        XCTAssertNotNil(a.waitForLog("became the leader"), a.tail)
        let b = try startDaemon(election)
        XCTAssertNotNil(b.waitForLog("standing by"), b.tail)
        expect("the leader replicated", a) { replicas("secret", "db") == [app1] }

        a.signal(SIGTERM)
        XCTAssertEqual(a.waitForExit(), 0, a.tail)
        XCTAssertTrue(a.stderr.contains("lease released"), a.tail)
        XCTAssertNotNil(b.waitForLog("became the leader", within: 10), b.tail)
        // From the daemons' own log timestamps: the old leader closes its gate ("stopped
        // leading") just before it sends the release.
        let released = try XCTUnwrap(a.loggedAt("stopped leading"), a.tail)
        let led = try XCTUnwrap(b.loggedAt("became the leader"), b.tail)
        let handover = led.timeIntervalSince(released)
        print("[\(cluster.kind)] handover \(String(format: "%.3f", handover)) s after the release was sent")
        XCTAssertLessThan(handover, 0.5, "[\(cluster.kind)] handover took \(handover) s")
        let app2 = try namespace("app-2")
        expect("the new leader replicates", b) { replicas("secret", "db") == [app1, app2] }
    }

    /// Only the leader's link is cut: it stops leading within its renew deadline, before its
    /// lease can expire and before the standby takes over, and writes nothing once the link
    /// is back.
    func leaderCutOffStopsWritingBeforeItsLeaseExpires() throws {
        let port = try XCTUnwrap(cluster.loopbackPort, "a proxy needs the API server on loopback")
        let proxy = try TCPProxy(to: port)
        addTeardownBlock { proxy.stop() }
        let source = try namespace("src")
        let app1 = try namespace("app-1")
        try secret(source, "db", annotations: [Key.replicateTo: "\(prefix)app-*"], data: ["password": "s3cr3t-alpha"])
        let a = try startDaemon(election, through: proxy)
        XCTAssertNotNil(a.waitForLog("became the leader"), a.tail)
        let b = try startDaemon(election)
        XCTAssertNotNil(b.waitForLog("standing by"), b.tail)
        expect("the leader replicated", a) { replicas("secret", "db") == [app1] }

        proxy.cut()
        let cut = Date()
        XCTAssertNotNil(a.waitForLog("stopped leading", within: 15), a.tail)
        let demoted = Date().timeIntervalSince(cut)
        XCTAssertNotNil(b.waitForLog("became the leader", within: 15), b.tail)
        let takenOver = Date().timeIntervalSince(cut)
        print("[\(cluster.kind)] cut-off leader stopped after \(String(format: "%.2f", demoted)) s; the standby led after \(String(format: "%.2f", takenOver)) s")
        // Its deadline runs from the sending of its last good renewal, at most a retry period
        // (2 s) before the cut.
        XCTAssertLessThan(demoted, 4 + 0.5, "still leading \(demoted) s after losing the API (renew deadline 4 s)")
        XCTAssertLessThan(demoted, takenOver, "the standby led while the old leader still did")

        let app2 = try namespace("app-2")
        expect("the new leader replicates", b) { replicas("secret", "db") == [app1, app2] }
        proxy.restore()
        let app3 = try namespace("app-3")
        expect("still replicating", b) { replicas("secret", "db") == [app1, app2, app3] }
        Thread.sleep(forTimeInterval: 2)
        let records = a.records
        let stoppedAt = try XCTUnwrap(records.firstIndex { $0["msg"]?.hasPrefix("stopped leading") == true })
        let writesAfter = records[stoppedAt...].filter { ["create", "update", "delete", "adopt", "cleanup"].contains($0["action"] ?? "") }
        XCTAssertEqual(writesAfter.count, 0, "the old leader wrote after it stopped leading: \(writesAfter)")
        XCTAssertEqual(a.stderr.components(separatedBy: "became the leader").count - 1, 1, "the old leader took the lease back")
    }

    /// The daemon reads its token from a file. A new token is written to the file and the old
    /// one revoked (its bound object deleted), as the kubelet rotates a projected token: the
    /// daemon reads the file again when it changes (or, at the latest, at the server's 401) and
    /// goes on replicating with the new token.
    func rotatedTokenFileIsPickedUp() throws {
        let anchors = try (0..<2).map { i -> (name: String, uid: String) in
            let name = "token-anchor-\(i)"
            try kubectl.apply(["apiVersion": "v1", "kind": "Secret", "metadata": ["name": .string(name), "namespace": .string(cluster.leaseNamespace)]])
            let uid = try XCTUnwrap(object("secret", cluster.leaseNamespace, name)?["metadata"]?["uid"]?.stringValue)
            return (name, uid)
        }
        let tokenFile = cluster.directory.appendingPathComponent("token").path
        try cluster.daemonToken(boundTo: anchors[0]).write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let source = try namespace("src")
        let app1 = try namespace("app-1")
        try secret(source, "db", annotations: [Key.replicateTo: "\(prefix)app-*"], data: ["password": "s3cr3t-alpha"])
        let daemon = try startDaemon(tokenFile: tokenFile)
        expect("replicated with the first token", daemon) { replicas("secret", "db") == [app1] }

        // As the kubelet rotates a projected token: a new file, then the old token stops working.
        try cluster.daemonToken(boundTo: anchors[1]).write(toFile: tokenFile, atomically: true, encoding: .utf8)
        try kubectl("delete", "secret", anchors[0].name, "-n", cluster.leaseNamespace)
        // The server caches a good token for about ten seconds.
        Thread.sleep(forTimeInterval: 12)
        let app2 = try namespace("app-2")
        expect("replicated with the rotated token", within: 40, daemon) { replicas("secret", "db") == [app1, app2] }
        try mergePatch("secret", source, "db", ["data": ["password": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        expect("writes go on with the rotated token", daemon) { [app1, app2].allSatisfy { secretData($0, "db")?["password"] == "s3cr3t-beta" } }
        XCTAssertFalse(daemon.stderr.contains("Unauthorized"), "[\(cluster.kind)] a request failed with the revoked token\n\(daemon.tail)")
    }
}
