import Foundation
import KubeWire
import XCTest

/// A second real control plane (`../shared/kube/control-plane`), started for one test and
/// stopped when it ends: a target cluster that spillwayd writes replicas into. spillwayd reaches
/// it as a user would set it up: a ServiceAccount of its own there, bound to the ClusterRole
/// docs/multi-cluster.md gives (namespaces read; Secrets and ConfigMaps read and written), and
/// a token of that account in a token file beside the kubeconfig.
final class TargetControlPlane {
    let kubectl: Kubectl
    let server: RealScenarioCluster.Server
    private let directory: String

    init(_ test: XCTestCase, scratch: URL) throws {
        let script = RealScenarioCluster.Server.script.path
        guard FileManager.default.isExecutableFile(atPath: script) else {
            throw XCTSkip("a target cluster needs a second control plane: no \(script)")
        }
        directory = FileManager.default.temporaryDirectory.appendingPathComponent("clusters-cp-target-\(getpid())-\(UUID().uuidString.prefix(6))").path
        let dir = directory
        test.addTeardownBlock {
            // A frozen kube-apiserver (a test that failed before `thaw`) would take the stop's
            // whole grace period to end.
            if let text = try? String(contentsOfFile: "\(dir)/pids/kube-apiserver.pid", encoding: .utf8),
               let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) {
                kill(pid, SIGCONT)
            }
            _ = try? RealScenarioCluster.Server.controlPlaneCommand(["stop", dir])
            try? FileManager.default.removeItem(atPath: dir)
        }
        let admin = try RealScenarioCluster.Server.controlPlaneCommand(["start", directory]).trimmingCharacters(in: .whitespacesAndNewlines)
        server = try RealScenarioCluster.Server(kind: "target control plane", adminKubeconfig: admin, controlPlane: directory)
        kubectl = Kubectl(kubeconfig: admin, scratch: scratch)
    }

    func namespace(_ name: String, annotations: [String: String] = [:]) throws {
        try kubectl.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name), "annotations": .strings(annotations)]])
    }

    /// The daemon's identity in this cluster (the least it needs there), and a token of it.
    func daemonToken() throws -> String {
        try kubectl.apply([
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRole", "metadata": ["name": "spillway-target"],
            "rules": [
                ["apiGroups": [""], "resources": ["namespaces"], "verbs": ["get", "list", "watch"]],
                ["apiGroups": [""], "resources": ["secrets", "configmaps"], "verbs": ["get", "list", "watch", "create", "update", "delete"]],
            ],
        ])
        return try token(of: "spillway-target", boundTo: "spillway-target")
    }

    /// A token of an identity allowed everything: this cluster as the watched cluster of a
    /// second management host.
    func adminToken() throws -> String {
        try token(of: "spillway-admin", boundTo: "cluster-admin")
    }

    /// A token of ServiceAccount `account` (in spillway-system), bound to ClusterRole `role`.
    private func token(of account: String, boundTo role: String) throws -> String {
        try kubectl.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "spillway-system"]])
        try kubectl.apply(["apiVersion": "v1", "kind": "ServiceAccount", "metadata": ["name": .string(account), "namespace": "spillway-system"]])
        try kubectl.apply([
            "apiVersion": "rbac.authorization.k8s.io/v1", "kind": "ClusterRoleBinding", "metadata": ["name": .string(account)],
            "roleRef": ["apiGroup": "rbac.authorization.k8s.io", "kind": "ClusterRole", "name": .string(role)],
            "subjects": [["kind": "ServiceAccount", "name": .string(account), "namespace": "spillway-system"]],
        ])
        return try kubectl("create", "token", account, "-n", "spillway-system", "--duration", "1h")
            .trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// A kubeconfig as a management host keeps it: context `mgmt` (the watched cluster, current)
    /// and `prod` (this cluster), each with a user of its own; prod's token in a file beside it.
    func managementKubeconfig(watched: RealScenarioCluster) throws -> String {
        let tokenFile = watched.directory.appendingPathComponent("prod.token").path
        try daemonToken().write(toFile: tokenFile, atomically: true, encoding: .utf8)
        func entry(_ name: String, _ server: RealScenarioCluster.Server) -> String {
            "- name: \(name)\n  cluster:\n    server: \(server.url)\n"
                + (server.caData.map { "    certificate-authority-data: \($0)\n" } ?? "")
                + (server.insecure ? "    insecure-skip-tls-verify: true\n" : "")
        }
        let text = "apiVersion: v1\nkind: Config\nclusters:\n" + entry("mgmt", watched.server) + entry("prod", server) + """
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

    /// Namespaces starting with `prefix` (a test's own) that hold a managed Secret `name`.
    func replicaNamespaces(_ name: String, prefix: String) -> Set<String> {
        let list = try? kubectl.json("get", "secrets", "-A", "-l", "\(Key.managedBy)=spillway", "--field-selector", "metadata.name=\(name)")
        return Set((list?["items"]?.arrayValue ?? []).compactMap { $0["metadata"]?["namespace"]?.stringValue }.filter { $0.hasPrefix(prefix) })
    }

    /// Freezes this cluster's kube-apiserver (SIGSTOP): connections are still accepted by the
    /// kernel, and nothing is answered — a cluster that hangs rather than refuses — until `thaw`.
    func freeze() throws {
        try signalAPIServer(SIGSTOP)
    }

    func thaw() throws {
        try signalAPIServer(SIGCONT)
    }

    private func signalAPIServer(_ signal: Int32) throws {
        let file = "\(directory)/pids/kube-apiserver.pid"
        guard let text = try? String(contentsOfFile: file, encoding: .utf8), let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)),
              kill(pid, signal) == 0
        else { throw Kubectl.Failure(description: "cannot signal the kube-apiserver of \(directory) (\(file))") }
    }

    /// Stops this cluster's kube-apiserver for `seconds`, then starts it again, in the
    /// background (the call returns at once).
    func outage(seconds: Int) -> Outage {
        let outage = Outage()
        let dir = directory
        Thread.detachNewThread {
            _ = try? RealScenarioCluster.Server.controlPlaneCommand(["outage", dir, "\(seconds)"])
            outage.finish()
        }
        return outage
    }

    /// An outage in progress.
    final class Outage: @unchecked Sendable {
        private let lock = NSLock()
        private var over = false
        private let done = DispatchSemaphore(value: 0)

        /// The API server answers again.
        var isOver: Bool { lock.withLock { over } }

        /// Returns once the API server answers again.
        func wait() {
            done.wait()
            done.signal()
        }

        fileprivate func finish() {
            lock.withLock { over = true }
            done.signal()
        }
    }
}
