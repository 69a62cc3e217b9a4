import ArgumentParser
import Foundation

/// `spillway-bench`: drives the real spillwayd against the API emulator and reports the
/// figures of BENCHMARKS.md. `Benchmarks/run` builds everything and calls it.
struct SpillwayBench: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "spillway-bench",
        abstract: "Measure spillwayd against the API emulator (prints figures; asserts nothing).",
        discussion: "Measurements: \(Bench.names.joined(separator: ", ")). Sizes: tiny (seconds; the test suite), small (minutes), full (the sizes of BENCHMARKS.md).")

    @Option(help: "tiny, small or full.") var size = "small"
    @Option(parsing: .upToNextOption, help: "Run only these measurements.") var only: [String] = []
    @Option(help: "The spillwayd binary. Default: the one next to this program.") var spillwayd: String?
    @Option(help: "A second spillwayd (say, the build before a change) whose start-ups alternate with the first's in the same cluster, so both are measured under the same load.")
    var baselineSpillwayd: String?
    @Option(help: "The loadgen binary (the limit); without it the limit is not measured.") var loadgen: String?
    @Option(help: "Requests the loadgen keeps in flight.") var loadgenInflight = 64
    @Option(help: ArgumentHelp("Cold-convergence workloads instead of the size's, as SOURCESxNAMESPACES (repeatable).", valueName: "SxN"))
    var cold: [String] = []
    @Option(help: "Repetitions of each measurement instead of the size's.") var runs: Int?
    @Option(help: "Directory for results.json, results.md and each run's logs.") var out: String?
    @Option(help: "The command line recorded in the results.") var command: String?

    func run() throws {
        guard var workloads = Workloads.named(size) else { throw ValidationError("--size must be tiny, small or full, got \(size)") }
        if !cold.isEmpty {
            workloads.cold = try cold.map { text in
                let parts = text.split(separator: "x").compactMap { Int($0) }
                guard parts.count == 2, parts.allSatisfy({ $0 > 0 }) else { throw ValidationError("--cold must be SOURCESxNAMESPACES, got \(text)") }
                return (parts[0], parts[1])
            }
        }
        if let runs {
            guard runs > 0 else { throw ValidationError("--runs must be at least 1") }
            workloads.coldRuns = runs
            workloads.latencyRuns = runs
            workloads.namespaceRuns = runs
            workloads.startups = runs
        }
        let unknown = only.filter { !Bench.names.contains($0) }
        guard unknown.isEmpty else { throw ValidationError("unknown measurement \(unknown.joined(separator: ", ")); known: \(Bench.names.joined(separator: ", "))") }
        let here = URL(fileURLWithPath: CommandLine.arguments[0]).resolvingSymlinksInPath().deletingLastPathComponent()
        let daemon = spillwayd ?? here.appendingPathComponent("spillwayd").path
        guard FileManager.default.isExecutableFile(atPath: daemon) else { throw ValidationError("no spillwayd at \(daemon); build it or pass --spillwayd") }
        if let loadgen, !FileManager.default.isExecutableFile(atPath: loadgen) { throw ValidationError("no loadgen at \(loadgen)") }

        let stamp = ISO8601DateFormatter().string(from: Date())
        let outDir = URL(fileURLWithPath: out ?? FileManager.default.temporaryDirectory.appendingPathComponent("spillway-bench-\(getpid())").path)
        try FileManager.default.createDirectory(at: outDir, withIntermediateDirectories: true)
        // Unix socket paths are short: the runs' sockets and logs go to a short scratch path.
        let scratch = URL(fileURLWithPath: "/tmp/sb-\(getpid())")
        try FileManager.default.createDirectory(at: scratch, withIntermediateDirectories: true)

        let report = Report(
            size: size, date: stamp, commit: output(of: ["git", "rev-parse", "--short", "HEAD"], in: FileManager.default.currentDirectoryPath) ?? "unknown",
            command: command ?? CommandLine.arguments.joined(separator: " "), machine: .current)
        let bench = Bench(workloads: workloads, spillwayd: daemon, loadgen: loadgen, loadgenInflight: loadgenInflight, directory: scratch, report: report)
        if let baselineSpillwayd {
            guard FileManager.default.isExecutableFile(atPath: baselineSpillwayd) else { throw ValidationError("no spillwayd at \(baselineSpillwayd)") }
            bench.baseline = baselineSpillwayd
        }
        var failures: [String] = []
        for name in only.isEmpty ? Bench.names : only {
            do {
                try bench.run(name)
            } catch {
                failures.append("\(name): \(error)")
                FileHandle.standardError.write(Data("spillway-bench: \(name) failed: \(error)\n".utf8))
            }
        }
        bench.report.notes += failures.map { "failed: " + $0 }
        let encoder = JSONEncoder()
        encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
        try encoder.encode(bench.report).write(to: outDir.appendingPathComponent("results.json"))
        let m = bench.report.machine
        let header = "spillway-bench --size \(size), commit \(bench.report.commit), \(stamp)\n\(m.cpuModel), \(m.cores) cores, \(String(format: "%.1f", m.memoryGiB)) GiB, Linux \(m.kernel), libcurl \(m.libcurl)\n\n"
        try (header + bench.report.markdown).write(to: outDir.appendingPathComponent("results.md"), atomically: true, encoding: .utf8)
        print(header + bench.report.markdown)
        if failures.isEmpty {
            try? FileManager.default.removeItem(at: scratch)
            print("results: \(outDir.path)/results.json, results.md")
        } else {
            print("results: \(outDir.path)/results.json, results.md; logs kept in \(scratch.path)")
            throw ExitCode(1)
        }
    }
}

SpillwayBench.main()
