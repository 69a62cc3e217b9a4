import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// Each file of examples/, applied with the real kubectl into the emulator while the real
/// spillwayd runs with the flags the example's comment asks for; the outcome its comment
/// promises is asserted, with the kubectl commands the comment shows where it shows some.
final class ExampleTests: ProcessTestCase {
    static let examples = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("examples")

    override func setUpWithError() throws {
        try XCTSkipUnless(FileManager.default.isExecutableFile(atPath: "/usr/bin/kubectl"), "the examples are applied with the real kubectl")
        try super.setUpWithError()
        // Every deployment (the chart, kustomize) installs the SpillwayProfile CRD.
        cluster.emulator.register(try CustomResourceDefinition(yaml: String(contentsOfFile: ProfileProcessTests.crdPath, encoding: .utf8)))
    }

    /// Runs the machine's kubectl against the emulator as an administrator (or with
    /// `kubeconfig`); it must succeed. Returns what it printed (stdout and stderr).
    @discardableResult
    func kubectl(_ arguments: String..., kubeconfig: String? = nil, file: StaticString = #filePath, line: UInt = #line) throws -> String {
        let process = Process()
        let output = cluster.directory.appendingPathComponent("kubectl-\(UUID().uuidString).out")
        try Data().write(to: output)
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        process.executableURL = URL(fileURLWithPath: "/usr/bin/kubectl")
        process.arguments = ["--kubeconfig", try kubeconfig ?? cluster.kubeconfig(as: "admin"), "--cache-dir", cluster.directory.appendingPathComponent("kubectl-cache").path]
            + arguments
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": cluster.directory.path]
        process.standardOutput = handle
        process.standardError = handle
        try process.run()
        process.waitUntilExit()
        let text = String(decoding: try Data(contentsOf: output), as: UTF8.self)
        XCTAssertEqual(process.terminationStatus, 0, "kubectl \(arguments.joined(separator: " ")): \(text)", file: file, line: line)
        return text
    }

    func apply(_ example: String, file: StaticString = #filePath, line: UInt = #line) throws {
        try kubectl("apply", "-f", Self.examples.appendingPathComponent(example).path, file: file, line: line)
    }

    // MARK: - The seed's examples

    func testSecretReachesTheNamedAndGlobbedNamespacesButTheExcludedOnesFollowsEditsAndGoesWithTheAnnotation() throws {
        try namespaces("team-a", "team-b", "team-dev", "team-qa-1", "sandbox", "prod", "other")
        let daemon = try startDaemon()
        try apply("secret.yaml")
        let name = "shared-db-credentials"
        expectReplicas(.secret, name, ["team-a", "team-b", "sandbox", "prod"], daemon)
        XCTAssertEqual(cluster.annotations(.secret, "prod", name)[Key.sourceFrom], "Secret/default/\(name)")
        XCTAssertEqual(cluster.secretData("prod", name), ["username": "app", "password": "change-me"])
        let listed = try kubectl("get", "secret", "-A", "--field-selector", "metadata.name=\(name)", "--no-headers")
        XCTAssertEqual(Set(listed.split(separator: "\n").compactMap { $0.split(separator: " ").first.map(String.init) }),
                       ["default", "team-a", "team-b", "sandbox", "prod"], listed)

        try kubectl("patch", "secret", name, "-n", "default", "--type", "merge", "-p", #"{"stringData":{"password":"rotated"}}"#)
        expect("the copies follow the edit", daemon) {
            ["team-a", "team-b", "sandbox", "prod"].allSatisfy { cluster.secretData($0, name)?["password"] == "rotated" }
        }
        try kubectl("annotate", "secret", name, "-n", "default", "\(Key.replicateTo)-")
        expectReplicas(.secret, name, [], daemon)
    }

    func testConfigMapReachesEveryNamespaceButItsOwnAndKubeSystemAndANamespaceCreatedLater() throws {
        try namespaces("team-a", "sandbox")
        let daemon = try startDaemon()
        try apply("configmap.yaml")
        expectReplicas(.configMap, "shared-settings", ["team-a", "sandbox", "kube-public", "kube-node-lease"], daemon)
        XCTAssertEqual(cluster.labels(.configMap, "team-a", "shared-settings")["app.kubernetes.io/part-of"], "platform")
        let listed = try kubectl("get", "configmap", "-A", "-l", "\(Key.managedBy)=spillway", "--no-headers")
        XCTAssertEqual(listed.split(separator: "\n").map { $0.split(separator: " ").prefix(2).joined(separator: "/") }.sorted(),
                       ["kube-node-lease/shared-settings", "kube-public/shared-settings", "sandbox/shared-settings", "team-a/shared-settings"], listed)
        try kubectl("create", "namespace", "later")
        expectReplicas(.configMap, "shared-settings", ["team-a", "sandbox", "kube-public", "kube-node-lease", "later"], daemon)
        XCTAssertNil(cluster.annotations(.configMap, "later", "shared-settings")["kubectl.kubernetes.io/last-applied-configuration"],
                     "kubectl's annotation stays on the source")
    }

    // MARK: - The later features

    func testLabelSelectorFollowsTheNamespaceLabelsAndReplicateToAddsAudit() throws {
        try namespaces("staging")
        let daemon = try startDaemon()
        try apply("label-selector.yaml")
        expectReplicas(.configMap, "prod-endpoints", ["payments", "audit"], daemon)
        try kubectl("label", "namespace", "payments", "env-")
        expectReplicas(.configMap, "prod-endpoints", ["audit"], daemon)
        try kubectl("label", "namespace", "payments", "env=prod")
        expectReplicas(.configMap, "prod-endpoints", ["payments", "audit"], daemon)
        try kubectl("label", "namespace", "staging", "env=prod", "tier=frontend")
        expectStays("tier=frontend is not in (backend,batch)") { cluster.replicas(.configMap, "prod-endpoints") == ["payments", "audit"] }
    }

    func testKeyProjectionLeavesTheCAKeyBehindKeepsTheTLSTypeAndDropsExcludedKeys() throws {
        let daemon = try startDaemon()
        try apply("key-projection.yaml")
        expectReplicas(.secret, "ingress-tls", ["web"], daemon)
        expectReplicas(.configMap, "app-config", ["web"], daemon)
        let data = try kubectl("get", "secret", "ingress-tls", "-n", "web", "-o", "jsonpath={.data}")
        let keys = try XCTUnwrap(try JSONParser.parse(data).objectValue?.keys, data)
        XCTAssertEqual(Set(keys), ["tls.crt", "tls.key"], "no ca.key")
        XCTAssertEqual(cluster.object(.secret, "web", "ingress-tls")?["type"], "kubernetes.io/tls")
        XCTAssertEqual(cluster.object(.configMap, "web", "app-config")?["data"]?.objectValue?.keys.sorted(), ["settings.json"])
    }

    func testTTLStampsExpiresAtThirtyMinutesAheadRecordsTheExpiryAndResumesWhenTheRecordIsEdited() throws {
        let daemon = try startDaemon()
        try apply("ttl.yaml")
        expectReplicas(.secret, "temp-access", ["sandbox"], daemon)
        let stamp = try kubectl("get", "secret", "temp-access", "-n", "sandbox", "-o", #"jsonpath={.metadata.annotations.spillway\.kroy\.io/expires-at}"#)
        let expiry = try XCTUnwrap(ISO8601DateFormatter().date(from: stamp), "expires-at is RFC 3339: \(stamp)")
        XCTAssertEqual(expiry.timeIntervalSinceNow, 30 * 60, accuracy: 60)
        // Thirty minutes are too long to wait: the replica's stamp is moved into the past.
        try kubectl("annotate", "secret", "temp-access", "-n", "sandbox", "--overwrite", "\(Key.expiresAt)=2020-01-01T00:00:00Z")
        expectReplicas(.secret, "temp-access", [], daemon)
        expect("the source lists sandbox in expired-namespaces", daemon) { cluster.annotations(.secret, "default", "temp-access")[Key.expired] == "sandbox" }
        expectStays("not recreated") { cluster.replicas(.secret, "temp-access").isEmpty }
        try kubectl("annotate", "secret", "temp-access", "-n", "default", "\(Key.expired)-")
        expectReplicas(.secret, "temp-access", ["sandbox"], daemon)
        let renewed = cluster.annotations(.secret, "sandbox", "temp-access")[Key.expiresAt].flatMap { ISO8601DateFormatter().date(from: $0) }
        XCTAssertEqual(renewed?.timeIntervalSinceNow ?? 0, 30 * 60, accuracy: 60, "access granted again, for another 30 minutes")
    }

    func testNamespaceConsentTeamAAcceptsOnlyPlatformSecretsAndTeamBEverything() throws {
        let daemon = try startDaemon()
        try apply("namespace-consent.yaml")
        expectReplicas(.secret, "registry-auth", ["team-a", "team-b"], daemon)
        expectReplicas(.configMap, "team-settings", ["team-b"], daemon)
        expect("the refusal is audited", daemon) {
            daemon.audit("consent-denied").contains { $0["source"] == "platform/team-settings" && $0["target_namespace"] == "team-a" }
        }
        expectStays("team-a never receives the ConfigMap") { cluster.replicas(.configMap, "team-settings") == ["team-b"] }
        expect("a Normal ReplicationSkipped event names the namespace that refused", daemon) {
            cluster.events(about: "team-settings", in: "platform").contains {
                $0.type == "Normal" && $0.reason == "ReplicationSkipped"
                    && $0.note == "1 namespace does not accept ConfigMap/platform/team-settings (spillway.kroy.io/accept-from, or none while consent is required): team-a"
            }
        }
        XCTAssertFalse(cluster.events(about: "team-settings", in: "platform").contains { $0.type == "Warning" }, "a refusal is not an error")
    }

    func testPullTeamAGetsTheCopyOtherIsRefusedAndWithdrawnConsentEmptiesIt() throws {
        let daemon = try startDaemon()
        try apply("pull-secret.yaml")
        expect("team-a's Secret is filled", daemon) {
            cluster.secretData("team-a", "tls") == ["tls.crt": "certificate", "tls.key": "private-key"]
        }
        XCTAssertEqual(cluster.labels(.secret, "team-a", "tls")["app"], "web")
        XCTAssertEqual(cluster.annotations(.secret, "team-a", "tls")[Key.sourceFrom], "Secret/platform/wildcard-tls")
        expect("other's Secret is told", daemon) {
            cluster.events(about: "tls", in: "other").contains { $0.type == "Warning" && $0.reason == "ReplicationSkipped" }
        }
        let events = try kubectl("get", "events", "-n", "other", "--field-selector", "reason=ReplicationSkipped", "--no-headers")
        XCTAssertTrue(events.contains("ReplicationSkipped") && events.contains("secret/tls"), events)
        XCTAssertEqual(cluster.secretData("other", "tls"), [:])
        XCTAssertNil(cluster.labels(.secret, "other", "tls")[Key.managedBy])
        try kubectl("annotate", "secret", "wildcard-tls", "-n", "platform", "spillway.kroy.io/allow-pull-from-")
        expect("team-a's copy is emptied and let go", daemon) {
            cluster.secretData("team-a", "tls") == [:] && cluster.labels(.secret, "team-a", "tls")[Key.managedBy] == nil
        }
    }

    func testNamespaceConsentRequiredTeamBWithoutAcceptFromReceivesNothing() throws {
        let daemon = try startDaemon(["--require-namespace-consent"])
        try apply("namespace-consent.yaml")
        expectReplicas(.secret, "registry-auth", ["team-a"], daemon)
        expect("the refusals are audited", daemon) {
            Set(daemon.audit("consent-denied").compactMap { line in line["source"].map { "\($0) in \(line["target_namespace"] ?? "")" } })
                .isSuperset(of: ["platform/registry-auth in team-b", "platform/team-settings in team-a", "platform/team-settings in team-b"])
        }
        XCTAssertEqual(cluster.replicas(.configMap, "team-settings"), [])
    }

    func testForceAdoptWithoutTheFlagLeavesTheObjectAndTheEventSaysWhy() throws {
        let daemon = try startDaemon()
        try apply("force-adopt.yaml")
        let events = { try self.kubectl("get", "events", "-n", "default", "--field-selector", "involvedObject.name=service-endpoints") }
        expect("kubectl get events says why", daemon) { (try? events().contains("--allow-force-adopt")) ?? false }
        XCTAssertTrue(try events().contains("ReplicationSkipped"))
        XCTAssertEqual(cluster.object(.configMap, "legacy", "service-endpoints")?["data"], ["api": "http://old-api.legacy.svc"])
        XCTAssertNil(cluster.labels(.configMap, "legacy", "service-endpoints")[Key.managedBy])
    }

    func testForceAdoptWithTheFlagReplacesTheObjectAndManagesIt() throws {
        let daemon = try startDaemon(["--allow-force-adopt"])
        try apply("force-adopt.yaml")
        expectReplicas(.configMap, "service-endpoints", ["legacy"], daemon)
        XCTAssertEqual(cluster.object(.configMap, "legacy", "service-endpoints")?["data"], ["api": "https://api.example.internal"])
    }

    // MARK: - SpillwayProfiles

    func testProfileBasicReplicatesTheListedSourcesShowsItsColumnsAndCleansUpWhenDeleted() throws {
        try namespaces("team-a", "team-b", "team-legacy", "other")
        let daemon = try startDaemon()
        try apply("profile-basic.yaml")
        expectReplicas(.secret, "registry-pull-secret", ["team-a", "team-b", "payments"], daemon)
        expectReplicas(.configMap, "shared-env", ["team-a", "team-b", "payments"], daemon)
        XCTAssertEqual(cluster.annotations(.secret, "payments", "registry-pull-secret")[Key.profileRef], "platform/platform-defaults")
        XCTAssertEqual(cluster.object(.configMap, "team-a", "shared-env")?["data"], ["LOG_LEVEL": "info"])
        var table = ""
        expect("kubectl get swp shows TARGETS 3, SOURCES 2/2, READY True", daemon) {
            table = (try? kubectl("get", "swp", "-n", "platform")) ?? ""
            let row = table.split(separator: "\n").last?.split(separator: " ").map(String.init) ?? []
            return row.prefix(4) == ["platform-defaults", "3", "2/2", "True"]
        }
        XCTAssertEqual(table.split(separator: "\n").first?.split(separator: " ").map(String.init), ["NAME", "TARGETS", "SOURCES", "READY", "AGE"], table)
        try kubectl("patch", "configmap", "shared-env", "-n", "platform", "--type", "merge", "-p", #"{"data":{"LOG_LEVEL":"debug"}}"#)
        expect("the copies follow the edit", daemon) {
            ["team-a", "team-b", "payments"].allSatisfy { cluster.object(.configMap, $0, "shared-env")?["data"]?["LOG_LEVEL"] == "debug" }
        }
        try kubectl("delete", "swp", "platform-defaults", "-n", "platform", "--wait=false")
        expectReplicas(.secret, "registry-pull-secret", [], daemon)
        expectReplicas(.configMap, "shared-env", [], daemon)
        XCTAssertNotNil(cluster.object(.secret, "platform", "registry-pull-secret"), "the sources stay")
    }

    func testProfileWithConsentEachNamespaceReceivesOnlyWhatItAccepts() throws {
        let daemon = try startDaemon(["--require-namespace-consent"])
        try apply("profile-with-consent.yaml")
        expectReplicas(.secret, "registry-pull-secret", ["team-payments", "team-core"], daemon)
        expectReplicas(.configMap, "tls-bundle", ["team-core"], daemon)
        expect("the refusals are a ReplicationSkipped event on the profile", daemon) {
            cluster.events(about: "platform-bundle", in: "platform").contains { $0.reason == "ReplicationSkipped" && $0.note.contains("team-sandbox") }
        }
        expect("and audit lines naming the profile", daemon) {
            daemon.audit("consent-denied").contains { $0["profile"] == "platform/platform-bundle" && $0["target_namespace"] == "team-sandbox" }
        }
        expect("kubectl get swp shows TARGETS 2", daemon) {
            let row = (try? kubectl("get", "swp", "-n", "platform", "--no-headers"))?.split(separator: " ").map(String.init) ?? []
            return row.prefix(2) == ["platform-bundle", "2"]
        }
    }

    func testProfileAdvancedGivesEachScopeItsOwnViewOfOneSecret() throws {
        try namespaces("app-web", "app-api", "other")
        let daemon = try startDaemon()
        try apply("profile-advanced.yaml")
        expectReplicas(.secret, "service-credentials", ["app-web", "app-api", "ops-tools"], daemon)
        expectReplicas(.configMap, "ops-runbook-config", ["ops-tools"], daemon)
        func keys(_ namespace: String) -> Set<String> { Set(cluster.secretData(namespace, "service-credentials")?.keys.map { $0 } ?? []) }
        expect("each scope holds its view", daemon) {
            keys("app-web") == ["readonly-token", "ca.crt"] && keys("ops-tools") == ["readonly-token", "admin-token", "ca.crt"]
        }
        XCTAssertEqual(cluster.annotations(.secret, "app-api", "service-credentials")[Key.profileRef], "security/app-readonly")
        XCTAssertEqual(cluster.annotations(.secret, "ops-tools", "service-credentials")[Key.profileRef], "security/ops-full-access")
    }

    // MARK: - Other clusters

    /// The examples' three clusters: mgmt (watched, this test's cluster), prod-eu and prod-us, each
    /// with team-a, team-b and a namespace of its own; spillwayd running with the flags the
    /// examples' comments give. Returns the clusters, an administrator's kubeconfig of the three
    /// contexts, and the daemon.
    private func threeClusters() throws -> (clusters: [String: TestCluster], admin: String, daemon: Spillwayd) {
        let clusters = ["mgmt": cluster!, "prod-eu": try TestCluster(self, users: ["spillwayd", "admin"]),
                        "prod-us": try TestCluster(self, users: ["spillwayd", "admin"])]
        for (name, c) in clusters {
            for namespace in ["team-a", "team-b", "other-\(name)"] { try c.namespace(namespace) }
        }
        func contexts(as user: String) throws -> String {
            var text = "apiVersion: v1\nkind: Config\nclusters:\n"
            for (name, c) in clusters.sorted(by: { $0.key < $1.key }) { text += "- name: \(name)\n  cluster:\n    server: \(c.emulator.baseURL)\n" }
            text += "users:\n"
            for name in clusters.keys.sorted() { text += "- name: \(user)-\(name)\n  user:\n    token: token-\(user)\n" }
            text += "contexts:\n"
            for name in clusters.keys.sorted() { text += "- name: \(name)\n  context: {cluster: \(name), user: \(user)-\(name)}\n" }
            let path = cluster.directory.appendingPathComponent("contexts-\(user)").path
            try (text + "current-context: mgmt\n").write(toFile: path, atomically: true, encoding: .utf8)
            return path
        }
        let admin = try contexts(as: "admin")
        let daemon = try launchDaemon(kubeconfig: try contexts(as: "spillwayd"), ["--target-contexts", "prod-eu,prod-us", "--cluster-name", "mgmt"],
                                      config: cluster.directory.appendingPathComponent("daemon-multi.conf"))
        XCTAssertNotNil(daemon.waitForLog(#""msg":"ready""#), daemon.tail)
        return (clusters, admin, daemon)
    }

    func testMultiClusterReachesTheTeamNamespacesOfAllThreeClusters() throws {
        let (clusters, admin, daemon) = try threeClusters()
        try kubectl("apply", "-f", Self.examples.appendingPathComponent("multi-cluster.yaml").path, kubeconfig: admin)
        expect("every team-* namespace of the three clusters holds the Secret", daemon) {
            clusters.values.allSatisfy { $0.replicas(.secret, "registry-credentials") == ["team-a", "team-b"] }
        }
        let shown = try kubectl("--context", "prod-eu", "get", "secret", "registry-credentials", "-n", "team-a", "-o", "yaml", kubeconfig: admin)
        XCTAssertTrue(shown.contains("spillway.kroy.io/source-cluster: mgmt"), shown)
        XCTAssertTrue(shown.contains("spillway.kroy.io/source-from: Secret/default/registry-credentials"), shown)
        XCTAssertNil(cluster.annotations(.secret, "team-a", "registry-credentials")[Key.sourceCluster], "a replica in its own cluster names none")
    }

    func testProfileMultiClusterReachesTheTeamNamespacesOfAllThreeClustersAndLeavesThemAllWhenDeleted() throws {
        let (clusters, admin, daemon) = try threeClusters()
        try kubectl("apply", "-f", Self.examples.appendingPathComponent("profile-multi-cluster.yaml").path, kubeconfig: admin)
        expect("every team-* namespace of the three clusters holds the Secret", daemon) {
            clusters.values.allSatisfy { $0.replicas(.secret, "registry-pull-secret") == ["team-a", "team-b"] }
        }
        let shown = try kubectl("--context", "prod-eu", "get", "secret", "registry-pull-secret", "-n", "team-a", "-o", "yaml", kubeconfig: admin)
        XCTAssertTrue(shown.contains("spillway.kroy.io/source-cluster: mgmt"), shown)
        XCTAssertTrue(shown.contains("spillway.kroy.io/profile-ref: platform/fleet-defaults"), shown)
        var wide = ""
        expect("kubectl get swp -o wide shows the clusters", daemon) {
            wide = (try? kubectl("get", "swp", "-n", "platform", "-o", "wide", kubeconfig: admin)) ?? ""
            return wide.contains(#"["local","prod-*"]"#) && wide.contains("True")
        }
        expect("describe shows each cluster's count", daemon) {
            let described = (try? kubectl("describe", "swp", "fleet-defaults", "-n", "platform", kubeconfig: admin)) ?? ""
            return described.contains("cluster prod-eu: 2 namespaces; cluster prod-us: 2 namespaces")
        }
        try kubectl("delete", "swp", "fleet-defaults", "-n", "platform", kubeconfig: admin)
        XCTAssertTrue(clusters.values.allSatisfy { $0.replicas(.secret, "registry-pull-secret").isEmpty },
                      "kubectl delete waits for the finalizer, which waits for every cluster\n\(daemon.tail)")
    }
}
