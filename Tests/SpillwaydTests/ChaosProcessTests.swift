import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// Thousands of random operations with faults interleaved, against two real spillwayd processes
/// (leader election) and the emulator. After each storm every fault is lifted and every
/// malformed annotation fixed; once the cluster is quiet it must be exactly what the pure
/// planner computes (`ChaosOracle`), no unmanaged object may have changed, no source may keep a
/// stray finalizer, and the daemons must then send no write at all. At the end no secret value
/// may appear in any log, and each daemon stops cleanly.
///
/// The run is reproducible from its seed (printed, and named in every failure): the same seed
/// replays the same operations and faults in the same order. `SPILLWAY_CHAOS_SEED` picks the
/// seed, `SPILLWAY_CHAOS_DURATION` the seconds of storms (default 40: the slice CI runs);
/// `scripts/soak` runs long ones and reads the summary from `SPILLWAY_CHAOS_REPORT`.
final class ChaosProcessTests: XCTestCase {
    func testRandomOperationsAndFaultsSettleIntoExactlyWhatThePlannerComputes() throws {
        let environment = ProcessInfo.processInfo.environment
        let seed = environment["SPILLWAY_CHAOS_SEED"].flatMap { UInt64($0) } ?? UInt64.random(in: 1...999_999_999)
        let duration = environment["SPILLWAY_CHAOS_DURATION"].flatMap { Double($0) } ?? 40
        print("chaos: seed \(seed), \(Int(duration)) s of storms (SPILLWAY_CHAOS_SEED=\(seed) replays it)")

        let run = try ChaosRun(test: self, seed: seed)
        let outcome = try run.run(storms: duration)
        let summary = """
            chaos: seed \(seed): \(outcome.operations) operations and \(outcome.faults) faults in \(Int(outcome.stormSeconds)) s \
            of storms (\(String(format: "%.1f", Double(outcome.operations) / max(outcome.stormSeconds, 1))) operations/s), \
            \(outcome.rounds) quiescence checks (\(outcome.replicas) replicas at the last), \(outcome.problems.isEmpty ? "all passed" : "FAILED")
            """
        print(summary)
        if let path = environment["SPILLWAY_CHAOS_REPORT"] {
            try (summary + "\n").write(toFile: path, atomically: true, encoding: .utf8)
        }
        if !outcome.problems.isEmpty {
            XCTFail("chaos seed \(seed) (replay with SPILLWAY_CHAOS_SEED=\(seed)):\n" + outcome.problems.joined(separator: "\n"))
        }
    }
}

/// One chaos run: the cluster, the two daemons, the storms and the checks.
final class ChaosRun {
    struct Outcome {
        var operations = 0
        var faults = 0
        var rounds = 0
        var stormSeconds = 0.0
        /// Managed replicas at the last quiescence.
        var replicas = 0
        var problems: [String] = []
    }

    private let test: XCTestCase
    private let seed: UInt64
    private let cluster: TestCluster
    private let world: ChaosCluster
    private let fleet: ChaosFleet
    private let oracle = ChaosOracle()
    private var journal: [String] = []
    private var undo: [(at: Date, what: String, run: () -> Void)] = []

    /// Operations per second during a storm, and the share of steps that inject a fault.
    static let operationsPerSecond = 25.0
    static let faultShare = 0.015
    static let stormLength = 20.0
    static let settleLimit = 120.0

    init(test: XCTestCase, seed: UInt64) throws {
        self.test = test
        self.seed = seed
        cluster = try TestCluster(test, users: ChaosFleet.users)
        let cluster = cluster
        world = ChaosCluster(emulator: { cluster.emulator }, seed: seed)
        fleet = try ChaosFleet(cluster: cluster)
    }

    private var emulator: KubeEmulator { cluster.emulator }

    func run(storms duration: Double) throws -> Outcome {
        var outcome = Outcome()
        try world.seed()
        // The oracle is not vacuous: the seeded sources have no replicas yet.
        XCTAssertFalse(oracle.problems(in: emulator.store, unmanaged: world.unmanaged).isEmpty, "the oracle sees missing replicas")
        try fleet.startAll()
        test.addTeardownBlock { [fleet] in
            for slot in fleet.slots where slot.current?.process.isRunning == true { slot.current?.signal(SIGKILL) }
        }
        var remaining = duration
        while remaining > 0 && outcome.problems.isEmpty {
            let length = min(Self.stormLength, remaining)
            let started = Date()
            try storm(seconds: length, &outcome)
            outcome.stormSeconds += Date().timeIntervalSince(started)
            remaining -= length
            outcome.rounds += 1
            outcome.problems = try settle()
            outcome.replicas = managedReplicas()
        }
        if outcome.problems.isEmpty {
            fleet.stopAll()
            outcome.problems = secretsInLogs()
        }
        return outcome
    }

    // MARK: - Storms

    private func storm(seconds: Double, _ outcome: inout Outcome) throws {
        let end = Date().addingTimeInterval(seconds)
        let step = 1 / Self.operationsPerSecond
        while Date() < end {
            let next = Date().addingTimeInterval(step)
            runDueUndos()
            if world.chance(Self.faultShare) {
                note("fault: " + (try injectFault()))
                outcome.faults += 1
            } else {
                note(world.randomOperation())
                outcome.operations += 1
            }
            let pause = next.timeIntervalSinceNow
            if pause > 0 { Thread.sleep(forTimeInterval: pause) }
        }
    }

    private func note(_ line: String) {
        journal.append(line)
        if journal.count > 400 { journal.removeFirst(journal.count - 400) }
    }

    private func later(_ seconds: Double, _ what: String, _ run: @escaping () -> Void) {
        undo.append((Date().addingTimeInterval(seconds), what, run))
    }

    private func runDueUndos(all: Bool = false) {
        let now = Date()
        let due = undo.filter { all || $0.at <= now }
        undo.removeAll { all || $0.at <= now }
        for item in due {
            item.run()
            note("undo: \(item.what)")
        }
    }

    private func injectFault() throws -> String {
        let faults = emulator.faults
        switch world.number(0...11) {
        case 0:
            faults.dropWatches()
            return "drop every watch"
        case 1:
            // A 410 storm: history forgotten again and again while watches are dropped.
            for _ in 0..<3 {
                faults.compact()
                faults.dropWatches()
                Thread.sleep(forTimeInterval: 0.2)
            }
            return "410 storm"
        case 2:
            faults.failRequests(fraction: 0.3, status: 429, retryAfterSeconds: 1)
            later(2, "429s end") { faults.failRequests(fraction: 0) }
            return "30 % of requests answered 429 with Retry-After for 2 s"
        case 3:
            let count = world.number(5...30)
            faults.failNext(count, status: 500)
            return "burst of \(count) 500s"
        case 4:
            faults.latency = .milliseconds(Int64(world.number(100...400)))
            later(3, "latency ends") { faults.latency = .zero }
            return "slow answers for 3 s"
        case 5:
            faults.slowResponses = .init(chunkBytes: 128, interval: .milliseconds(10))
            later(3, "trickle ends") { faults.slowResponses = nil }
            return "responses trickle out for 3 s"
        case 6:
            faults.resetConnections()
            return "every connection reset"
        case 7:
            try emulator.restart(losingWatchCache: true)
            return "API server restarted, watch cache lost"
        case 8:
            let slot = world.pick(fleet.slots)
            try fleet.kill(slot, pause: Double(world.number(0...1500)) / 1000)
            return "spillwayd \(slot.name) killed with -9 and restarted"
        case 9:
            let slot = world.pick(fleet.slots)
            try fleet.reload(slot)
            return "SIGHUP to spillwayd \(slot.name) with a new identity"
        case 10:
            guard let leader = fleet.leader() else { return "no leader to kill" }
            try fleet.kill(leader, pause: 3.5)
            return "leader spillwayd \(leader.name) killed with -9 (restarted after the lease expired)"
        default:
            faults.dropWatches()
            faults.compact()
            return "watches dropped after a compaction"
        }
    }

    // MARK: - Quiescence

    /// Lifts every fault, fixes what is malformed, and waits for the cluster to be right and
    /// quiet. Returns the problems if it never gets there.
    private func settle() throws -> [String] {
        runDueUndos(all: true)
        emulator.faults.clear()
        for line in try world.fixEverythingMalformed() { note(line) }
        let limit = Date().addingTimeInterval(Self.settleLimit)
        var problems: [String] = []
        repeat {
            problems = fleet.checkAlive()
            if !problems.isEmpty { break }
            problems = oracle.problems(in: emulator.store, unmanaged: world.unmanaged)
            if problems.isEmpty {
                // Right; and it must stay so with the daemons sending nothing more.
                let mark = emulator.requests.successfulWrites.count
                Thread.sleep(forTimeInterval: 3)
                let writes = objectWrites(since: mark)
                problems = oracle.problems(in: emulator.store, unmanaged: world.unmanaged)
                if problems.isEmpty && writes.isEmpty { return [] }
                if problems.isEmpty { problems = ["writes at quiescence: " + writes.joined(separator: ", ")] }
            }
            Thread.sleep(forTimeInterval: 1)
        } while Date() < limit
        return ["not settled within \(Int(Self.settleLimit)) s (seed \(seed)):"] + problems.prefix(40)
            + ["", "last operations:"] + journal.suffix(60)
            + fleet.slots.flatMap { ["", "spillwayd \($0.name):", $0.current?.tail ?? ""] }
    }

    private func managedReplicas() -> Int {
        [ResourceType.secret, .configMap].reduce(0) { count, type in
            count + ((try? emulator.store.list(type, namespace: nil).items) ?? [])
                .filter { $0.labels["spillway.kroy.io/managed-by"] == "spillway" }.count
        }
    }

    private func objectWrites(since mark: Int) -> [String] {
        emulator.requests.successfulWrites.dropFirst(mark)
            .filter { ["secrets", "configmaps", "namespaces"].contains($0.resource) }
            .map { "\($0.verb) \($0.resource) \($0.namespace)/\($0.name) by \($0.user)" }
    }

    /// Every Secret value the run wrote, plain or base64, must be absent from every log.
    private func secretsInLogs() -> [String] {
        var forbidden: Set<String> = []
        for value in world.secretValues {
            forbidden.insert(value)
            forbidden.insert(Data(value.utf8).base64EncodedString())
        }
        var found: Set<String> = []
        let separators = CharacterSet.alphanumerics.union(CharacterSet(charactersIn: "+/=")).inverted
        for log in fleet.logs {
            for token in log.components(separatedBy: separators) where forbidden.contains(token) { found.insert(token) }
        }
        return found.sorted().map { "a secret value reached a log: \($0)" }
    }
}
