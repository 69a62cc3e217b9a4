import ArgumentParser
import Dispatch
import Foundation
import KubeEmulator
import KubeWire

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// `kube-emulator bench`: seeds a large cluster in memory and measures what tests and the
/// daemon's benchmarks lean on: seeding, cluster-wide lists (whole and paginated), and
/// small writes per second over HTTP while watches stream every change.
struct Bench: ParsableCommand {
    static let configuration = CommandConfiguration(abstract: "Measure the emulator at scale (prints figures; asserts nothing).")

    @Option(help: "Namespaces to create.") var namespaces = 5_000
    @Option(help: "Secrets to create, spread over the namespaces.") var secrets = 100_000
    @Option(help: "Watches open during the write phase.") var watches = 4
    @Option(help: "Writes (PATCH over HTTP) in the write phase.") var writes = 5_000
    @Option(help: "Concurrent writers.") var concurrency = 8

    func run() throws {
        let emu = try KubeEmulator.start(.init(historyLimit: 200_000))
        defer { emu.shutdown() }
        func rssMiB() -> Double {
            guard let s = try? String(contentsOfFile: "/proc/self/statm", encoding: .utf8),
                  let pages = Double(s.split(separator: " ")[1]) else { return 0 }
            return pages * Double(sysconf(Int32(_SC_PAGESIZE))) / 1_048_576
        }
        // CPU seconds (user + system) of this process: on a shared machine wall time says more
        // about the neighbours than about the emulator. The in-process HTTP client is included.
        func cpuSeconds() -> Double {
            var u = rusage()
            getrusage(__rusage_who_t(RUSAGE_SELF.rawValue), &u)
            return Double(u.ru_utime.tv_sec + u.ru_stime.tv_sec) + Double(u.ru_utime.tv_usec + u.ru_stime.tv_usec) / 1e6
        }
        var cpu = cpuSeconds()
        func cpuSince() -> Double {
            let now = cpuSeconds()
            defer { cpu = now }
            return now - cpu
        }
        let rss0 = rssMiB()
        var t = Date()
        for i in 0..<namespaces {
            try emu.store.create(.namespace, namespace: "", ["metadata": ["name": .string("ns-\(i)"), "labels": ["bench": "true"]]])
        }
        for i in 0..<secrets {
            let ns = "ns-\(i % namespaces)"
            try emu.store.create(.secret, namespace: ns, [
                "metadata": ["name": .string("s-\(i)"), "namespace": .string(ns), "labels": ["app": .string("a\(i % 10)")],
                             "annotations": ["note": "bench"]],
                "data": ["token": .string(Data("value-\(i)".utf8).base64EncodedString())],
            ])
        }
        let seedSeconds = Date().timeIntervalSince(t)
        let seedCPU = cpuSince()
        print(String(format: "seed: %d namespaces + %d secrets in %.2f s wall, %.2f s CPU (%.0f objects per CPU second); RSS %.0f MiB (+%.0f MiB)",
                     namespaces, secrets, seedSeconds, seedCPU, Double(namespaces + secrets) / seedCPU, rssMiB(), rssMiB() - rss0))

        let session = URLSession(configuration: .ephemeral)
        func get(_ path: String) throws -> (Data, Int) {
            let sem = DispatchSemaphore(value: 0)
            nonisolated(unsafe) var out: (Data, Int)?
            session.dataTask(with: URL(string: emu.baseURL + path)!) { d, r, _ in
                out = (d ?? Data(), (r as? HTTPURLResponse)?.statusCode ?? 0)
                sem.signal()
            }.resume()
            sem.wait()
            return out!
        }
        t = Date()
        let (whole, code) = try get("/api/v1/secrets")
        print(String(format: "list: cluster-wide, one page: %d, %.1f MiB in %.2f s wall, %.2f s CPU", code, Double(whole.count) / 1_048_576,
                     Date().timeIntervalSince(t), cpuSince()))
        t = Date()
        var pages = 0, items = 0
        var cont = ""
        repeat {
            let (page, _) = try get("/api/v1/secrets?limit=500" + (cont.isEmpty ? "" : "&continue=\(cont)"))
            let j = try JSONParser.parse(Array(page))
            items += j["items"]?.arrayValue?.count ?? 0
            cont = j["metadata"]?["continue"]?.stringValue ?? ""
            pages += 1
        } while !cont.isEmpty
        print(String(format: "list: cluster-wide, limit=500: %d pages, %d items in %.2f s wall, %.2f s CPU", pages, items,
                     Date().timeIntervalSince(t), cpuSince()))
        t = Date()
        let (meta, _) = try get("/api/v1/secrets?limit=500")
        _ = meta
        print(String(format: "list: first page of 500: %.3f s wall, %.3f s CPU", Date().timeIntervalSince(t), cpuSince()))

        // Watches that count the events they receive.
        final class Counter: NSObject, URLSessionDataDelegate, @unchecked Sendable {
            let lock = NSLock()
            var events = 0
            func urlSession(_ session: URLSession, dataTask: URLSessionDataTask, didReceive data: Data) {
                lock.lock()
                events += data.reduce(0) { $0 + ($1 == 0x0a ? 1 : 0) }
                lock.unlock()
            }
            var count: Int { lock.lock(); defer { lock.unlock() }; return events }
        }
        let startRV = emu.store.resourceVersion
        var counters: [Counter] = []
        var watchSessions: [URLSession] = []
        for _ in 0..<watches {
            let c = Counter()
            let s = URLSession(configuration: .ephemeral, delegate: c, delegateQueue: nil)
            s.dataTask(with: URL(string: emu.baseURL + "/api/v1/secrets?watch=1&resourceVersion=\(startRV)")!).resume()
            counters.append(c)
            watchSessions.append(s)
        }
        while emu.requests.count(verb: "watch") < watches { Thread.sleep(forTimeInterval: 0.01) }

        t = Date()
        _ = cpuSince()
        let (secrets, namespaces) = (self.secrets, self.namespaces)
        let group = DispatchGroup()
        let perWriter = writes / concurrency
        let failures = NSLock()
        nonisolated(unsafe) var failed = 0
        for w in 0..<concurrency {
            group.enter()
            DispatchQueue.global().async {
                defer { group.leave() }
                for j in 0..<perWriter {
                    let i = (w * perWriter + j) % secrets
                    var req = URLRequest(url: URL(string: emu.baseURL + "/api/v1/namespaces/ns-\(i % namespaces)/secrets/s-\(i)")!)
                    req.httpMethod = "PATCH"
                    req.setValue("application/merge-patch+json", forHTTPHeaderField: "Content-Type")
                    req.httpBody = Data("{\"metadata\":{\"annotations\":{\"n\":\"\(j)\"}}}".utf8)
                    let sem = DispatchSemaphore(value: 0)
                    session.dataTask(with: req) { _, r, _ in
                        if (r as? HTTPURLResponse)?.statusCode != 200 {
                            failures.lock(); failed += 1; failures.unlock()
                        }
                        sem.signal()
                    }.resume()
                    sem.wait()
                }
            }
        }
        group.wait()
        let writeSeconds = Date().timeIntervalSince(t)
        let total = perWriter * concurrency
        let deadline = Date().addingTimeInterval(60)
        while counters.contains(where: { $0.count < total }) && Date() < deadline { Thread.sleep(forTimeInterval: 0.01) }
        let deliveredSeconds = Date().timeIntervalSince(t)
        let received = counters.map { String($0.count) }.joined(separator: "/")
        let writeCPU = cpuSince()
        print(String(format: "writes: %d PATCHes over HTTP (%d writers, %d failed) in %.2f s = %.0f writes/s", total, concurrency, failed,
                     writeSeconds, Double(total) / writeSeconds)
              + "; \(watches) watches received \(received) events" + String(format: ", all delivered after %.2f s; %.2f s CPU (%.0f writes per CPU second, client included)",
                                                                                     deliveredSeconds, writeCPU, Double(total) / max(writeCPU, 0.001)))

        // The same through the library (no HTTP client in the way): the store's write path and
        // the fan-out to the open HTTP watches.
        let direct = writes * 4
        let before = counters.map(\.count)
        t = Date()
        _ = cpuSince()
        for j in 0..<direct {
            let i = j % secrets
            try emu.store.patch(.secret, namespace: "ns-\(i % namespaces)", name: "s-\(i)", .merge,
                                ["metadata": ["annotations": ["d": .string(String(j))]]])
        }
        let directSeconds = Date().timeIntervalSince(t)
        while zip(counters, before).contains(where: { $0.count - $1 < direct }) && Date() < deadline.addingTimeInterval(120) {
            Thread.sleep(forTimeInterval: 0.01)
        }
        let directDelivered = Date().timeIntervalSince(t)
        let directCPU = cpuSince()
        print(String(format: "writes: %d in-process PATCHes in %.2f s wall (%.0f writes/s); all %d events on each of the %d watches after %.2f s; %.2f s CPU (%.0f writes per CPU second, watch delivery included)",
                     direct, directSeconds, Double(direct) / directSeconds, direct, watches, directDelivered, directCPU, Double(direct) / max(directCPU, 0.001)))
        print(String(format: "RSS at end: %.0f MiB", rssMiB()))
        for s in watchSessions { s.invalidateAndCancel() }
    }
}
