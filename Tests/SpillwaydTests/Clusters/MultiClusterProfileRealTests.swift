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

        let kubeconfig = try managementKubeconfig(watched: watched, target: target)
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
            replicas("secret", "registry") == [local] && targetReplicas(target, "registry") == Set(teams)
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
            let left = targetReplicas(target, "registry")
            let profile = object("spillwayprofile", platform, "defaults")
            if profile == nil && !left.isEmpty { sawProfileGoFirst = true }
            return left.isEmpty && replicas("secret", "registry").isEmpty && profile == nil
        }
        XCTAssertFalse(sawProfileGoFirst, "the finalizer was released while replicas remained in the target cluster")
        XCTAssertTrue(daemon.records.contains { $0["action"] == "cleanup" && $0["cluster"] == "prod" && $0["profile"] == "\(platform)/defaults" },
                      daemon.tail)
    }

    /// Context `mgmt` (the watched cluster, current) and `prod` (the target), each with a user
    /// of its own; prod's token in a file beside the kubeconfig.
    private func managementKubeconfig(watched: RealScenarioCluster, target: TargetControlPlane) throws -> String {
        let tokenFile = watched.directory.appendingPathComponent("prod.token").path
        try target.daemonToken().write(toFile: tokenFile, atomically: true, encoding: .utf8)
        func entry(_ name: String, _ server: RealScenarioCluster.Server) -> String {
            "- name: \(name)\n  cluster:\n    server: \(server.url)\n"
                + (server.caData.map { "    certificate-authority-data: \($0)\n" } ?? "")
                + (server.insecure ? "    insecure-skip-tls-verify: true\n" : "")
        }
        let text = "apiVersion: v1\nkind: Config\nclusters:\n" + entry("mgmt", watched.server) + entry("prod", target.server) + """
            users:
            - {name: spillway-mgmt, user: {token: \(try watched.daemonToken(boundTo: nil))}}
            - {name: spillway-prod, user: {tokenFile: prod.token}}
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

    /// Namespaces of the target cluster (this test's only) holding a managed Secret `name`.
    private func targetReplicas(_ target: TargetControlPlane, _ name: String) -> Set<String> {
        let list = try? target.kubectl.json("get", "secrets", "-A", "-l", "\(Key.managedBy)=spillway", "--field-selector", "metadata.name=\(name)")
        return Set((list?["items"]?.arrayValue ?? []).compactMap { $0["metadata"]?["namespace"]?.stringValue }.filter { $0.hasPrefix(prefix) })
    }
}
