import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import XCTest

/// Figures for the report, not assertions on speed: run with SPILLWAY_BENCH=1.
final class BenchmarkTests: XCTestCase {
    static func residentKiB(_ field: String) -> Int {
        let status = (try? String(contentsOfFile: "/proc/self/status", encoding: .utf8)) ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix(field + ":") } ?? ""
        return Int(line.split(separator: " ").dropFirst().first { !$0.isEmpty }.map(String.init) ?? "") ?? 0
    }

    func testBenchmarkMetadataOnlyInformerOver100kSecrets() async throws {
        guard ProcessInfo.processInfo.environment["SPILLWAY_BENCH"] == "1" else {
            throw XCTSkip("set SPILLWAY_BENCH=1 to measure")
        }
        for streaming in [true, false] {
            let w = try World(emulator: .init(tls: true, watchList: streaming))
            defer { w.shutdown() }
            let count = 100_000
            var batch: [(ResourceType, JSONValue)] = []
            for ns in 0..<100 {
                batch.append((.namespace, try JSONParser.parse(#"{"apiVersion":"v1","kind":"Namespace","metadata":{"name":"ns\#(ns)"}}"#)))
            }
            try w.emulator.store.seed(batch)
            batch = try (0..<count).map { (ResourceType.secret, try JSONParser.parse(secret("s\($0)", namespace: "ns\($0 % 100)", data: ["payload": String(repeating: "A", count: 1024)]).jsonString)) }
            try w.emulator.store.seed(batch)
            batch = []
            let before = Self.residentKiB("VmRSS")
            let seen = Counter()
            let synced = Counter()
            let start = ContinuousClock.now
            let client = w.client
            let informerBox = Box<Informer>()
            await w.onLoop {
                let inf = Informer(client: client, options: .init(resource: .secrets, metadataOnly: true, streamingList: streaming)) { e in
                    switch e {
                    case .listed, .added: seen.value += 1
                    case .replaceEnd: synced.value += 1
                    default: break
                    }
                }
                informerBox.value = inf
                inf.start()
            }
            while await w.onLoop({ synced.value }) == 0 { try await Task.sleep(for: .milliseconds(20)) }
            let took = ContinuousClock.now - start
            let peak = Self.residentKiB("VmHWM")
            let after = Self.residentKiB("VmRSS")
            print("BENCH metadata-only \(streaming ? "streaming list" : "paged LIST") of \(count) secrets: \(took), \(await w.onLoop { seen.value }) objects delivered, RSS \(before) KiB -> \(after) KiB (+\(after - before) KiB), peak \(peak) KiB (process incl. emulator)")
            let inf = ReactorBound(informerBox)
            await w.onLoop { inf.value.value?.stop() }
        }
    }
}

final class Counter: @unchecked Sendable { var value = 0 }
