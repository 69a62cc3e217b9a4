import Foundation
import KubeEmulator
import KubeWire

/// The workloads of one `--size`.
struct Workloads {
    /// Cold convergence: (sources, namespaces), each measured `coldRuns` times with the loadgen.
    var cold: [(sources: Int, namespaces: Int)]
    var coldRuns: Int
    /// Propagation latency: fan-outs, updates per run, runs.
    var fanOuts: [Int]
    var updates: Int
    var latencyRuns: Int
    /// New namespace: sources targeting it, namespaces created per run, runs.
    var namespaceSources: Int
    var newNamespaces: Int
    var namespaceRuns: Int
    /// Resident daemon: sources × namespaces, the idle observation (windows of `idleWindow` s),
    /// unrelated Secrets added, start-ups measured.
    var residentSources: Int
    var residentNamespaces: Int
    var idleWindows: Int
    var idleWindow: Double
    /// Flags that make a resync happen within the idle observation at small sizes.
    var idleFlags: [String]
    var unrelated: Int
    var startups: Int

    static func named(_ size: String) -> Workloads? {
        switch size {
        case "tiny":
            Workloads(cold: [(2, 5)], coldRuns: 1, fanOuts: [1, 5], updates: 5, latencyRuns: 1, namespaceSources: 5, newNamespaces: 3,
                      namespaceRuns: 1, residentSources: 10, residentNamespaces: 2, idleWindows: 1, idleWindow: 3,
                      idleFlags: ["--self-heal-interval", "1s"], unrelated: 200, startups: 1)
        case "small":
            Workloads(cold: [(10, 100)], coldRuns: 3, fanOuts: [1, 100], updates: 50, latencyRuns: 3, namespaceSources: 100,
                      newNamespaces: 30, namespaceRuns: 3, residentSources: 100, residentNamespaces: 10, idleWindows: 3, idleWindow: 10,
                      idleFlags: ["--self-heal-interval", "5s"], unrelated: 10_000, startups: 3)
        case "full":
            Workloads(cold: [(10, 100), (100, 1_000), (20, 5_000)], coldRuns: 3, fanOuts: [1, 100, 1_000], updates: 200, latencyRuns: 3,
                      namespaceSources: 100, newNamespaces: 200, namespaceRuns: 3, residentSources: 1_000, residentNamespaces: 10,
                      idleWindows: 3, idleWindow: 60, idleFlags: [], unrelated: 100_000, startups: 5)
        default: nil
        }
    }
}

/// Runs the measurements and collects their rows.
final class Bench {
    let workloads: Workloads
    let spillwayd: String
    /// Another spillwayd whose start-ups alternate with `spillwayd`'s (before and after a
    /// change, under the same load).
    var baseline: String?
    let loadgen: String?
    let loadgenInflight: Int
    let directory: URL
    var report: Report

    init(workloads: Workloads, spillwayd: String, loadgen: String?, loadgenInflight: Int, directory: URL, report: Report) {
        self.workloads = workloads
        self.spillwayd = spillwayd
        self.loadgen = loadgen
        self.loadgenInflight = loadgenInflight
        self.directory = directory
        self.report = report
    }

    static let names = ["cold", "latency", "namespace", "resident", "clusters"]

    func run(_ name: String) throws {
        switch name {
        case "cold": try cold()
        case "latency": try latency()
        case "namespace": try newNamespace()
        case "resident": try resident()
        case "clusters": try clusters()
        default: throw BenchError("unknown measurement \(name); known: \(Self.names.joined(separator: ", "))")
        }
    }

    func log(_ text: String) {
        FileHandle.standardError.write(Data("spillway-bench: \(text)\n".utf8))
    }

    func scratch(_ name: String) throws -> URL {
        let url = directory.appendingPathComponent(name)
        try FileManager.default.createDirectory(at: url, withIntermediateDirectories: true)
        return url
    }

    func add(_ row: Row) {
        report.rows.append(row)
        log("\(row.measurement): \(row.figure) = \(format(row.median)) \(row.unit) (min \(format(row.minimum)), max \(format(row.maximum)), \(row.values.count) runs)")
    }

    func timeout(forWrites n: Int) -> Double { 60 + Double(n) / 50 }

    /// A fresh cluster of `sources` sources targeting `namespaces` namespaces, and spillwayd
    /// started against it and converged: every replica written, its follow-up requests (events,
    /// finalizers) answered and the API quiet for `quiet` seconds.
    private func convergedDaemon(
        _ name: String, sources: Int, namespaces: Int, flags: [String] = [], environment: [String: String] = [:],
        quiet: Double = 0.5
    ) throws -> (Cluster, Daemon) {
        let dir = try scratch(name)
        let cluster = try Cluster(directory: dir)
        try cluster.createNamespaces(0..<namespaces)
        for i in 0..<sources { try cluster.createSource(i) }
        let replicas = sources * namespaces
        let converged = cluster.expectReplicaWrites(replicas)
        let daemon = try Daemon(binary: spillwayd, kubeconfig: cluster.kubeconfig, directory: dir, name: "spillwayd",
                                flags: flags, environment: environment)
        guard converged.wait(timeout: timeout(forWrites: replicas)) != nil else {
            throw BenchError("\(name): no convergence; log: \(daemon.logPath)")
        }
        cluster.waitRequestsQuiet(quiet, timeout: 60)
        return (cluster, daemon)
    }

    // MARK: 1 + 2. Cold convergence and the limit

    func cold() throws {
        for (s, n) in workloads.cold {
            let label = "cold \(s)×\(n)"
            let replicas = s * n
            var total: [Double] = [], rate: [Double] = [], writeRate: [Double] = [], perReplica: [Double] = [], writesPerReplica: [Double] = []
            var notifications: [Double] = [], daemonCPU: [Double] = [], emulatorCPU: [Double] = []
            var limitEmulatorCPU: [Double] = [], loadgenCPU: [Double] = []
            var limit: [Double] = [], fraction: [Double] = [], writeFraction: [Double] = []
            var watchedLimit: [Double] = [], watchedEmulatorCPU: [Double] = [], watchedFraction: [Double] = [], watchedWriteFraction: [Double] = []
            for run in 1...workloads.coldRuns {
                log("\(label): run \(run)")
                let dir = try scratch("cold-\(s)x\(n)-\(run)")
                var template = ""
                do {
                    let cluster = try Cluster(directory: dir)
                    try cluster.createNamespaces(0..<n)
                    for i in 0..<s { try cluster.createSource(i) }
                    let all = cluster.expectReplicaWrites(replicas)
                    let first = cluster.expectReplicaWrites(1)
                    let cpu0 = processCPUSeconds()
                    let daemon = try Daemon(binary: spillwayd, kubeconfig: cluster.kubeconfig, directory: dir, name: "spillwayd")
                    guard let done = all.wait(timeout: timeout(forWrites: replicas)), let began = first.wait(timeout: 0) else {
                        throw BenchError("\(label): \(all.outstanding) of \(replicas) replicas missing after the timeout; log: \(daemon.logPath)")
                    }
                    cluster.waitRequestsQuiet(1, timeout: 60)
                    daemonCPU.append(daemon.sample.cpuSeconds / Double(replicas) * 1e6)
                    emulatorCPU.append((processCPUSeconds() - cpu0) / Double(replicas) * 1e6)
                    daemon.stop()
                    notifications.append(Double(daemon.notify.received) / Double(replicas))
                    let elapsed = seconds(daemon.started, done)
                    total.append(elapsed)
                    rate.append(Double(replicas) / elapsed)
                    writeRate.append(Double(replicas) / max(seconds(began, done), 1e-6))
                    let snapshot = cluster.accounting.snapshot
                    perReplica.append(Double(snapshot.counts.values.reduce(0, +)) / Double(replicas))
                    writesPerReplica.append(Double(snapshot.writes.count) / Double(replicas))
                    template = try cluster.replicaTemplate(namespace: Cluster.target(0), name: Cluster.source(0))
                }
                guard let loadgen else { continue }
                let body = dir.appendingPathComponent("replica.json")
                try template.write(to: body, atomically: true, encoding: .utf8)
                let (seconds, emulatorSeconds, loadgenSeconds) = try runLoadgen(loadgen, body: body, sources: s, namespaces: n, directory: dir)
                limitEmulatorCPU.append(emulatorSeconds / Double(replicas) * 1e6)
                loadgenCPU.append(loadgenSeconds / Double(replicas) * 1e6)
                let capacity = Double(replicas) / seconds
                limit.append(capacity)
                fraction.append(rate.last! / capacity)
                writeFraction.append(writeRate.last! / capacity)
                // The same creates with a watch of every Secret open: the server then also streams
                // each new Secret, as it does for the daemon's watch of its replicas.
                let (watchedSeconds, watchedEmulatorSeconds, _) = try runLoadgen(loadgen, body: body, sources: s, namespaces: n,
                                                                                directory: dir, watch: true)
                watchedEmulatorCPU.append(watchedEmulatorSeconds / Double(replicas) * 1e6)
                let watchedCapacity = Double(replicas) / watchedSeconds
                watchedLimit.append(watchedCapacity)
                watchedFraction.append(rate.last! / watchedCapacity)
                watchedWriteFraction.append(writeRate.last! / watchedCapacity)
            }
            let m = "1. \(label)"
            add(Row(measurement: m, figure: "daemon start to every replica present", unit: "s", values: total))
            add(Row(measurement: m, figure: "replicas per second, start to last replica", unit: "1/s", values: rate))
            add(Row(measurement: m, figure: "replicas per second, first to last replica write", unit: "1/s", values: writeRate))
            add(Row(measurement: m, figure: "API requests per replica (all: lists, watches, GETs, writes, events)", unit: "", values: perReplica,
                    note: "ideal 1.0 plus the lists"))
            add(Row(measurement: m, figure: "API writes per replica (creates, finalizer patches, events)", unit: "", values: writesPerReplica))
            add(Row(measurement: m, figure: "spillwayd CPU per replica", unit: "µs", values: daemonCPU, goal: .below(120)))
            add(Row(measurement: m, figure: "emulator CPU per replica (serving the daemon)", unit: "µs", values: emulatorCPU))
            add(Row(measurement: m, figure: "sd_notify datagrams per replica (STATUS= updates)", unit: "", values: notifications))
            if !limit.isEmpty {
                let l = "2. limit \(s)×\(n)"
                add(Row(measurement: l, figure: "loadgen creates per second (\(loadgenInflight) in flight, HTTP/2)", unit: "1/s", values: limit))
                add(Row(measurement: l, figure: "emulator CPU per create (serving the loadgen)", unit: "µs", values: limitEmulatorCPU))
                add(Row(measurement: l, figure: "loadgen CPU per create", unit: "µs", values: loadgenCPU))
                add(Row(measurement: l, figure: "daemon ÷ loadgen, start to last replica", unit: "", values: fraction, goal: .atLeast(0.8)))
                add(Row(measurement: l, figure: "daemon ÷ loadgen, write phase", unit: "", values: writeFraction, goal: .atLeast(0.8)))
                add(Row(measurement: l, figure: "loadgen creates per second, a watch of every Secret open", unit: "1/s", values: watchedLimit))
                add(Row(measurement: l, figure: "emulator CPU per create, a watch of every Secret open", unit: "µs", values: watchedEmulatorCPU))
                add(Row(measurement: l, figure: "daemon ÷ loadgen with the watch, start to last replica", unit: "", values: watchedFraction))
                add(Row(measurement: l, figure: "daemon ÷ loadgen with the watch, write phase", unit: "", values: watchedWriteFraction))
            }
            report.peerFloor.append(PeerFloor(workload: "\(label): \(replicas) replica creates", requests: replicas))
        }
    }

    /// The loadgen against a fresh cluster holding the same namespaces: wall seconds for the
    /// creates, and the CPU seconds the emulator and the loadgen spent meanwhile; `watch`: with a
    /// watch of every Secret open on the loadgen's connection.
    private func runLoadgen(_ binary: String, body: URL, sources: Int, namespaces: Int, directory: URL,
                            watch: Bool = false) throws -> (Double, Double, Double) {
        let dir = directory.appendingPathComponent(watch ? "limit-watched" : "limit")
        try FileManager.default.createDirectory(at: dir, withIntermediateDirectories: true)
        let cluster = try Cluster(directory: dir)
        try cluster.createNamespaces(0..<namespaces)
        let p = Process()
        p.executableURL = URL(fileURLWithPath: binary)
        p.arguments = ["--url", cluster.emulator.baseURL, "--cacert", cluster.caPath, "--token", cluster.emulator.adminToken,
                       "--body", body.path, "--namespace-prefix", Cluster.targetPrefix, "--namespaces", String(namespaces),
                       "--namespace-digits", "5", "--names", String(sources), "--inflight", String(loadgenInflight)]
            + (watch ? ["--watch"] : [])
        let out = Pipe()
        p.standardOutput = out
        let errPath = dir.appendingPathComponent("loadgen.stderr")
        _ = FileManager.default.createFile(atPath: errPath.path, contents: Data())
        let err = try FileHandle(forWritingTo: errPath)
        defer { try? err.close() }
        p.standardError = err
        let cpu0 = processCPUSeconds(), children0 = childrenCPUSeconds()
        try p.run()
        let data = out.fileHandleForReading.readDataToEndOfFile()
        p.waitUntilExit()
        let emulatorCPU = processCPUSeconds() - cpu0, loadgenCPU = childrenCPUSeconds() - children0
        guard p.terminationStatus == 0, let result = try? JSONParser.parse(Array(data)), let seconds = result["seconds"].flatMap(numberValue),
              Int(result["created"].flatMap(numberValue) ?? 0) == sources * namespaces
        else {
            let stderr = (try? String(contentsOf: errPath, encoding: .utf8)) ?? ""
            throw BenchError("loadgen failed (\(p.terminationStatus)): \(String(decoding: data, as: UTF8.self)) \(stderr)")
        }
        return (seconds, emulatorCPU, loadgenCPU)
    }

    // MARK: 3. Propagation latency

    func latency() throws {
        for fanOut in workloads.fanOuts {
            var p50: [Double] = [], p99: [Double] = []
            for run in 1...workloads.latencyRuns {
                log("latency fan-out \(fanOut): run \(run)")
                let (cluster, daemon) = try convergedDaemon("latency-\(fanOut)-\(run)", sources: 1, namespaces: fanOut)
                var samples: [Double] = []
                for u in 1...workloads.updates {
                    let updated = cluster.expectReplicaWrites(fanOut, name: Cluster.source(0))
                    let t0 = now()
                    try cluster.updateSource(0, generation: u)
                    guard let t1 = updated.wait(timeout: timeout(forWrites: fanOut)) else {
                        throw BenchError("latency \(fanOut): update \(u) reached \(fanOut - updated.outstanding) of \(fanOut) replicas; log: \(daemon.logPath)")
                    }
                    samples.append(seconds(t0, t1) * 1000)
                    // Let the follow-up event post land so the next update starts from quiet.
                    usleep(20_000)
                }
                daemon.stop()
                p50.append(percentile(samples, 50))
                p99.append(percentile(samples, 99))
            }
            let m = "3. latency, fan-out \(fanOut)"
            let goal: Goal? = fanOut == 100 ? .below(50) : fanOut == 1_000 ? .below(500) : nil
            add(Row(measurement: m, figure: "p50 over \(workloads.updates) updates", unit: "ms", values: p50))
            add(Row(measurement: m, figure: "p99 over \(workloads.updates) updates", unit: "ms", values: p99, goal: goal))
            report.peerFloor.append(PeerFloor(workload: "one source update at fan-out \(fanOut)", requests: fanOut))
        }
    }

    // MARK: 4. New namespace

    func newNamespace() throws {
        let s = workloads.namespaceSources
        var p50: [Double] = [], p99: [Double] = []
        for run in 1...workloads.namespaceRuns {
            log("new namespace, \(s) sources: run \(run)")
            let (cluster, daemon) = try convergedDaemon("namespace-\(run)", sources: s, namespaces: 1)
            var samples: [Double] = []
            for k in 1...workloads.newNamespaces {
                let name = Cluster.target(k)
                let filled = cluster.expectReplicaWrites(s, namespace: name)
                let t0 = now()
                try cluster.store.create(.namespace, namespace: "", ["metadata": ["name": .string(name)]])
                guard let t1 = filled.wait(timeout: timeout(forWrites: s)) else {
                    throw BenchError("new namespace \(name): \(s - filled.outstanding) of \(s) replicas; log: \(daemon.logPath)")
                }
                samples.append(seconds(t0, t1) * 1000)
                // The sources' events follow each fill; start the next namespace from quiet.
                cluster.waitRequestsQuiet(0.1, timeout: 30)
            }
            daemon.stop()
            p50.append(percentile(samples, 50))
            p99.append(percentile(samples, 99))
        }
        let m = "4. new namespace, \(s) sources"
        add(Row(measurement: m, figure: "p50 over \(workloads.newNamespaces) namespaces", unit: "ms", values: p50))
        add(Row(measurement: m, figure: "p99 over \(workloads.newNamespaces) namespaces", unit: "ms", values: p99, goal: .below(100)))
        report.peerFloor.append(PeerFloor(workload: "a new namespace that \(s) sources target", requests: s))
    }

    // MARK: 5, 6, 7. A resident daemon: steady state, memory, start-up

    func resident() throws {
        let (s, n) = (workloads.residentSources, workloads.residentNamespaces)
        let replicas = s * n
        log("resident: \(s) sources × \(n) namespaces")
        // As under systemd with WatchdogSec=30s (the shipped unit).
        let (cluster, daemon) = try convergedDaemon("resident", sources: s, namespaces: n, flags: workloads.idleFlags,
                                                    environment: ["WATCHDOG_USEC": "30000000"], quiet: 1)
        daemon.waitQuiet(1, timeout: 60)

        // 5. Idle: CPU, wake-ups and writes over windows in which resyncs run.
        var cpuPerHour: [Double] = [], wakeups: [Double] = [], writes: [Double] = [], resyncs: [Double] = [], passes: [Double] = []
        var requestsPerMinute: [Double] = []
        for _ in 0..<workloads.idleWindows {
            let writes0 = cluster.accounting.writeCount
            let requests0 = cluster.accounting.requestCount
            let reconciles0 = try daemon.metric("spillway_workqueue_wait_seconds_count")
            let passes0 = try daemon.metric("spillway_resync_passes_total")
            let a = daemon.sample
            let t0 = now()
            usleep(UInt32(workloads.idleWindow * 1_000_000))
            let b = daemon.sample
            let elapsed = seconds(t0, now())
            cpuPerHour.append((b.liveThreadsCPUSeconds - a.liveThreadsCPUSeconds) / elapsed * 3600)
            wakeups.append(Double(b.voluntarySwitches - a.voluntarySwitches) / elapsed)
            writes.append(Double(cluster.accounting.writeCount - writes0))
            requestsPerMinute.append(Double(cluster.accounting.requestCount - requests0) / elapsed * 60)
            resyncs.append((try daemon.metric("spillway_workqueue_wait_seconds_count") - reconciles0) / Double(s))
            passes.append(try daemon.metric("spillway_resync_passes_total") - passes0)
        }
        let flags = workloads.idleFlags.isEmpty ? "default intervals" : workloads.idleFlags.joined(separator: " ")
        let m5 = "5. steady state, \(replicas) replicas (\(flags))"
        add(Row(measurement: m5, figure: "writes per \(format(workloads.idleWindow)) s window of idle resyncs", unit: "", values: writes, goal: .below(0)))
        add(Row(measurement: m5, figure: "API requests of any kind while idle, per minute", unit: "1/min", values: requestsPerMinute,
                goal: .below(0), note: "readiness judged from the watches' own traffic"))
        add(Row(measurement: m5, figure: "resync and self-heal passes per window (spillway_resync_passes_total)", unit: "", values: passes,
                note: "0 from a binary without the metric"))
        add(Row(measurement: m5, figure: "keys taken from the work queue per window ÷ sources", unit: "", values: resyncs,
                note: "settled sources are not queued: 0 at rest"))
        add(Row(measurement: m5, figure: "idle CPU, extrapolated from \(format(workloads.idleWindow)) s windows", unit: "s/h", values: cpuPerHour,
                goal: .below(0.5), note: "includes the passes and watchdog pings"))
        add(Row(measurement: m5, figure: "wake-ups (voluntary context switches, all threads)", unit: "1/s", values: wakeups))

        // 6. Memory with the replicas, then with unrelated Secrets streaming past.
        let before = daemon.sample
        log("resident: adding \(workloads.unrelated) unrelated 4 KiB Secrets")
        try cluster.createUnrelated(workloads.unrelated, bytes: 4096, namespaces: n)
        daemon.waitQuiet(2, timeout: 300)
        let after = daemon.sample
        daemon.stop()
        let m6 = "6. memory"
        add(Row(measurement: m6, figure: "RSS with \(s) sources and \(replicas) replicas", unit: "MiB", values: [Double(before.rssKiB) / 1024]))
        add(Row(measurement: m6, figure: "RSS after \(workloads.unrelated) unrelated 4 KiB Secrets were added", unit: "MiB", values: [Double(after.rssKiB) / 1024]))
        add(Row(measurement: m6, figure: "RSS growth from the unrelated Secrets", unit: "MiB", values: [Double(after.rssKiB - before.rssKiB) / 1024],
                goal: .below(10)))

        // 6 + 7. Fresh starts against the full cluster: peak RSS through the initial lists, READY=1.
        // With a baseline binary, its start-ups alternate with these, one each per run.
        let objects = workloads.unrelated + s + replicas
        let binaries = [(spillwayd, "")] + (baseline.map { [($0, " (baseline \(URL(fileURLWithPath: $0).lastPathComponent))")] } ?? [])
        var starts = [StartUps](repeating: StartUps(), count: binaries.count)
        for run in 1...workloads.startups {
            for (i, (binary, _)) in binaries.enumerated() {
                log("resident: start-up \(run) with \(objects) Secrets, \(binary)")
                let cpu0 = processCPUSeconds()
                let d = try Daemon(binary: binary, kubeconfig: cluster.kubeconfig, directory: cluster.directory, name: "start-\(run)-\(i)")
                let ready = try d.waitReady(timeout: 300)
                starts[i].daemonCPU.append(d.sample.cpuSeconds)
                starts[i].emulatorCPU.append(processCPUSeconds() - cpu0)
                starts[i].startup.append(seconds(d.started, ready))
                d.waitQuiet(1, timeout: 120)
                let sample = d.sample
                starts[i].peak.append(Double(sample.peakKiB) / 1024)
                starts[i].settled.append(Double(sample.rssKiB) / 1024)
                d.stop()
            }
        }
        for ((_, which), r) in zip(binaries, starts) {
            add(Row(measurement: m6, figure: "peak RSS (VmHWM) through start-up with \(objects) Secrets\(which)", unit: "MiB", values: r.peak))
            add(Row(measurement: m6, figure: "RSS once settled after start-up\(which)", unit: "MiB", values: r.settled))
        }
        for ((_, which), r) in zip(binaries, starts) {
            add(Row(measurement: "7. start-up", figure: "process start to READY=1 with \(objects) Secrets\(which)", unit: "s", values: r.startup,
                    goal: .below(2)))
            add(Row(measurement: "7. start-up", figure: "spillwayd CPU until READY=1\(which)", unit: "s", values: r.daemonCPU))
            add(Row(measurement: "7. start-up", figure: "emulator CPU until READY=1 (serving the initial lists)\(which)", unit: "s",
                    values: r.emulatorCPU))
        }
        // client-go's reflector pages its initial LIST by 500, and each page is a rate-limited request.
        report.peerFloor.append(PeerFloor(workload: "start-up: the initial LIST of \(objects) Secrets in pages of 500", requests: (objects + 499) / 500))
    }

    /// The figures of one binary's start-ups.
    private struct StartUps {
        var peak: [Double] = [], startup: [Double] = [], settled: [Double] = [], daemonCPU: [Double] = [], emulatorCPU: [Double] = []
    }
}

/// CPU seconds (user + system) of this process: the in-process emulator's work.
func processCPUSeconds() -> Double { cpuSeconds(__rusage_who_t(RUSAGE_SELF.rawValue)) }

/// CPU seconds of the child processes that have exited and been waited for.
func childrenCPUSeconds() -> Double { cpuSeconds(__rusage_who_t(RUSAGE_CHILDREN.rawValue)) }

private func cpuSeconds(_ who: __rusage_who_t) -> Double {
    var usage = rusage()
    getrusage(who, &usage)
    return Double(usage.ru_utime.tv_sec + usage.ru_stime.tv_sec) + Double(usage.ru_utime.tv_usec + usage.ru_stime.tv_usec) / 1e6
}

private func numberValue(_ j: JSONValue) -> Double? {
    switch j {
    case .int(let i): Double(i)
    case .double(let d): d
    default: nil
    }
}
