import Foundation
import KubeEmulator

/// 8. Many clusters: one source replicated into three clusters of N namespaces each — the
/// watched cluster (`local`) and two target clusters named by kubeconfig contexts, three
/// emulators in this process — beside the same 3 × N replicas in one cluster. Each update's
/// latency runs from the source's change to the last replica write answered, in every cluster.
extension Bench {
    /// Namespaces per cluster: 100 at small and full sizes (the figure of BENCHMARKS.md), fewer at tiny.
    private var clusterNamespaces: Int { min(100, workloads.fanOuts.max() ?? 100) }

    func clusters() throws {
        let n = clusterNamespaces
        var multiP50: [Double] = [], multiP99: [Double] = [], multiCold: [Double] = []
        var singleP50: [Double] = [], singleP99: [Double] = [], singleCold: [Double] = []
        for run in 1...workloads.latencyRuns {
            log("clusters 3×\(n): run \(run)")
            let (multi, multiFirst) = try fanOut(into: 3, namespaces: n, run: run)
            multiCold.append(multiFirst)
            multiP50.append(percentile(multi, 50))
            multiP99.append(percentile(multi, 99))
            log("clusters 1×\(3 * n): run \(run)")
            let (single, singleFirst) = try fanOut(into: 1, namespaces: 3 * n, run: run)
            singleCold.append(singleFirst)
            singleP50.append(percentile(single, 50))
            singleP99.append(percentile(single, 99))
        }
        let replicas = 3 * n
        let m = "8. many clusters, one source into 3 clusters × \(n) namespaces"
        add(Row(measurement: m, figure: "first fan-out, daemon start to every replica", unit: "s", values: multiCold))
        add(Row(measurement: m, figure: "p50 over \(workloads.updates) updates", unit: "ms", values: multiP50))
        add(Row(measurement: m, figure: "p99 over \(workloads.updates) updates", unit: "ms", values: multiP99))
        add(Row(measurement: m, figure: "throughput at p50", unit: "replicas/s", values: multiP50.map { Double(replicas) / ($0 / 1000) }))
        let s = "8. many clusters, the same \(replicas) replicas in one cluster"
        add(Row(measurement: s, figure: "first fan-out, daemon start to every replica", unit: "s", values: singleCold))
        add(Row(measurement: s, figure: "p50 over \(workloads.updates) updates", unit: "ms", values: singleP50))
        add(Row(measurement: s, figure: "p99 over \(workloads.updates) updates", unit: "ms", values: singleP99))
        add(Row(measurement: s, figure: "throughput at p50", unit: "replicas/s", values: singleP50.map { Double(replicas) / ($0 / 1000) }))
    }

    /// One source into `count` clusters of `namespaces` each (the first is the watched one, the
    /// others its targets `t1`, `t2`, …): seconds from the daemon's start to the first complete
    /// fan-out, and each update's latency in ms.
    private func fanOut(into count: Int, namespaces: Int, run: Int) throws -> (updates: [Double], first: Double) {
        let dir = try scratch("clusters-\(count)x\(namespaces)-\(run)")
        var clusters: [Cluster] = []
        for i in 0..<count {
            let clusterDir = dir.appendingPathComponent("c\(i)")
            try FileManager.default.createDirectory(at: clusterDir, withIntermediateDirectories: true)
            let cluster = try Cluster(directory: clusterDir)
            try cluster.createNamespaces(0..<namespaces)
            clusters.append(cluster)
        }
        let targets = (1..<count).map { "t\($0)" }
        let kubeconfig = dir.appendingPathComponent("contexts.kubeconfig").path
        try Self.kubeconfig(clusters, names: ["mgmt"] + targets).write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        try clusters[0].createSource(0, clusters: count > 1 ? (["local"] + targets).joined(separator: ",") : nil)
        let converged = clusters.map { $0.expectReplicaWrites(namespaces) }
        let flags = count > 1 ? ["--target-contexts", targets.joined(separator: ","), "--cluster-name", "mgmt"] : []
        let daemon = try Daemon(binary: spillwayd, kubeconfig: kubeconfig, directory: dir, name: "spillwayd", flags: flags)
        defer { daemon.stop() }
        var last: UInt64 = 0
        for expectation in converged {
            guard let t = expectation.wait(timeout: timeout(forWrites: count * namespaces)) else {
                throw BenchError("clusters \(count)×\(namespaces): no convergence; log: \(daemon.logPath)")
            }
            last = max(last, t)
        }
        let first = seconds(daemon.started, last)
        clusters.forEach { $0.waitRequestsQuiet(0.5, timeout: 60) }
        var samples: [Double] = []
        for u in 1...workloads.updates {
            let updated = clusters.map { $0.expectReplicaWrites(namespaces, name: Cluster.source(0)) }
            let t0 = now()
            try clusters[0].updateSource(0, generation: u)
            var done: UInt64 = 0
            for expectation in updated {
                guard let t = expectation.wait(timeout: timeout(forWrites: count * namespaces)) else {
                    throw BenchError("clusters \(count)×\(namespaces): update \(u) incomplete; log: \(daemon.logPath)")
                }
                done = max(done, t)
            }
            samples.append(seconds(t0, done) * 1000)
            usleep(20_000)
        }
        return (samples, first)
    }

    /// A kubeconfig of one context per cluster, `names[0]` current (the watched cluster).
    private static func kubeconfig(_ clusters: [Cluster], names: [String]) -> String {
        var text = "apiVersion: v1\nkind: Config\nclusters:\n"
        for (cluster, name) in zip(clusters, names) {
            text += "- name: \(name)\n  cluster:\n    server: \(cluster.emulator.baseURL)\n    certificate-authority: \(cluster.caPath)\n"
        }
        text += "users:\n"
        for (cluster, name) in zip(clusters, names) { text += "- name: \(name)\n  user:\n    token: \(cluster.emulator.adminToken)\n" }
        text += "contexts:\n"
        for name in names { text += "- name: \(name)\n  context: {cluster: \(name), user: \(name)}\n" }
        return text + "current-context: \(names[0])\n"
    }
}
