import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// A Kubernetes API server a scenario runs against, driven over HTTP(S) with kubectl. Two kinds:
/// the in-process emulator (fast, fresh per test) and a real kube-apiserver
/// (`RealScenarioCluster`: the control plane beside the project, or the cluster
/// `SPILLWAY_TEST_KUBECONFIG` names). The same scenario body runs against either.
///
/// Every namespace a scenario makes starts with `prefix` and carries the label
/// `spillway-test=<prefix>`, so that runs on a shared cluster never collide and clean up after
/// themselves.
protocol ScenarioCluster: AnyObject {
    /// For messages: "emulator", "control plane", "SPILLWAY_TEST_KUBECONFIG".
    var kind: String { get }
    /// An administrator's kubectl.
    var kubectl: Kubectl { get }
    var prefix: String { get }
    /// The API server's loopback port (a proxy in front of it reaches it there), nil when the
    /// server is elsewhere.
    var loopbackPort: Int? { get }
    /// The namespace holding the daemon's Lease (where the chart's Role grants it).
    var leaseNamespace: String { get }
    /// Scratch space removed when the test ends.
    var directory: URL { get }
    /// A kubeconfig for spillwayd with the identity it has when deployed (the chart's
    /// ServiceAccount on a real server), reaching the server through `port` when given (a proxy)
    /// and reading its token from `tokenFile` when given.
    func daemonKubeconfig(port: Int?, tokenFile: String?) throws -> String
    /// A bearer token for the daemon's identity (for token files).
    func daemonToken(boundTo secret: (name: String, uid: String)?) throws -> String
    /// Whether the whole API server can be restarted from the test (the local control plane).
    var canRestart: Bool { get }
    /// Restarts the API server (and etcd, keeping its data); returns when it answers again.
    func restart() throws
    /// Serves SpillwayProfiles from the chart's CRD (as the chart and kustomize install it).
    func installProfileCRD() throws
    /// Deletes that CRD (and so every profile) and returns once it is gone; skips where the
    /// cluster is not the test run's own.
    func removeProfileCRD() throws
}

/// The name of the SpillwayProfile CRD.
let profileCRDName = "spillwayprofiles.spillway.kroy.io"

/// The chart's SpillwayProfile CRD manifest.
var profileCRDPath: String {
    packageRoot.appendingPathComponent("charts/spillway/files/crds/spillwayprofiles.spillway.kroy.io.yaml").path
}

extension ScenarioCluster {
    /// The value of the `spillway-test` label on this test's namespaces (a label value cannot
    /// end with the prefix's dash).
    var runLabel: String { prefix.hasSuffix("-") ? String(prefix.dropLast()) : prefix }

    /// The kubeconfig text for `server` with `token` or `tokenFile`.
    static func kubeconfigText(server: String, caData: String?, insecure: Bool, token: String?, tokenFile: String?) -> String {
        var cluster = "    server: \(server)\n"
        if let caData { cluster += "    certificate-authority-data: \(caData)\n" }
        if insecure { cluster += "    insecure-skip-tls-verify: true\n" }
        var user = ""
        if let tokenFile { user += "    tokenFile: \(tokenFile)\n" } else if let token { user += "    token: \(token)\n" }
        return """
            apiVersion: v1
            kind: Config
            clusters:
            - name: under-test
              cluster:
            \(cluster)users:
            - name: spillwayd
              user:
            \(user.isEmpty ? "    {}\n" : user)contexts:
            - name: under-test
              context: {cluster: under-test, user: spillwayd}
            current-context: under-test

            """
    }
}

// MARK: - The emulator

/// The in-process emulator with TLS, fresh per test; spillwayd authenticates with a token that
/// makes it an administrator (the emulator's RBAC is not the chart's).
final class EmulatorScenarioCluster: ScenarioCluster {
    let kind = "emulator"
    let emulator: KubeEmulator
    let kubectl: Kubectl
    let prefix = "t-"
    let leaseNamespace = "t-spillway-system"
    let directory: URL
    let canRestart = false
    var loopbackPort: Int? { emulator.port }
    private static let daemonToken = "token-spillwayd"

    init(_ test: XCTestCase) throws {
        let directory = try temporaryDirectory(test)
        let emulator = try KubeEmulator.start(.init(
            tls: true, tokens: [Self.daemonToken: Identity(user: "spillwayd", groups: ["system:masters", "system:authenticated"])]))
        test.addTeardownBlock { emulator.shutdown() }
        let admin = directory.appendingPathComponent("admin.kubeconfig").path
        try emulator.writeKubeconfig(to: admin)
        self.directory = directory
        self.emulator = emulator
        kubectl = Kubectl(kubeconfig: admin, scratch: directory)
        try kubectl.apply(["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(leaseNamespace)]])
    }

    func daemonKubeconfig(port: Int?, tokenFile: String?) throws -> String {
        let path = directory.appendingPathComponent("daemon-\(UUID().uuidString).kubeconfig").path
        let text = Self.kubeconfigText(
            server: "https://127.0.0.1:\(port ?? emulator.port)", caData: emulator.caPEM.map { Data($0.utf8).base64EncodedString() },
            insecure: false, token: Self.daemonToken, tokenFile: tokenFile)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    func daemonToken(boundTo secret: (name: String, uid: String)?) throws -> String { Self.daemonToken }

    func restart() throws { throw XCTSkip("the emulator scenario has no restart") }

    func installProfileCRD() throws {
        emulator.register(try CustomResourceDefinition(yaml: String(contentsOfFile: profileCRDPath, encoding: .utf8)))
    }

    func removeProfileCRD() throws {
        _ = try? emulator.store.delete(.customResourceDefinition, namespace: "", name: profileCRDName)
        // As `kubectl delete` waits: the profiles' finalizers are released first.
        let gone = eventually(within: 60) {
            (try? emulator.store.get(.customResourceDefinition, namespace: "", name: profileCRDName)) == nil
        }
        if !gone { throw StatusError(code: 504, reason: "Timeout", message: "the SpillwayProfile CRD was not gone after 60 s") }
    }
}

// MARK: - A real API server

/// A real kube-apiserver: the control plane beside the project (`../shared/kube`, started once
/// per test run and stopped when the run ends) or the cluster `SPILLWAY_TEST_KUBECONFIG` names.
/// Each test gets a fresh namespace prefix, the chart's ServiceAccount, ClusterRole and lease
/// Role rendered from `packaging/kustomize/rbac` under that prefix, and cleans all of it up.
final class RealScenarioCluster: ScenarioCluster {
    let kind: String
    let kubectl: Kubectl
    let prefix: String
    let directory: URL
    let leaseNamespace: String
    let canRestart: Bool
    /// The API server (its URL and CA: a kubeconfig of several contexts names it too).
    let server: Server
    var loopbackPort: Int? { server.loopbackPort }
    private var serviceAccount: String { "\(prefix)spillway" }

    init(_ test: XCTestCase) throws {
        let server = try Server.shared()
        let directory = try temporaryDirectory(test)
        let prefix = "sw\(UUID().uuidString.prefix(6).lowercased())-"
        self.server = server
        self.directory = directory
        self.prefix = prefix
        kind = server.kind
        canRestart = server.controlPlane != nil
        kubectl = Kubectl(kubeconfig: server.adminKubeconfig, scratch: directory)
        leaseNamespace = "\(prefix)spillway-system"
        test.addTeardownBlock { [self] in cleanUp() }
        try installRBAC()
    }

    /// The chart's RBAC, as kustomize renders it, under this test's prefix.
    private func installRBAC() throws {
        let tree = directory.appendingPathComponent("rbac-overlay")
        try FileManager.default.createDirectory(at: tree, withIntermediateDirectories: true)
        // kustomize refuses an absolute resource path, so the rbac folder is copied beside the overlay.
        try FileManager.default.copyItem(at: packageRoot.appendingPathComponent("packaging/kustomize/rbac"), to: tree.appendingPathComponent("rbac"))
        try """
        namespace: \(leaseNamespace)
        namePrefix: \(prefix)
        resources:
        - rbac
        """.write(to: tree.appendingPathComponent("kustomization.yaml"), atomically: true, encoding: .utf8)
        try kubectl.apply(namespaceObject(leaseNamespace))
        try kubectl("apply", "-k", tree.path)
    }

    func namespaceObject(_ name: String) -> JSONValue {
        ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name), "labels": ["spillway-test": .string(runLabel)]]]
    }

    func daemonToken(boundTo secret: (name: String, uid: String)?) throws -> String {
        var arguments = ["create", "token", serviceAccount, "-n", leaseNamespace, "--duration", "1h"]
        if let secret {
            arguments += ["--bound-object-kind", "Secret", "--bound-object-name", secret.name, "--bound-object-uid", secret.uid]
        }
        return try kubectl.run(arguments).trimmingCharacters(in: .whitespacesAndNewlines)
    }

    func daemonKubeconfig(port: Int?, tokenFile: String?) throws -> String {
        let path = directory.appendingPathComponent("daemon-\(UUID().uuidString).kubeconfig").path
        var serverURL = server.url
        if let port { serverURL = "https://127.0.0.1:\(port)" }
        let text = Self.kubeconfigText(
            server: serverURL, caData: server.caData, insecure: server.insecure,
            token: tokenFile == nil ? try daemonToken(boundTo: nil) : nil, tokenFile: tokenFile)
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        chmod(path, 0o600)
        return path
    }

    func restart() throws {
        guard let dir = server.controlPlane else { throw XCTSkip("a restart needs the local control plane, not \(kind)") }
        try Server.controlPlaneCommand(["restart", dir])
    }

    /// The CRD is cluster-wide: applied (server-side, so a newer copy from the chart wins) and
    /// left installed for the other tests of the run.
    func installProfileCRD() throws {
        try kubectl("apply", "--server-side", "--force-conflicts", "-f", profileCRDPath)
        try kubectl("wait", "--for=condition=Established", "crd/spillwayprofiles.spillway.kroy.io", "--timeout=60s")
    }

    /// Deleting the CRD deletes every SpillwayProfile of the cluster: done only on the control
    /// plane this test run started, never on a cluster named by SPILLWAY_TEST_KUBECONFIG.
    func removeProfileCRD() throws {
        guard server.controlPlane != nil else {
            throw XCTSkip("deleting the SpillwayProfile CRD would delete every profile of \(kind): only on the run's own control plane")
        }
        try kubectl("delete", "crd", profileCRDName, "--ignore-not-found", "--timeout=60s")
    }

    /// Sources and profiles carry spillway's finalizer: with the daemon gone, strip it, then
    /// delete every namespace of this test and the cluster-wide RBAC.
    private func cleanUp() {
        let selector = "spillway-test=\(runLabel)"
        let names = (try? kubectl.json("get", "namespaces", "-l", selector))?["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue } ?? []
        for namespace in names {
            for item in (try? kubectl.json("get", "spillwayprofiles", "-n", namespace))?["items"]?.arrayValue ?? [] {
                _ = try? kubectl.attempt(["patch", "spillwayprofile", item["metadata"]?["name"]?.stringValue ?? "", "-n", namespace,
                                          "--type", "merge", "-p", #"{"metadata":{"finalizers":null}}"#])
            }
            guard let items = (try? kubectl.json("get", "secrets,configmaps", "-n", namespace))?["items"]?.arrayValue else { continue }
            for item in items where !(item["metadata"]?["finalizers"]?.arrayValue ?? []).isEmpty {
                let kind = item["kind"]?.stringValue == "Secret" ? "secret" : "configmap"
                _ = try? kubectl.attempt(["patch", kind, item["metadata"]?["name"]?.stringValue ?? "", "-n", namespace,
                                          "--type", "merge", "-p", #"{"metadata":{"finalizers":null}}"#])
            }
        }
        _ = try? kubectl.attempt(["delete", "namespaces", "-l", selector, "--wait=false"])
        _ = try? kubectl.attempt(["delete", "clusterrolebinding,clusterrole", "\(prefix)spillway", "--ignore-not-found"])
    }

    // MARK: The server, once per test run

    /// Where the real API server comes from, found once per test process.
    final class Server: @unchecked Sendable {
        let kind: String
        let adminKubeconfig: String
        /// The state folder of the control plane this run started (nil for a user's cluster).
        let controlPlane: String?
        let url: String
        let caData: String?
        let insecure: Bool

        var loopbackPort: Int? {
            guard let components = URLComponents(string: url), ["127.0.0.1", "localhost"].contains(components.host ?? "") else { return nil }
            return components.port
        }

        private static let lock = NSLock()
        nonisolated(unsafe) private static var found: Result<Server, Error>?

        static var script: URL { packageRoot.deletingLastPathComponent().appendingPathComponent("shared/kube/control-plane") }

        /// The server for this run, or a skip naming what is missing.
        static func shared() throws -> Server {
            try lock.withLock {
                if found == nil { found = Result { try locate() } }
                return try found!.get()
            }
        }

        private static func locate() throws -> Server {
            guard Kubectl.available else { throw XCTSkip("real API server tests need /usr/bin/kubectl") }
            if let kubeconfig = ProcessInfo.processInfo.environment["SPILLWAY_TEST_KUBECONFIG"], !kubeconfig.isEmpty {
                return try Server(kind: "SPILLWAY_TEST_KUBECONFIG", adminKubeconfig: kubeconfig, controlPlane: nil)
            }
            guard FileManager.default.isExecutableFile(atPath: script.path) else {
                throw XCTSkip("no real API server: neither \(script.path) nor SPILLWAY_TEST_KUBECONFIG")
            }
            let dir = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-test-cp-\(getpid())").path
            let kubeconfig = try controlPlaneCommand(["start", dir]).trimmingCharacters(in: .whitespacesAndNewlines)
            stopAtExit(dir)
            return try Server(kind: "control plane", adminKubeconfig: kubeconfig, controlPlane: dir)
        }

        init(kind: String, adminKubeconfig: String, controlPlane: String?) throws {
            self.kind = kind
            self.adminKubeconfig = adminKubeconfig
            self.controlPlane = controlPlane
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-test-kubectl-\(getpid())")
            try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)
            let view = try JSONParser.parse(try Kubectl(kubeconfig: adminKubeconfig, scratch: scratch)
                .run(["config", "view", "--raw", "--minify", "-o", "json"]))
            guard let cluster = view["clusters"]?.arrayValue?.first?["cluster"], let server = cluster["server"]?.stringValue else {
                throw Kubectl.Failure(description: "\(adminKubeconfig): no cluster in the current context")
            }
            url = server
            insecure = cluster["insecure-skip-tls-verify"]?.boolValue ?? false
            if let data = cluster["certificate-authority-data"]?.stringValue {
                caData = data
            } else if let file = cluster["certificate-authority"]?.stringValue, let pem = FileManager.default.contents(atPath: file) {
                caData = pem.base64EncodedString()
            } else {
                caData = nil
            }
        }

        /// Runs `../shared/kube/control-plane` with the shared binary cache; returns its stdout.
        ///
        /// Spawned directly rather than through Foundation's Process: the servers the script
        /// leaves running in the background would inherit the descriptors Process watches to see
        /// its child end (and every other descriptor of the test process), and Process would
        /// then wait for them too. Here the child gets its output files and nothing else.
        @discardableResult
        static func controlPlaneCommand(_ arguments: [String]) throws -> String {
            var environment = ProcessInfo.processInfo.environment
            if environment["KUBE_BIN_CACHE"] == nil {
                environment["KUBE_BIN_CACHE"] = FileManager.default.temporaryDirectory.appendingPathComponent(".kube-bin").path
            }
            let scratch = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-control-plane-\(UUID().uuidString)")
            let outPath = scratch.path + ".out", errPath = scratch.path + ".err"
            defer {
                unlink(outPath)
                unlink(errPath)
            }
            var actions = posix_spawn_file_actions_t()
            posix_spawn_file_actions_init(&actions)
            defer { posix_spawn_file_actions_destroy(&actions) }
            posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
            posix_spawn_file_actions_addopen(&actions, 1, outPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            posix_spawn_file_actions_addopen(&actions, 2, errPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            // Every other descriptor closed before the script runs (glibc's closefrom file
            // action is not visible to Swift; python3 is needed by the script anyway).
            let closeAndExec = "import os, sys; os.closerange(3, 1 << 16); os.execv(sys.argv[1], sys.argv[1:])"
            let argv = (["python3", "-c", closeAndExec, script.path] + arguments).map { strdup($0) } + [nil]
            let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
            defer { (argv + envp).forEach { free($0) } }
            var pid = pid_t()
            let spawned = posix_spawnp(&pid, "python3", &actions, nil, argv, envp)
            guard spawned == 0 else { throw POSIXError(.init(rawValue: spawned) ?? .EIO) }
            var status: Int32 = 0
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            let stdout = (try? String(contentsOfFile: outPath, encoding: .utf8)) ?? ""
            let stderr = (try? String(contentsOfFile: errPath, encoding: .utf8)) ?? ""
            // Exited normally with status 0 (WIFEXITED && WEXITSTATUS == 0).
            guard status & 0x7f == 0, (status >> 8) & 0xff == 0 else {
                throw Kubectl.Failure(description: "control-plane \(arguments.joined(separator: " ")) failed (wait status \(status)): \(stderr)")
            }
            return stdout
        }

        /// The control plane outlives no test run: stopped when the test process exits.
        private static func stopAtExit(_ dir: String) {
            startedControlPlane = dir
            atexit(stopStartedControlPlane)
        }
    }
}

/// The control plane this test process started, stopped at exit.
nonisolated(unsafe) private var startedControlPlane: String?

private func stopStartedControlPlane() {
    guard let dir = startedControlPlane else { return }
    _ = try? RealScenarioCluster.Server.controlPlaneCommand(["stop", dir])
    try? FileManager.default.removeItem(atPath: dir)
}

/// The package's root folder (this file is Tests/SpillwaydTests/Clusters/ScenarioCluster.swift).
let packageRoot = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
    .deletingLastPathComponent().deletingLastPathComponent()
