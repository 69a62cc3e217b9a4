import Foundation
import KubeEmulator
import XCTest

/// What a replica holds and how the real spillwayd process keeps it that way.
final class ReplicaContentProcessTests: ProcessTestCase {
    func testAHandEditedReplicaIsRevertedWithinASecond() throws {
        try namespaces("apps", "team-a")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-a"], data: ["password": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["team-a"], daemon)
        var measured: [Double] = []
        for round in 0..<5 {
            try cluster.patch(.secret, "team-a", "db", [
                "data": ["password": .string(Data("s3cr3t-gamma".utf8).base64EncodedString())],
                "metadata": ["labels": ["edited-by-hand": .string("\(round)")]],
            ])
            let took = secondsUntil {
                cluster.secretData("team-a", "db") == ["password": "s3cr3t-alpha"] && cluster.labels(.secret, "team-a", "db")["edited-by-hand"] == nil
            }
            // The contract's bound (acted on from the watch; typically ~15 ms here).
            XCTAssertLessThan(took ?? .infinity, 1.0, "round \(round): the hand edit was reverted after \(took.map { "\($0) s" } ?? "more than 10 s")\n\(daemon.tail)")
            measured.append(took ?? .infinity)
        }
        print("hand-edited replica reverted in (s): \(measured.map { String(format: "%.3f", $0) }.joined(separator: ", "))")
        XCTAssertTrue(daemon.audit("update").contains { $0["target_namespace"] == "team-a" }, "each revert is an audited update")
    }

    func testAHandDeletedReplicaIsRecreated() throws {
        try namespaces("apps", "team-a")
        let daemon = try startDaemon()
        try cluster.configMap("apps", "settings", annotations: [Key.replicateTo: "team-a"], data: ["mode": "fast"])
        expectReplicas(.configMap, "settings", ["team-a"], daemon)
        let before = try XCTUnwrap(cluster.object(.configMap, "team-a", "settings")?["metadata"]?["uid"])
        try cluster.delete(.configMap, "team-a", "settings")
        expect("the replica is recreated", daemon) {
            let replica = cluster.object(.configMap, "team-a", "settings")
            return replica != nil && replica?["metadata"]?["uid"] != before && replica?["data"]?["mode"] == "fast"
        }
    }

    func testASourceEditReachesEveryReplica() throws {
        try namespaces("apps", "team-a", "team-b")
        let daemon = try startDaemon()
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-*"], data: ["password": "s3cr3t-alpha"])
        expectReplicas(.secret, "db", ["team-a", "team-b"], daemon)
        try cluster.patch(.secret, "apps", "db", ["data": ["password": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        expect("both replicas carry the new value", daemon) {
            cluster.secretData("team-a", "db") == ["password": "s3cr3t-beta"] && cluster.secretData("team-b", "db") == ["password": "s3cr3t-beta"]
        }
    }

    func testIncludeAndExcludeKeysProjectTheDataAndATLSReplicaStaysTypedOnlyWithBothKeys() throws {
        try namespaces("apps", "team-a")
        let daemon = try startDaemon()
        let pem = ["tls.crt": "s3cr3t-alpha", "tls.key": "s3cr3t-beta", "ca.crt": "s3cr3t-gamma"]
        try cluster.secret("apps", "only", annotations: [Key.replicateTo: "team-a", Key.includeKeys: "tls.crt, ca.crt", Key.excludeKeys: "ca.crt"],
                           data: pem, type: "kubernetes.io/tls")
        try cluster.secret("apps", "minus", annotations: [Key.replicateTo: "team-a", Key.excludeKeys: "ca.crt"], data: pem, type: "kubernetes.io/tls")
        try cluster.configMap("apps", "settings", annotations: [Key.replicateTo: "team-a", Key.excludeKeys: "notes"],
                              data: ["mode": "fast", "notes": "internal"])
        expectReplicas(.secret, "only", ["team-a"], daemon)
        expectReplicas(.secret, "minus", ["team-a"], daemon)
        expectReplicas(.configMap, "settings", ["team-a"], daemon)
        XCTAssertEqual(cluster.secretData("team-a", "only"), ["tls.crt": "s3cr3t-alpha", "ca.crt": "s3cr3t-gamma"], "include wins over exclude")
        XCTAssertEqual(cluster.object(.secret, "team-a", "only")?["type"], "Opaque", "without tls.key the replica cannot stay kubernetes.io/tls")
        XCTAssertEqual(cluster.secretData("team-a", "minus"), ["tls.crt": "s3cr3t-alpha", "tls.key": "s3cr3t-beta"])
        XCTAssertEqual(cluster.object(.secret, "team-a", "minus")?["type"], "kubernetes.io/tls")
        XCTAssertEqual(cluster.object(.configMap, "team-a", "settings")?["data"], ["mode": "fast"])
    }

    func testLabelsAndAnnotationsAreCopiedMinusTheDenyPrefixesAndOwnershipIsNever() throws {
        try namespaces("apps", "team-a", "team-b")
        let first = try startDaemon()
        try cluster.configMap(
            "apps", "settings",
            annotations: [Key.replicateTo: "team-a", "team": "payments", "kubectl.kubernetes.io/last-applied-configuration": "{}",
                          "helm.sh/hook": "pre-install", "example.com/internal": "x"],
            labels: ["app": "web", "argocd.argoproj.io/instance": "platform"], data: ["mode": "fast"])
        try cluster.patch(.configMap, "apps", "settings", ["metadata": ["ownerReferences": [
            ["apiVersion": "v1", "kind": "ConfigMap", "name": "parent", "uid": "6c4a3c2e-0000-4000-8000-000000000001"],
        ]]])
        expectReplicas(.configMap, "settings", ["team-a"], first)
        // The default annotation deny-list, and no label deny-list: the seed's "labels are copied".
        XCTAssertEqual(cluster.labels(.configMap, "team-a", "settings"),
                       ["app": "web", "argocd.argoproj.io/instance": "platform", Key.managedBy: "spillway"])
        XCTAssertEqual(cluster.annotations(.configMap, "team-a", "settings"),
                       ["team": "payments", "example.com/internal": "x", Key.sourceFrom: "ConfigMap/apps/settings"])
        let replica = try XCTUnwrap(cluster.object(.configMap, "team-a", "settings"))
        XCTAssertNil(replica["metadata"]?["ownerReferences"], "ownerReferences are never copied")
        stop(first)

        let second = try startDaemon(["--label-deny-prefixes", "argocd.argoproj.io/", "--annotation-deny-prefixes", "example.com/"])
        try cluster.patch(.configMap, "apps", "settings", ["metadata": ["annotations": [Key.replicateTo: "team-*"]]])
        expectReplicas(.configMap, "settings", ["team-a", "team-b"], second)
        XCTAssertEqual(cluster.labels(.configMap, "team-b", "settings"), ["app": "web", Key.managedBy: "spillway"])
        XCTAssertEqual(cluster.annotations(.configMap, "team-b", "settings"),
                       ["team": "payments", "kubectl.kubernetes.io/last-applied-configuration": "{}", "helm.sh/hook": "pre-install",
                        Key.sourceFrom: "ConfigMap/apps/settings"])
    }

    func testASecretTypeChangeRecreatesTheReplicas() throws {
        try namespaces("apps", "team-a")
        let first = try startDaemon()
        let pair = ["tls.crt": "s3cr3t-alpha", "tls.key": "s3cr3t-beta"]
        try cluster.secret("apps", "cert", annotations: [Key.replicateTo: "team-a"], data: pair)
        expectReplicas(.secret, "cert", ["team-a"], first)
        XCTAssertEqual(cluster.object(.secret, "team-a", "cert")?["type"], "Opaque")
        // The API forbids changing a Secret's type: the source is replaced by a typed one while
        // the daemon is down, so the Opaque replica meets a kubernetes.io/tls source at start.
        stop(first)
        try cluster.deleteBypassingTheFinalizer(.secret, "apps", "cert")
        try cluster.secret("apps", "cert", annotations: [Key.replicateTo: "team-a"], data: pair, type: "kubernetes.io/tls")
        let second = try startDaemon()
        expect("the replica is recreated as kubernetes.io/tls", second) {
            cluster.object(.secret, "team-a", "cert")?["type"]?.stringValue == "kubernetes.io/tls"
        }
        XCTAssertFalse(second.stderr.contains("field is immutable"), "never stuck failing on the type")
    }

    func testAnImmutableSourceChangeRecreatesItsReplicas() throws {
        try namespaces("apps", "team-a")
        let first = try startDaemon()
        try cluster.secret("apps", "frozen", annotations: [Key.replicateTo: "team-a"], data: ["k": "s3cr3t-alpha"], immutable: true)
        expectReplicas(.secret, "frozen", ["team-a"], first)
        let replica = try XCTUnwrap(cluster.object(.secret, "team-a", "frozen"))
        XCTAssertEqual(replica["immutable"], true)
        stop(first)
        try cluster.deleteBypassingTheFinalizer(.secret, "apps", "frozen")
        try cluster.secret("apps", "frozen", annotations: [Key.replicateTo: "team-a"], data: ["k": "s3cr3t-beta"], immutable: true)
        let second = try startDaemon()
        expect("the immutable replica is recreated with the new content", second) {
            cluster.secretData("team-a", "frozen") == ["k": "s3cr3t-beta"]
                && cluster.object(.secret, "team-a", "frozen")?["metadata"]?["uid"] != replica["metadata"]?["uid"]
        }
        XCTAssertFalse(second.stderr.contains("field is immutable"), "never stuck failing on immutability")
    }
}
