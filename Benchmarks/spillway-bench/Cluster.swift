import Foundation
import KubeEmulator
import KubeWire

/// One emulated cluster for one measurement: the emulator in this process (TLS, HTTP/2, the
/// admin's bearer token, as a real API server is reached), seeded through its store so that
/// 100,000 objects take seconds, and observed through its request accounting, which records
/// every request the daemon sends and the moment each write was answered. The daemon is a
/// separate process and only ever talks HTTP to it.
final class Cluster {
    let emulator: KubeEmulator
    let directory: URL
    let kubeconfig: String
    let caPath: String

    /// Sources live here; replicas go to namespaces named `targetPrefix` + digits.
    static let sourceNamespace = "bench-sources"
    static let targetPrefix = "b-"

    init(directory: URL) throws {
        emulator = try KubeEmulator.start(.init(tls: true, historyLimit: 300_000))
        self.directory = directory
        kubeconfig = directory.appendingPathComponent("kubeconfig").path
        caPath = directory.appendingPathComponent("ca.pem").path
        try emulator.writeKubeconfig(to: kubeconfig)
        try emulator.caPEM!.write(toFile: caPath, atomically: true, encoding: .utf8)
        try emulator.store.create(.namespace, namespace: "", ["metadata": ["name": .string(Self.sourceNamespace)]])
    }

    deinit { emulator.shutdown() }

    var store: Store { emulator.store }
    var accounting: RequestAccounting { emulator.accounting }

    static func target(_ i: Int) -> String { targetPrefix + String(format: "%05d", i) }
    static func source(_ i: Int) -> String { "src-\(i)" }

    func createNamespaces(_ range: Range<Int>) throws {
        for i in range {
            try store.create(.namespace, namespace: "", ["metadata": ["name": .string(Self.target(i))]])
        }
    }

    /// A source Secret (about 100 bytes of data) that asks for replication into `replicateTo`.
    /// With `clusters`, also `replicate-to-clusters`.
    func createSource(_ i: Int, replicateTo: String = targetPrefix + "*", clusters: String? = nil) throws {
        var annotations: [String: JSONValue] = ["spillway.kroy.io/replicate-to": .string(replicateTo)]
        if let clusters { annotations["spillway.kroy.io/replicate-to-clusters"] = .string(clusters) }
        try store.create(.secret, namespace: Self.sourceNamespace, [
            "metadata": ["name": .string(Self.source(i)), "annotations": .object(annotations),
                         "labels": ["app": "bench"]],
            "type": "Opaque",
            "data": ["token": .string(Data("value-of-source-\(i)-".utf8 + Data(repeating: 0x61, count: 64)).base64EncodedString()),
                     "user": .string(Data("bench".utf8).base64EncodedString())],
        ])
    }

    /// Changes a source's data (what a rotated credential looks like to the daemon).
    func updateSource(_ i: Int, generation: Int) throws {
        try store.patch(.secret, namespace: Self.sourceNamespace, name: Self.source(i), .merge,
                        ["data": ["token": .string(Data("value-of-source-\(i)-generation-\(generation)".utf8).base64EncodedString())]])
    }

    /// `count` Secrets nobody replicates, `bytes` of data each, spread over the namespaces.
    func createUnrelated(_ count: Int, bytes: Int, namespaces: Int) throws {
        let blob = Data((0..<bytes).map { UInt8(truncatingIfNeeded: $0 &* 131 &+ 7) })
        for i in 0..<count {
            var data = blob
            withUnsafeBytes(of: UInt32(i)) { data.replaceSubrange(0..<4, with: $0) }
            try store.create(.secret, namespace: Self.target(i % namespaces), [
                "metadata": ["name": .string("unrelated-\(i)"), "labels": ["app": "other"]],
                "data": ["payload": .string(data.base64EncodedString())],
            ])
        }
    }

    /// Awaits `count` successful writes of replicas (Secrets in the target namespaces), optionally
    /// only in one namespace or of one name.
    func expectReplicaWrites(_ count: Int, namespace: String? = nil, name: String? = nil) -> WriteExpectation {
        let prefix = Self.targetPrefix
        return accounting.expect(count) { w in
            w.resource == "secrets" && w.code < 300 && w.verb != "delete" && w.namespace.hasPrefix(prefix)
                && (namespace == nil || w.namespace == namespace) && (name == nil || w.name == name)
        }
    }

    /// Waits until no request has reached the emulator for `quiet` seconds (the daemon's
    /// follow-up writes — events, finalizers — are in); false at the timeout.
    @discardableResult
    func waitRequestsQuiet(_ quiet: Double = 1, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var last = accounting.requestCount
        var stableSince = Date()
        while Date() < deadline {
            usleep(100_000)
            let n = accounting.requestCount
            if n != last {
                last = n
                stableSince = Date()
            } else if Date().timeIntervalSince(stableSince) >= quiet {
                return true
            }
        }
        return false
    }

    /// A replica the daemon wrote, as the body of a create: the loadgen sends the same bytes.
    func replicaTemplate(namespace: String, name: String) throws -> String {
        var json = try store.get(.secret, namespace: namespace, name: name).json
        var meta = json["metadata"]?.objectValue ?? [:]
        for key in ["namespace", "uid", "resourceVersion", "creationTimestamp", "managedFields"] { meta[key] = nil }
        meta["name"] = "@NAME@"
        json["metadata"] = .object(meta)
        return json.jsonString
    }
}
