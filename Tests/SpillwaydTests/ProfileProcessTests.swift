import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// SpillwayProfiles with the real spillwayd process: the emulator serves the chart's CRD.
final class ProfileProcessTests: ProcessTestCase {
    /// The chart's CRD, the one the daemon is deployed with.
    static let crdPath = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        .appendingPathComponent("charts/spillway/files/crds/spillwayprofiles.spillway.kroy.io.yaml").path

    /// SpillwayProfile at v1 (the storage version) and v1alpha1.
    private var profiles: ResourceType!
    private var profilesV1alpha1: ResourceType!

    override func setUpWithError() throws {
        try super.setUpWithError()
        let crd = try CustomResourceDefinition(yaml: String(contentsOfFile: Self.crdPath, encoding: .utf8))
        cluster.emulator.register(crd)
        let types = crd.resourceTypes
        profiles = try XCTUnwrap(types.first { $0.version == "v1" })
        profilesV1alpha1 = try XCTUnwrap(types.first { $0.version == "v1alpha1" })
    }

    private func condition(_ type: String, _ namespace: String, _ name: String) -> JSONValue? {
        cluster.object(profiles, namespace, name)?["status"]?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == type }
    }

    func testAnOriginalV1alpha1ProfileReplicatesReportsStatusAndCleansUpWhenDeleted() throws {
        try namespaces("platform", "team-a", "team-b")
        try cluster.secret("platform", "registry", data: ["k": "s3cr3t-alpha"])
        try cluster.configMap("platform", "settings", data: ["mode": "blue"])
        let daemon = try startDaemon()
        // As the original's examples write it: v1alpha1, a glob, an exclusion, key projection.
        try cluster.create(profilesV1alpha1, [
            "apiVersion": "spillway.kroy.io/v1alpha1", "kind": "SpillwayProfile",
            "metadata": ["name": "base", "namespace": "platform"],
            "spec": [
                "targetNamespaces": ["*"], "excludeNamespaces": ["team-b", "kube-node-lease", "kube-public", "default"],
                "sources": [["kind": "Secret", "name": "registry"], ["kind": "ConfigMap", "name": "settings", "includeKeys": ["mode"]]],
            ],
        ])
        expectReplicas(.secret, "registry", ["team-a"], daemon)
        expectReplicas(.configMap, "settings", ["team-a"], daemon)
        XCTAssertEqual(cluster.annotations(.secret, "team-a", "registry")[Key.profileRef], "platform/base")
        XCTAssertEqual(cluster.secretData("team-a", "registry"), ["k": "s3cr3t-alpha"])
        XCTAssertNil(cluster.object(.secret, "kube-system", "registry"), "a protected namespace is reached only by name")
        expect("Ready is True with the profile's generation", daemon) {
            condition("Ready", "platform", "base")?["status"]?.stringValue == "True"
                && condition("Ready", "platform", "base")?["observedGeneration"]?.intValue == 1
        }
        XCTAssertEqual(cluster.object(profiles, "platform", "base")?["status"]?["replicatedNamespaces"], ["team-a"])
        expect("the writes are audited with the profile", daemon) {
            daemon.audit("create").contains { $0["profile"] == "platform/base" && $0["target_namespace"] == "team-a" }
        }

        // A source edit reaches the replica within a second (the original waited for a resync).
        try cluster.patch(.secret, "platform", "registry", ["data": ["k": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        let took = secondsUntil { cluster.secretData("team-a", "registry") == ["k": "s3cr3t-beta"] }
        XCTAssertNotNil(took, daemon.tail)
        XCTAssertLessThan(took ?? 10, 1.0, "a source edit reaches the replica within a second")
        print("timing: profile source edit to replica: \(took ?? -1) s")

        // The listed source goes: its replica goes, and the condition names it.
        try cluster.delete(.configMap, "platform", "settings")
        expectReplicas(.configMap, "settings", [], daemon)
        expect("SourcesAvailable is False naming the ConfigMap", daemon) {
            condition("SourcesAvailable", "platform", "base")?["status"]?.stringValue == "False"
                && (condition("SourcesAvailable", "platform", "base")?["message"]?.stringValue ?? "").contains("ConfigMap/settings")
        }

        // The profile is deleted: its replicas go, then its finalizer.
        try cluster.delete(profiles, "platform", "base")
        expectReplicas(.secret, "registry", [], daemon)
        expect("the profile is gone", daemon) { cluster.object(profiles, "platform", "base") == nil }
        XCTAssertNotNil(cluster.object(.secret, "platform", "registry"), "its source stays")
        stop(daemon)
    }

    /// The daemon watches the CRD itself: a CRD installed after it started serves profiles at
    /// once (not at the next minute's check), and a CRD deleted stops the profile watch — the
    /// profile is released through the finalizer first, and afterwards nothing is asked for
    /// (a watch of a kind no longer served would be retried every 2 s).
    func testACRDInstalledLaterIsServedAtOnceAndDeletingItStopsTheProfileWatch() throws {
        let crdName = "spillwayprofiles.spillway.kroy.io"
        try cluster.delete(.customResourceDefinition, "", crdName)
        XCTAssertNil(cluster.object(.customResourceDefinition, "", crdName))
        try namespaces("platform", "team-a")
        try cluster.secret("platform", "db", data: ["k": "s3cr3t-alpha"])
        let daemon = try startDaemon()
        XCTAssertNotNil(daemon.waitForLog("(not installed: profiles are not served)"), daemon.tail)

        cluster.emulator.register(try CustomResourceDefinition(yaml: String(contentsOfFile: Self.crdPath, encoding: .utf8)))
        try cluster.create(profiles, [
            "apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile",
            "metadata": ["name": "base", "namespace": "platform"],
            "spec": ["targetNamespaces": ["team-a"], "sources": [["kind": "Secret", "name": "db"]]],
        ])
        let took = secondsUntil { cluster.replicas(.secret, "db") == ["team-a"] }
        XCTAssertNotNil(took, "the profile was not served after its CRD was installed\n\(daemon.tail)")
        XCTAssertLessThan(took ?? 10, 5, "served when the CRD appears, not at a later check")
        print("timing: CRD installed to profile replica: \(took ?? -1) s")

        try cluster.delete(.customResourceDefinition, "", crdName)
        expectReplicas(.secret, "db", [], daemon)
        expect("the profile and then the CRD are gone", daemon) { cluster.object(.customResourceDefinition, "", crdName) == nil }
        sleep(1)
        cluster.emulator.accounting.reset()
        sleep(6)
        let requests = cluster.emulator.requests
        XCTAssertEqual(requests.count(), 0, "requests once the CRD was gone: \(requests.counts)\n\(daemon.tail)")
        XCTAssertNotNil(cluster.object(.secret, "platform", "db"), "the source stays")
        stop(daemon)
    }

    func testAProfileNeverOverwritesAnAnnotationReplicaAndTakesOverOnceItsOwnerIsGone() throws {
        try namespaces("apps", "platform", "shared")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "shared"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["shared"], daemon)
        try cluster.secret("platform", "db", data: ["k": "s3cr3t-beta"])
        try cluster.create(profiles, [
            "apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile",
            "metadata": ["name": "base", "namespace": "platform"],
            "spec": ["targetNamespaces": ["shared"], "sources": [["kind": "Secret", "name": "db"]]],
        ])
        expect("Ready is False: the target is held by the annotation source", daemon) {
            condition("Ready", "platform", "base")?["reason"]?.stringValue == "TargetsHeld"
        }
        expect("an Event on the profile names the owner", daemon) {
            cluster.events(about: "base", in: "platform").contains { $0.note.contains("Secret/apps/db") }
        }
        XCTAssertEqual(cluster.secretData("shared", "db"), ["k": "s3cr3t-alpha"], "the existing owner keeps it")
        try cluster.delete(.secret, "apps", "db")
        expect("the profile takes over once the owner is gone", daemon) {
            cluster.annotations(.secret, "shared", "db")[Key.profileRef] == "platform/base" && cluster.secretData("shared", "db") == ["k": "s3cr3t-beta"]
        }
        expect("Ready turns True", daemon) { condition("Ready", "platform", "base")?["status"]?.stringValue == "True" }
        stop(daemon)
    }

    func testMetricsHaveOneSeriesPerProfileRemovedWithIt() throws {
        try namespaces("platform", "team-a")
        try cluster.secret("platform", "db", data: ["k": "s3cr3t-alpha"])
        let daemon = try Spillwayd(
            ["--kubeconfig", try cluster.kubeconfig(), "--metrics-bind-address", "127.0.0.1:0",
             "--health-probe-bind-address", "127.0.0.1:0", "--log-format", "logfmt"],
            emptyConfig: cluster.directory.appendingPathComponent("empty.conf"))
        let address = try XCTUnwrap(daemon.waitForLog(#"address=(127\.0\.0\.1:\d+) endpoint=metrics"#), daemon.stderr)
        try cluster.create(profiles, [
            "apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile",
            "metadata": ["name": "base", "namespace": "platform"],
            "spec": ["targetNamespaces": ["team-a"], "sources": [["kind": "Secret", "name": "db"], ["kind": "ConfigMap", "name": "absent"]]],
        ])
        let expected = [
            #"spillway_profile_replicas{profile="platform/base"} 1"#,
            #"spillway_profile_sources_missing{profile="platform/base"} 1"#,
            #"spillway_profile_ready{profile="platform/base"} 1"#,
        ]
        var body = ""
        XCTAssertTrue(eventually {
            body = (try? httpGet("http://\(address)/metrics").body) ?? ""
            return expected.allSatisfy { line in body.split(separator: "\n").contains { $0.hasPrefix(line) } }
        }, body.split(separator: "\n").filter { $0.contains("profile") }.joined(separator: "\n") + daemon.stderr)
        try cluster.delete(profiles, "platform", "base")
        XCTAssertTrue(eventually {
            body = (try? httpGet("http://\(address)/metrics").body) ?? ""
            return cluster.object(profiles, "platform", "base") == nil && !body.contains(#"profile="platform/base""#)
        }, body.split(separator: "\n").filter { $0.contains("profile") }.joined(separator: "\n"))
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
    }

    /// `spillwayd plan` or `uninstall` against the test's emulator.
    private func command(_ arguments: [String]) throws -> (code: Int32?, stdout: String, stderr: String) {
        let process = try Spillwayd(arguments + ["--kubeconfig", try cluster.kubeconfig()],
                                    emptyConfig: cluster.directory.appendingPathComponent("empty-\(UUID()).conf"))
        let code = process.waitForExit()
        return (code, process.stdout, process.stderr)
    }

    private func profileObject(targets: [String], sources: [JSONValue]) -> JSONValue {
        ["apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile", "metadata": ["name": "base", "namespace": "platform"],
         "spec": ["targetNamespaces": .array(targets.map { .string($0) }), "sources": .array(sources)]]
    }

    func testPlanShowsAProfilesReplicasAndWritesNothing() throws {
        try namespaces("platform", "team-a", "team-b")
        try cluster.secret("platform", "db", data: ["k": "s3cr3t-alpha"])
        try cluster.secret("team-b", "db", data: ["k": "s3cr3t-gamma"])
        try cluster.create(profiles, profileObject(targets: ["team-*"], sources: [["kind": "Secret", "name": "db"]]))
        cluster.emulator.accounting.reset()
        let plan = try command(["plan"])
        XCTAssertEqual(plan.code, 0, plan.stderr)
        XCTAssertTrue(plan.stdout.contains("create    Secret team-a/db (matched targetNamespaces pattern team-*) [SpillwayProfile platform/base]"), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("skip      Secret team-b/db: "), plan.stdout)
        XCTAssertTrue(plan.stdout.contains("profile   SpillwayProfile platform/base: add finalizer"), plan.stdout)
        XCTAssertEqual(cluster.emulator.requests.writes.count, 0, "plan wrote: \(cluster.emulator.requests.writes)")
        XCTAssertFalse(plan.stdout.contains("s3cr3t"), "plan printed secret data")

        // From files, against given namespaces, with no cluster.
        let file = cluster.directory.appendingPathComponent("profile.yaml").path
        try """
            apiVersion: spillway.kroy.io/v1alpha1
            kind: SpillwayProfile
            metadata: {name: files, namespace: platform}
            spec:
              targetNamespaces: ["team-*"]
              sources: [{kind: ConfigMap, name: settings}]
            ---
            apiVersion: v1
            kind: ConfigMap
            metadata: {name: settings, namespace: platform}
            data: {mode: blue}
            """.write(toFile: file, atomically: true, encoding: .utf8)
        cluster.stop()
        let fromFiles = try command(["plan", "--namespaces", "team-a,other", file])
        XCTAssertEqual(fromFiles.code, 0, fromFiles.stderr)
        XCTAssertTrue(fromFiles.stdout.contains("create    ConfigMap team-a/settings (matched targetNamespaces pattern team-*) [SpillwayProfile platform/files]"),
                      fromFiles.stdout)
    }

    func testUninstallReleasesAProfileAndWithDeleteReplicasItsReplicas() throws {
        try namespaces("platform", "team-a")
        try cluster.secret("platform", "db", data: ["k": "s3cr3t-alpha"])
        let daemon = try startDaemon()
        try cluster.create(profiles, profileObject(targets: ["team-a"], sources: [["kind": "Secret", "name": "db"]]))
        expectReplicas(.secret, "db", ["team-a"], daemon)
        expect("the profile holds the finalizer", daemon) {
            cluster.object(profiles, "platform", "base")?["metadata"]?["finalizers"] == [.string(Key.finalizer)]
        }
        stop(daemon)
        let result = try command(["uninstall", "--delete-replicas"])
        XCTAssertEqual(result.code, 0, result.stdout + result.stderr)
        XCTAssertTrue(result.stdout.contains("finalizer removed  SpillwayProfile/platform/base"), result.stdout)
        XCTAssertEqual(cluster.object(profiles, "platform", "base")?["metadata"]?["finalizers"]?.arrayValue ?? [], [])
        XCTAssertEqual(cluster.replicas(.secret, "db"), [])
        // The profile can now be deleted without spillwayd.
        try cluster.delete(profiles, "platform", "base")
        XCTAssertNil(cluster.object(profiles, "platform", "base"))
    }

    func testANoOpResyncAndSelfHealOfAProfileSendZeroWrites() throws {
        try namespaces("platform", "team-a", "team-b")
        try cluster.secret("platform", "db", data: ["k": "s3cr3t-alpha"])
        try cluster.configMap("platform", "settings", data: ["mode": "fast"])
        let daemon = try startDaemon(["--sync-period", "1s", "--self-heal-interval", "1s", "--log-level", "debug"])
        try cluster.create(profiles, profileObject(targets: ["team-*"], sources: [["kind": "Secret", "name": "db"], ["kind": "ConfigMap", "name": "settings"]]))
        expectReplicas(.secret, "db", ["team-a", "team-b"], daemon)
        expectReplicas(.configMap, "settings", ["team-a", "team-b"], daemon)
        expect("Ready is True", daemon) { condition("Ready", "platform", "base")?["status"]?.stringValue == "True" }
        sleep(1)
        cluster.emulator.accounting.reset()
        let planned = { daemon.records.filter { ($0["msg"] ?? "").hasPrefix("resync: planning what changed") }.count }
        let resyncs = planned()
        expect("three resyncs ran", within: 20, daemon) { planned() >= resyncs + 3 }
        let requests = cluster.emulator.requests
        XCTAssertEqual(requests.writes.map { "\($0.verb) \($0.resource) \($0.namespace)/\($0.name)" }, [],
                       "a resync that finds a profile's replicas and status in place writes nothing")
        XCTAssertEqual(requests.count(verb: "get", resource: "secrets"), 0, "unchanged listed sources are not read again")
    }
}
