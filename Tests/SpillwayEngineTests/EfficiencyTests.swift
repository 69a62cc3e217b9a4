import Foundation
import KubeClient
import KubeEmulator
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// Zero writes in steady state; memory that does not grow with unrelated objects.
final class EfficiencyTests: EngineTestCase {
    func testAResyncThatFindsEverythingInPlaceSendsZeroWrites() async throws {
        try await namespaces("apps", "team-a", "team-b", "team-c")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        try await world.createConfigMap("apps", "settings", annotations: [Self.to: "all"], data: ["mode": "fast"])
        try await expectSecretReplicas("db", ["team-a", "team-b", "team-c"])
        try await eventually("ConfigMap replicas exist") { try await configMapReplicas("settings").count == 6 }
        try await settle()
        world.emulator.accounting.reset()
        for _ in 0..<3 {
            try await world.onEngine { $0.enqueueAll("test resync") }
            try await settle()
        }
        XCTAssertEqual(world.emulator.requests.writes.map { "\($0.verb) \($0.resource) \($0.namespace)/\($0.name)" }, [])
        XCTAssertEqual(world.emulator.requests.count(verb: "get", resource: "secrets"), 0, "unchanged sources are not read again")
    }

    func testOnceAPlanFoundAllInPlaceAResyncWithNothingChangedPlansNothing() async throws {
        let plans = PlanCounter()
        try await namespaces("apps", "team-a", "team-b")
        try await world.startEngine(metrics: plans)
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a", "team-b"])
        try await settle()
        // The first resync plans (the last plan wrote the replicas) and finds all in place.
        try await world.onEngine { $0.enqueueAll("test resync") }
        try await settle()
        let before = plans.reconciles.get()
        for _ in 0..<3 {
            try await world.onEngine { $0.enqueueAll("test resync") }
            try await settle()
        }
        XCTAssertEqual(plans.reconciles.get(), before, "the caches did not change: the last plan stands")
        try await world.patch(.secrets, "team-b", "db", ["metadata": ["labels": ["hand": "1"]]])
        try await eventually("the hand edit is reverted") {
            try await world.get(.secrets, "team-b", "db")?["metadata"]?["labels"]?["hand"] == nil
        }
        // The reconcile is counted when it completes, which may be just after its write landed.
        try await eventually("a change is planned") { plans.reconciles.get() > before }
    }

    /// The self-heal and resync timers' pass costs O(what changed): settled keys are not even
    /// queued, so an engine at rest takes nothing through its work queue.
    func testAPeriodicPassQueuesOnlyWhatChangedSinceItsLastPlan() async throws {
        let plans = PlanCounter()
        try await namespaces("apps", "team-a", "team-b")
        try await world.startEngine(metrics: plans)
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        try await world.createConfigMap("apps", "settings", annotations: [Self.to: "team-*"], data: ["mode": "fast"])
        try await expectSecretReplicas("db", ["team-a", "team-b"])
        try await eventually("ConfigMap replicas exist") { try await configMapReplicas("settings").count == 2 }
        try await settle()
        // One pass to settle whatever the creating plans left unsettled.
        try await world.onEngine { $0.periodicPass("self-heal") }
        try await settle()
        let taken = plans.taken.get()
        plans.passes.mutate { $0.removeAll() }
        for _ in 0..<3 {
            try await world.onEngine { $0.periodicPass("self-heal") }
            try await settle()
        }
        XCTAssertEqual(plans.passes.get(), [0, 0, 0], "every key is settled: nothing is queued")
        XCTAssertEqual(plans.taken.get(), taken, "no key went through the work queue")
        // A replica edited by hand: the watch changes the cache, the event plans the source
        // and reverts the edit. The change unsettles every key (settling is judged against the
        // cache as a whole), so the next pass plans them again, once; the one after, nothing.
        try await world.patch(.secrets, "team-b", "db", ["metadata": ["labels": ["hand": "1"]]])
        try await eventually("the hand edit is reverted") {
            try await world.get(.secrets, "team-b", "db")?["metadata"]?["labels"]?["hand"] == nil
        }
        try await settle()
        for _ in 0..<2 {
            try await world.onEngine { $0.periodicPass("resync") }
            try await settle()
        }
        XCTAssertEqual(plans.passes.get().suffix(2), [2, 0], "planned once after the change, then settled")
    }

    func testANamespaceCreatedIsPlannedAloneForEachSource() async throws {
        try await namespaces("apps", "team-a", "team-b")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        try await world.createConfigMap("apps", "settings", annotations: [Self.to: "team-*"], data: ["mode": "fast"])
        try await expectSecretReplicas("db", ["team-a", "team-b"])
        try await settle()
        try await world.createNamespace("team-c")
        try await expectSecretReplicas("db", ["team-a", "team-b", "team-c"])
        try await eventually("each source reports one namespace planned") {
            let notes = try await world.events(about: "db", in: "apps").map(\.note)
                + world.events(about: "settings", in: "apps").map(\.note)
            return notes.filter { $0 == "replicas written: create 1 (1 namespace planned)" }.count == 2
        }
    }

    func testUnrelatedObjectsAreSeenAndNotKept() async throws {
        try await namespaces("apps", "team-a")
        for i in 0..<3000 {
            // Seeded through the emulator's store: the same objects and watch events as over HTTP, faster.
            _ = try world.emulator.store.create(.secret, namespace: "team-a", [
                "metadata": ["name": .string("unrelated-\(i)"), "labels": ["app": "noise"]],
                "data": ["k": .string(String(repeating: "eHh4", count: 16))],
            ])
        }
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a"])
        let counts = try await world.onEngine { $0.cacheCounts }
        XCTAssertEqual(counts.sources, 1)
        XCTAssertEqual(counts.payloads, 1)
        XCTAssertEqual(counts.replicas, 1)
        XCTAssertEqual(counts.blockers, 0)
        XCTAssertEqual(counts.namespaces, 6)
    }

    /// Each replica is written once, and cached with its content, whether its answer or the
    /// watch's echo of it arrives first (an echo that comes first is not decoded: the answer
    /// fills in what was written).
    func testAReplicaIsWrittenOnceAndCachedWithItsContentWhicheverOfAnswerAndEchoComesFirst() async throws {
        let targets: Set<String> = ["team-a", "team-b", "team-c", "team-d", "team-e", "team-f"]
        try await namespaces("apps", "team-a", "team-b", "team-c", "team-d", "team-e", "team-f")
        try await world.startEngine()
        world.emulator.accounting.reset()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", targets)
        try await settle()
        let secretWrites = world.emulator.requests.writes.filter { $0.resource == "secrets" && $0.namespace != "apps" }
        XCTAssertEqual(secretWrites.map(\.verb).sorted(), Array(repeating: "create", count: targets.count),
                       "no replica is written again after its create")
        let cached = try await world.onEngine { engine in
            targets.filter { engine.state.replicas[ObjectKey(kind: .secret, namespace: $0, name: "db")]?.content != nil }
        }
        XCTAssertEqual(cached, targets, "every replica's content is known")
    }

    /// A start with many sources to write does not begin every reconcile at once (each holds
    /// its source's content, its plan and its queued writes until its last write is answered):
    /// no more than `maxReconcilesInFlight` are in progress, the others wait their turn, and
    /// every source is replicated.
    func testNoMoreReconcilesInProgressThanTheBoundAndEverySourceIsReplicated() async throws {
        try await namespaces("apps", "team-a", "team-b")
        let names = (0..<24).map { "db-\($0)" }
        for name in names {
            try await world.createSecret("apps", name, annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        }
        try await world.startEngine(EngineOptions(maxReconcilesInFlight: 3))
        var most = 0
        var held = 0
        let deadline = ContinuousClock.now + .seconds(30)
        while ContinuousClock.now < deadline {
            let (inProgress, depth) = try await world.onEngine { ($0.reconcilesInProgress, $0.status.queueDepth) }
            most = max(most, inProgress)
            held = max(held, depth)
            let written = try await world.client.list(.secrets, namespace: nil).items.filter {
                $0["metadata"]?["labels"]?[Vocabulary.managedByLabel]?.stringValue == Vocabulary.managedByValue
            }.count
            if written == names.count * 2 { break }
        }
        for name in names { try await expectSecretReplicas(name, ["team-a", "team-b"]) }
        XCTAssertEqual(most, 3, "reconciles in progress at once")
        XCTAssertGreaterThan(held, 0, "the keys waiting for room count in the queue depth")
    }
}

/// Fairness end to end: a source fanning out to thousands of namespaces does not starve a
/// small one created while the fan-out is under way.
final class BurstEndEngineTests: EngineTestCase {
    func testTheEndOfTheInitialListsAndOfABigFanOutIsReportedOnceQuiet() async throws {
        // The daemon hands the memory a burst of work freed back to the system at these moments.
        let ends = Ends()
        for i in 0..<40 { try await world.createNamespace(String(format: "team-%02d", i)) }
        try await world.startEngine(configure: { engine in engine.onBurstEnd = { ends.add() } })
        try await waitFor("the initial lists end a burst") { ends.count == 1 }
        for i in 0..<25 {
            try await world.createSecret("default", "fan-\(i)", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        }
        try await waitFor("1,000 replicas written, then quiet") { ends.count == 2 }
        let replicas = try await world.onEngine { $0.state.replicas.count }
        XCTAssertEqual(replicas, 1000)
        try await Task.sleep(for: .seconds(3))
        XCTAssertEqual(ends.count, 2, "nothing more after the burst")
    }

    func testARelistAfterTheServerLostItsWatchCacheIsABurstToo() async throws {
        let ends = Ends()
        for i in 0..<50 { try await world.createSecret("default", "s-\(i)", data: ["k": "v"]) }
        try await world.startEngine(configure: { engine in engine.onBurstEnd = { ends.add() } })
        try await waitFor("the initial lists end a burst") { ends.count == 1 }
        let relistsBefore = try await world.onEngine { $0.informers.map(\.statistics.relists).reduce(0, +) }
        try world.emulator.restart(losingWatchCache: true)
        try await waitFor("the informers relisted, then were quiet") { ends.count == 2 }
        let relists = try await world.onEngine { $0.informers.map(\.statistics.relists).reduce(0, +) }
        XCTAssertGreaterThan(relists, relistsBefore)
        // Relists a quiet apart are bursts of their own, so at most one report per informer.
        try await Task.sleep(for: .seconds(3))
        let informers = try await world.onEngine { $0.informers.count }
        XCTAssertLessThanOrEqual(ends.count, 1 + informers)
    }

    private final class Ends: @unchecked Sendable {
        private let lock = NSLock()
        private var value = 0
        func add() { lock.withLock { value += 1 } }
        var count: Int { lock.withLock { value } }
    }

    private func waitFor(_ what: String, timeout: Duration = .seconds(30), _ condition: () -> Bool) async throws {
        let deadline = ContinuousClock.now + timeout
        while !condition() {
            guard ContinuousClock.now < deadline else { return XCTFail("timed out: \(what)") }
            try await Task.sleep(for: .milliseconds(50))
        }
    }
}

final class FairnessTests: EngineTestCase {
    func testASmallSourceIsReplicatedWhileABigFanOutIsStillWriting() async throws {
        let fanOut = 2000
        for i in 0..<fanOut {
            _ = try world.emulator.store.create(.namespace, namespace: "", ["metadata": ["name": .string("fan-\(i)")]])
        }
        try await world.createNamespace("apps")
        try await world.startEngine()
        let big = ObjectKey(kind: .secret, namespace: "apps", name: "big")
        let small = ObjectKey(kind: .secret, namespace: "apps", name: "small")
        let clock = ContinuousClock()
        let started = clock.now
        try await world.createSecret("apps", "big", annotations: [Self.to: "fan-*"], data: ["k": "s3cr3t-alpha"])
        try await eventually("the fan-out is under way") {
            try await world.onEngine { $0.state.replicaKeys(ownedBy: .source(big)).count } >= 20
        }
        let doneBefore = try await world.onEngine { $0.state.replicaKeys(ownedBy: .source(big)).count }
        try XCTSkipIf(doneBefore > fanOut / 2, "the fan-out was too fast to overlap with anything")
        let smallCreated = clock.now
        try await world.createSecret("apps", "small", annotations: [Self.to: "fan-7"], data: ["k": "s3cr3t-beta"])
        var bigAtSmall = 0
        try await eventually("the small source's replica") {
            let (smallDone, bigDone) = try await world.onEngine {
                ($0.state.replicas[small.inNamespace("fan-7")] != nil, $0.state.replicaKeys(ownedBy: .source(big)).count)
            }
            bigAtSmall = bigDone
            return smallDone
        }
        let smallTook = clock.now - smallCreated
        try await eventually("the fan-out completes", timeout: .seconds(120)) {
            try await world.onEngine { $0.state.replicaKeys(ownedBy: .source(big)).count } == fanOut
        }
        let bigTook = clock.now - started
        print("fairness: small source replicated in \(smallTook) while the \(fanOut)-namespace fan-out had \(bigAtSmall) of \(fanOut) written; the fan-out took \(bigTook)")
        XCTAssertLessThan(bigAtSmall, fanOut, "the small source did not wait for the fan-out to finish")
    }
}

/// Counts finished reconciles (each records its duration); every other figure is dropped.
final class PlanCounter: EngineMetrics, @unchecked Sendable {
    let reconciles = LockedBox(0)
    /// Keys taken from the work queue.
    let taken = LockedBox(0)
    /// What each periodic pass queued.
    let passes = LockedBox([Int]())

    func reconcileDuration(kind: String, _ duration: Duration) { reconciles.mutate { $0 += 1 } }
    func replication(kind: String, result: String) {}
    func reconcileChange(kind: String, action: String) {}
    func cleanupDelete(kind: String) {}
    func workQueue(depth: Int) {}
    func workQueueWait(_ duration: Duration) { taken.mutate { $0 += 1 } }
    func resyncPass(trigger: String, planned: Int) { passes.mutate { $0.append(planned) } }
    func managedReplicas(_ count: Int) {}
    func conflicts(_ count: Int) {}
    func propagationLatency(_ duration: Duration) {}
    func eventDropped() {}
    func profile(_ profile: String, replicas: Int, missingSources: Int, ready: Bool) {}
    func profileRemoved(_ profile: String) {}
}
