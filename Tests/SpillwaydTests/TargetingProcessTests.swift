import Foundation
import KubeEmulator
import XCTest

/// docs/contract.md, "Which namespaces get a replica", with the real spillwayd process.
final class TargetingProcessTests: ProcessTestCase {
    func testReplicateToNamesGlobsAndMixedEntriesIgnoringWhitespaceAndEmptyEntries() throws {
        try namespaces("apps", "team-a", "team-b", "sandbox", "prod", "other")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: " team-* , sandbox,, prod "], data: ["password": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["team-a", "team-b", "sandbox", "prod"], daemon)
        XCTAssertEqual(cluster.secretData("team-a", "db"), ["password": "s3cr3t-alpha"])
        XCTAssertEqual(cluster.annotations(.secret, "team-a", "db")[Key.sourceFrom], "Secret/apps/db")
        expect("one audit line per create", daemon) {
            daemon.audit("create").filter { $0["source"] == "apps/db" }.compactMap { $0["target_namespace"] }.sorted()
                == ["prod", "sandbox", "team-a", "team-b"]
        }
        expect("a ReplicationSucceeded event on the source", daemon) {
            cluster.events(about: "db", in: "apps").contains { $0.reason == "ReplicationSucceeded" && $0.type == "Normal" }
        }
    }

    func testAllAndStarReachEveryNamespaceButTheSourcesOwnAndProtectedOnes() throws {
        try namespaces("apps", "team-a", "payments")
        let daemon = try startDaemon()
        try cluster.secret("apps", "all", annotations: [Key.replicateTo: "all"], data: ["k": "s3cr3t-alpha"])
        try cluster.configMap("apps", "star", annotations: [Key.replicateTo: "*"], data: ["k": "v"])
        // The emulator creates default, kube-system, kube-public and kube-node-lease.
        let everyone: Set<String> = ["team-a", "payments", "default", "kube-public", "kube-node-lease"]
        expectReplicas(.secret, "all", everyone, daemon)
        expectReplicas(.configMap, "star", everyone, daemon)
    }

    func testProtectedNamespacesAreReachedOnlyByNameAndExcludesStillWin() throws {
        try namespaces("apps", "team-a", "vault")
        let daemon = try startDaemon(["--protected-namespaces", "kube-system,vault"])
        try cluster.secret("apps", "wild", annotations: [Key.replicateTo: "*"], data: ["k": "s3cr3t-alpha"])
        try cluster.secret("apps", "named", annotations: [Key.replicateTo: "team-*,vault,kube-system"], data: ["k": "s3cr3t-alpha"])
        try cluster.secret("apps", "excluded", annotations: [Key.replicateTo: "vault,team-a", Key.exclude: "v*"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "wild", ["team-a", "default", "kube-public", "kube-node-lease"], daemon)
        expectReplicas(.secret, "named", ["team-a", "vault", "kube-system"], daemon)
        expectReplicas(.secret, "excluded", ["team-a"], daemon)
    }

    func testExcludeNamespacesWinsOverEveryInclude() throws {
        try namespaces("apps", "team-dev", "team-qa-1", "team-prod")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-*,team-dev", Key.exclude: " team-dev, team-qa-* "],
                           data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["team-prod"], daemon)
    }

    func testReplicateToMatchingSelectsByLabelInUnionWithReplicateToButNeverAProtectedNamespace() throws {
        try cluster.namespace("apps")
        try cluster.namespace("p1", labels: ["env": "prod", "tier": "web"])
        try cluster.namespace("p2", labels: ["env": "prod"])
        try cluster.namespace("s1", labels: ["env": "staging", "tier": "web"])
        try cluster.namespace("named")
        try cluster.patch(.namespace, "", "kube-system", ["metadata": ["labels": ["env": "prod", "tier": "web"]]])
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.matching: "env in (prod), tier", Key.replicateTo: "named"], data: ["k": "s3cr3t-alpha"])
        try cluster.secret("apps", "not-staging", annotations: [Key.matching: "env!=staging,!tier"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["p1", "named"], daemon)
        expectReplicas(.secret, "not-staging", ["p2", "named", "default", "kube-public", "kube-node-lease"], daemon)
    }

    func testANewNamespaceMatchingAGlobReceivesItsReplica() throws {
        try namespaces("apps", "team-a")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-*"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["team-a"], daemon)
        try cluster.namespace("team-new")
        try cluster.namespace("other-new")
        expectReplicas(.secret, "db", ["team-a", "team-new"], daemon)
    }

    func testARelabelledNamespaceGainsAndLosesItsReplica() throws {
        try namespaces("apps", "svc")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.matching: "env=prod"], data: ["k": "s3cr3t-alpha"])
        try cluster.secret("apps", "keep", annotations: [Key.replicateTo: "svc"], data: ["k": "s3cr3t-beta"])
        expectReplicas(.secret, "keep", ["svc"], daemon)
        XCTAssertEqual(cluster.replicas(.secret, "db"), [])
        try cluster.patch(.namespace, "", "svc", ["metadata": ["labels": ["env": "prod"]]])
        expectReplicas(.secret, "db", ["svc"], daemon)
        try cluster.patch(.namespace, "", "svc", ["metadata": ["labels": ["env": "dev"]]])
        expectReplicas(.secret, "db", [], daemon)
        XCTAssertEqual(cluster.replicas(.secret, "keep"), ["svc"], "only the replica of the source that no longer selects it goes")
    }

    func testAcceptFromAdmitsOnlyMatchingSourcesAndWithdrawingConsentRemovesExactlyThatReplica() throws {
        try namespaces("apps", "open")
        try cluster.namespace("picky", labels: [:], annotations: [Key.acceptFrom: "Secret/other/*"])
        try cluster.namespace("friendly", labels: [:], annotations: [Key.acceptFrom: "Secret/apps/*, ConfigMap/*/*"])
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "open,picky,friendly"], data: ["k": "s3cr3t-alpha"])
        try cluster.configMap("apps", "settings", annotations: [Key.replicateTo: "friendly"], data: ["k": "v"])
        expectReplicas(.secret, "db", ["open", "friendly"], daemon)
        expectReplicas(.configMap, "settings", ["friendly"], daemon)
        expect("the consent denial is audited", daemon) {
            daemon.audit("consent-denied").contains { $0["source"] == "apps/db" && $0["target_namespace"] == "picky" }
        }
        try cluster.patch(.namespace, "", "friendly", ["metadata": ["annotations": [Key.acceptFrom: "ConfigMap/*/*"]]])
        expectReplicas(.secret, "db", ["open"], daemon)
        XCTAssertEqual(cluster.replicas(.configMap, "settings"), ["friendly"])
    }

    func testRequireNamespaceConsentDeniesNamespacesWithoutAcceptFrom() throws {
        try namespaces("apps", "silent")
        try cluster.namespace("willing", labels: [:], annotations: [Key.acceptFrom: "*/*/*"])
        let daemon = try startDaemon(["--require-namespace-consent"])
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "silent,willing"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["willing"], daemon)
        expect("the denial in silent is audited", daemon) {
            daemon.audit("consent-denied").contains { $0["target_namespace"] == "silent" }
        }
        // Consent given later is acted on from the namespace watch.
        try cluster.patch(.namespace, "", "silent", ["metadata": ["annotations": [Key.acceptFrom: "Secret/apps/db"]]])
        expectReplicas(.secret, "db", ["silent", "willing"], daemon)
    }

    func testATerminatingNamespaceIsSkippedQuietly() throws {
        try namespaces("apps", "team-a", "team-b")
        // An object with someone else's finalizer keeps team-b Terminating.
        try cluster.create(.configMap, ["metadata": ["name": "held", "namespace": "team-b", "finalizers": ["example.com/hold"]]])
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-*"], data: ["k": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["team-a", "team-b"], daemon)
        cluster.emulator.accounting.reset()
        try cluster.delete(.namespace, "", "team-b")
        expectReplicas(.secret, "db", ["team-a"], daemon)
        XCTAssertEqual(cluster.object(.namespace, "", "team-b")?["status"]?["phase"]?.stringValue, "Terminating")
        // The source is edited while team-b terminates: the reconcile leaves team-b alone.
        try cluster.patch(.secret, "apps", "db", ["data": ["k": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        expect("the edit reaches team-a", daemon) { cluster.secretData("team-a", "db") == ["k": "s3cr3t-beta"] }
        expectStays("nothing is written to team-b and nothing is reported") {
            !cluster.emulator.requests.writes.contains { $0.namespace == "team-b" && $0.resource == "secrets" && $0.verb != "delete" }
                && !daemon.records.contains { $0["level"] == "warning" || $0["level"] == "error" }
                && !cluster.events(about: "db", in: "apps").contains { $0.type == "Warning" }
        }
    }
}
