import Foundation
import KubeWire
import XCTest

/// A SpillwayProfile naming a target cluster (`targetClusters`), on two real control planes driven
/// by the real spillwayd: the profile's unannotated source replicated into the target cluster's
/// namespaces by its own target rules, the status saying what each cluster holds, and the
/// profile's deletion removing its replicas there before its finalizer is released. Skips with
/// one line without `../shared/kube` (or without a second control plane to start).
final class MultiClusterProfileRealTests: ClusterScenarioTestCase {
    override func makeCluster() throws -> ScenarioCluster { try RealScenarioCluster(self) }

    func testAProfileWithTargetClustersReplicatesIntoASecondControlPlaneAndCleansUpThereFirst() throws {
        let watched = try XCTUnwrap(cluster as? RealScenarioCluster)
        let target = try TargetControlPlane(self, scratch: watched.directory)
        try cluster.installProfileCRD()
        let platform = try namespace("platform")
        let local = try namespace("team-local")
        let teams = ["\(prefix)team-a", "\(prefix)team-b"]
        for name in teams { try target.namespace(name) }
        try target.namespace("\(prefix)other")
        try secret(platform, "registry", data: ["token": "s3cr3t-alpha"])

        let kubeconfig = try target.managementKubeconfig(watched: watched)
        let daemon = try launchDaemon(kubeconfig: kubeconfig, ["--target-contexts", "prod", "--cluster-name", "mgmt"],
                                      config: watched.directory.appendingPathComponent("daemon.conf"))
        XCTAssertNotNil(daemon.waitForLog(#""msg":"ready""#, within: 60), daemon.tail)
        try kubectl.apply([
            "apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile",
            "metadata": ["name": "defaults", "namespace": .string(platform)],
            "spec": [
                "targetNamespaces": [.string("\(prefix)team-*")], "targetClusters": ["local", "prod"],
                "sources": [["kind": "Secret", "name": "registry"]],
            ],
        ])
        expect("replicas in the watched cluster and in the target cluster's team namespaces", within: 30, daemon) {
            replicas("secret", "registry") == [local] && target.replicaNamespaces("registry", prefix: prefix) == Set(teams)
        }
        let annotations = try target.kubectl.json("get", "secret", "registry", "-n", teams[0], "-o", "json")["metadata"]?["annotations"]
        XCTAssertEqual(annotations?[Key.sourceCluster]?.stringValue, "mgmt")
        XCTAssertEqual(annotations?[Key.profileRef]?.stringValue, "\(platform)/defaults")
        func ready() -> JSONValue? {
            object("spillwayprofile", platform, "defaults")?["status"]?["conditions"]?.arrayValue?.first { $0["type"]?.stringValue == "Ready" }
        }
        expect("Ready says what each cluster holds", daemon) {
            ready()?["message"]?.stringValue == "every replica is in place (the watched cluster: 1 namespace; cluster prod: 2 namespaces)"
        }

        try kubectl("delete", "spillwayprofile", "defaults", "-n", platform, "--wait=false")
        var sawProfileGoFirst = false
        expect("its replicas go in both clusters, then the profile", daemon) {
            let left = target.replicaNamespaces("registry", prefix: prefix)
            let profile = object("spillwayprofile", platform, "defaults")
            if profile == nil && !left.isEmpty { sawProfileGoFirst = true }
            return left.isEmpty && replicas("secret", "registry").isEmpty && profile == nil
        }
        XCTAssertFalse(sawProfileGoFirst, "the finalizer was released while replicas remained in the target cluster")
        XCTAssertTrue(daemon.records.contains { $0["action"] == "cleanup" && $0["cluster"] == "prod" && $0["profile"] == "\(platform)/defaults" },
                      daemon.tail)
    }
}
