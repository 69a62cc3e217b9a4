import Foundation
import KubeClient
import SpillwayContract
import SpillwayReactor
import XCTest

@testable import SpillwayEngine

/// The figure for the issue's memory claim: the engine's resident memory synced against a
/// cluster with no unrelated Secrets, then against one with 100,000 unrelated 4 KiB Secrets.
/// The emulators run as separate `kube-emulator` processes so that only the engine's memory
/// is in this process. A measurement, not an assertion: run it with `SPILLWAY_MEASURE_RSS=1`
/// (it takes a minute); `SPILLWAY_MEASURE_SECRETS` changes the count and
/// `SPILLWAY_MEASURE_BYTES` the size of each Secret's data (1,000,000 Secrets of 64 bytes:
/// BENCHMARKS.md, "Memory").
final class MemoryMeasurement: XCTestCase {
    func testResidentMemoryWithManyUnrelatedSecrets() async throws {
        let environment = ProcessInfo.processInfo.environment
        try XCTSkipUnless(environment["SPILLWAY_MEASURE_RSS"] == "1", "set SPILLWAY_MEASURE_RSS=1 to measure")
        let count = Int(environment["SPILLWAY_MEASURE_SECRETS"] ?? "") ?? 100_000
        let bytes = Int(environment["SPILLWAY_MEASURE_BYTES"] ?? "") ?? 3 * 1024
        let directory = FileManager.default.temporaryDirectory.appendingPathComponent("spillway-rss-\(getpid())")
        try FileManager.default.createDirectory(at: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(at: directory) }
        let empty = directory.appendingPathComponent("empty.json").path
        let full = directory.appendingPathComponent("full.json").path
        try Self.writeState(to: empty, secrets: 0)
        try Self.writeState(to: full, secrets: count, bytes: bytes)

        let loop = try ReactorThread()
        defer { loop.stop() }
        let before = Self.residentKiB()
        let withNone = try await measure(stateFile: empty, loop: loop)
        let withMany = try await measure(stateFile: full, loop: loop)
        let report = """
            RSS (VmRSS): process before any engine \(before / 1024) MiB; \
            engine synced with 0 unrelated Secrets \(withNone.rss / 1024) MiB; \
            engine synced with \(count) unrelated Secrets of \(bytes) bytes \(withMany.rss / 1024) MiB \
            (difference \((withMany.rss - withNone.rss) / 1024) MiB; peak VmHWM \(withMany.peak / 1024) MiB); \
            cache counts with \(count): \(withMany.counts); initial sync took \(withMany.sync)
            """
        print(report)
        XCTAssertEqual(withMany.counts.sources, 1, "only the one source is kept")
    }

    private struct Figures {
        var rss: Int
        var peak: Int
        var counts: Engine.CacheCounts
        var sync: Duration
    }

    private func measure(stateFile: String, loop: ReactorThread) async throws -> Figures {
        let emulator = try EmulatorProcess(stateFile: stateFile)
        defer { emulator.stop() }
        let reactor = Unchecked(loop.reactor)
        let url = emulator.url
        let clock = ContinuousClock()
        let started = clock.now
        let engine: Unchecked<Engine> = await loop.wait { done in
            let client = try! KubeClient(configuration: ClientConfiguration(server: url), reactor: reactor.value)
            let engine = Engine(reactor: reactor.value, client: client, options: EngineOptions(emitEvents: false))
            engine.onSynced = { done(Unchecked(engine)) }
            engine.setLeader(true)
            engine.start()
        }
        let sync = clock.now - started
        try await Task.sleep(for: .seconds(2)) // let the source's replicas be written
        let counts = try await loop.run { engine.value.cacheCounts }
        let figures = Figures(rss: Self.residentKiB(), peak: Self.status("VmHWM"), counts: counts, sync: sync)
        _ = await loop.wait { (done: @escaping (Bool) -> Void) in engine.value.stop { done(true) } }
        return figures
    }

    static func residentKiB() -> Int { status("VmRSS") }

    static func status(_ field: String) -> Int {
        let text = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = text.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0
    }

    /// An emulator state file: a few namespaces, one source, and `secrets` unrelated 4 KiB Secrets.
    static func writeState(to path: String, secrets: Int, bytes: Int = 3 * 1024) throws {
        try Data().write(to: URL(fileURLWithPath: path))
        let file = try FileHandle(forWritingTo: URL(fileURLWithPath: path))
        defer { try? file.close() }
        var rv = 1
        func object(_ kind: String, _ namespace: String?, _ name: String, extra: String) -> String {
            rv += 1
            let ns = namespace.map { "\"namespace\":\"\($0)\"," } ?? ""
            return "{\"apiVersion\":\"v1\",\"kind\":\"\(kind)\",\"metadata\":{\"name\":\"\(name)\",\(ns)\"uid\":\"uid-\(rv)\","
                + "\"resourceVersion\":\"\(rv)\",\"creationTimestamp\":\"2026-01-01T00:00:00Z\"\(extra.isEmpty ? "" : ",")\(extra)}"
        }
        var items: [String] = []
        for ns in ["default", "kube-system", "kube-public", "kube-node-lease", "apps", "team-a", "team-b"] + (0..<20).map({ "noise-\($0)" }) {
            items.append(object("Namespace", nil, ns, extra: "") + ",\"status\":{\"phase\":\"Active\"}}")
        }
        items.append(object("Secret", "apps", "db", extra: "\"annotations\":{\"\(Vocabulary.replicateTo)\":\"team-*\"}")
                     + ",\"type\":\"Opaque\",\"data\":{\"k\":\"dmFsdWU=\"}}")
        file.write(Data("{\"items\":[".utf8))
        file.write(Data(items.joined(separator: ",").utf8))
        let payload = Data(repeating: 0x61, count: bytes).base64EncodedString() // 4 KiB encoded by default
        var batch = ""
        for i in 0..<secrets {
            batch += "," + object("Secret", "noise-\(i % 20)", "unrelated-\(i)", extra: "\"labels\":{\"app\":\"noise\"}")
                + ",\"type\":\"Opaque\",\"data\":{\"blob\":\"\(payload)\"}}"
            if batch.utf8.count > 1 << 20 {
                file.write(Data(batch.utf8))
                batch = ""
            }
        }
        file.write(Data(batch.utf8))
        file.write(Data("],\"resourceVersion\":\(rv)}".utf8))
    }
}

/// `kube-emulator serve` as a child process, plain HTTP on a free port.
private final class EmulatorProcess {
    let process = Process()
    let url: String

    init(stateFile: String) throws {
        let binary = URL(fileURLWithPath: CommandLine.arguments[0]).deletingLastPathComponent().appendingPathComponent("kube-emulator")
        let output = Pipe()
        process.executableURL = binary
        process.arguments = ["serve", "--port", "0", "--print-port", "--state-file", stateFile]
        process.standardOutput = output
        try process.run()
        var line = Data()
        while !line.contains(0x0A) {
            let chunk = output.fileHandleForReading.availableData
            guard !chunk.isEmpty else { break }
            line.append(chunk)
        }
        url = String(decoding: line, as: UTF8.self).split(separator: "\n").first.map(String.init) ?? ""
    }

    func stop() {
        // SIGKILL: SIGTERM would save the (large) state file back on the way out.
        kill(process.processIdentifier, SIGKILL)
        process.waitUntilExit()
    }
}
