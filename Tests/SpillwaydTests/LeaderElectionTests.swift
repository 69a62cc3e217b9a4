import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import Logging
@testable import SpillwayDaemon
import SpillwayReactor
import XCTest

/// Two electors against one emulator, each on its own reactor thread with its own identity at the
/// API server, each writing a ConfigMap while (and only while) it leads. The emulator's write log,
/// which records who wrote what and when, is the judge of "never two writers".
final class LeaderElectionTests: XCTestCase {
    /// Short timings keep the tests quick; their ratios are the production ones.
    static let timings = (lease: Duration.seconds(3), renewDeadline: Duration.seconds(2), retry: Duration.milliseconds(500))

    var cluster: TestCluster!
    var emulator: KubeEmulator { cluster.emulator }

    override func setUpWithError() throws {
        cluster = try TestCluster(self, users: ["elector-a", "elector-b"])
        try cluster.namespace("spillway-system")
        try cluster.create(.configMap, ["metadata": ["name": "work", "namespace": "spillway-system"], "data": [:]])
    }

    func host(_ name: String) throws -> ElectorHost {
        let host = try ElectorHost(kubeconfig: try cluster.kubeconfig(as: "elector-\(name)"), identity: "elector-\(name)", timings: Self.timings)
        addTeardownBlock { host.kill() }
        return host
    }

    func testTwoElectorsExactlyOneLeads() throws {
        let a = try host("a"), b = try host("b")
        let leader = try XCTUnwrap(waitForLeader([a, b], within: 10))
        let standby = leader === a ? b : a
        // The loser learns who leads from its next read or from its watch on the Lease; on a
        // loaded machine its first answers can take a while, so wait for that, not a fixed time.
        XCTAssertTrue(wait(within: 10) { standby.role == .standby(holder: leader.identity) }, "standby role: \(standby.role)")
        // Several renew periods later nothing has changed hands.
        Thread.sleep(forTimeInterval: 2)
        XCTAssertEqual(leader.role, .leader)
        XCTAssertEqual(standby.role, .standby(holder: leader.identity))
        let lease = try leaseSpec()
        XCTAssertEqual(lease["holderIdentity"]?.stringValue, leader.identity)
        XCTAssertEqual(lease["leaseDurationSeconds"]?.intValue, 3)
        let writers = Set(workWrites().map(\.user))
        XCTAssertEqual(writers, [leader.identity], "only the leader writes")
        assertNoOverlappingWriters()
    }

    /// A standby that never manages to read the lease still names the leader: the watch brings
    /// the holder, and its renewals keep deferring the poll that would otherwise read it. In the
    /// wild that standby lost the race to create the lease; here its role may not GET leases.
    func testAStandbyLearnsTheLeaderFromItsWatchEvenIfItCannotReadTheLease() throws {
        cluster = try TestCluster(
            self, users: ["elector-a"], restricted: ["elector-b"],
            authorization: [AccessRule(users: ["elector-b"], verbs: ["list", "watch", "create", "update"], resources: ["leases"])])
        try cluster.namespace("spillway-system")
        try cluster.create(.configMap, ["metadata": ["name": "work", "namespace": "spillway-system"], "data": [:]])
        let a = try host("a")
        XCTAssertNotNil(waitForLeader([a], within: 10))
        let b = try host("b")
        XCTAssertTrue(wait(within: 10) { b.role == .standby(holder: "elector-a") }, "standby role: \(b.role)")
        XCTAssertEqual(a.role, .leader)
    }

    func testKilledLeaderIsReplacedWithinTheLeaseDuration() throws {
        let a = try host("a"), b = try host("b")
        let leader = try XCTUnwrap(waitForLeader([a, b], within: 10))
        let standby = leader === a ? b : a
        Thread.sleep(forTimeInterval: 1)
        let killed = Date()
        leader.kill()
        XCTAssertNotNil(waitForLeader([standby], within: 10))
        let takeover = Date().timeIntervalSince(killed)
        // The standby waits a lease duration from when it last saw the record change, which was
        // at most one (jittered) retry before the kill.
        XCTAssertLessThan(takeover, 3 + 2 * 0.6 + 1, "takeover took \(takeover) s")
        XCTAssertGreaterThan(takeover, 3 - 0.6 - 0.1, "took over a live lease after \(takeover) s")
        Thread.sleep(forTimeInterval: 1)
        let lease = try leaseSpec()
        XCTAssertEqual(lease["holderIdentity"]?.stringValue, standby.identity)
        XCTAssertEqual(lease["leaseTransitions"]?.intValue, 1)
        XCTAssertEqual(Set(workWrites().map(\.user)), [leader.identity, standby.identity])
        assertNoOverlappingWriters()
    }

    func testReleasedLeaseIsTakenOverWithinAboutOneRetry() throws {
        let a = try host("a"), b = try host("b")
        let leader = try XCTUnwrap(waitForLeader([a, b], within: 10))
        let standby = leader === a ? b : a
        Thread.sleep(forTimeInterval: 1)
        let released = Date()
        XCTAssertTrue(leader.stopAndRelease(within: 10), "the release was answered")
        XCTAssertNotNil(waitForLeader([standby], within: 10))
        let handover = Date().timeIntervalSince(released)
        // One jittered retry (0.6 s here, 2.4 s in production) instead of a lease duration.
        XCTAssertLessThan(handover, 2, "handover took \(handover) s")
        let lease = try leaseSpec()
        XCTAssertEqual(lease["holderIdentity"]?.stringValue, standby.identity)
        XCTAssertEqual(lease["leaseTransitions"]?.intValue, 1)
        XCTAssertTrue(wait(within: 5) { self.workWrites().contains { $0.user == standby.identity } })
        assertNoOverlappingWriters()
    }

    func testTheWatchingStandbyTakesAReleasedLeaseWithoutWaitingForItsPoll() throws {
        // A 5 s retry period: a standby that only polled would take up to 6 s.
        let (a, b) = try leaderAndStandby((lease: .seconds(15), renewDeadline: .seconds(10), retry: .seconds(5)))
        Thread.sleep(forTimeInterval: 0.5)
        let released = Date()
        XCTAssertTrue(a.stopAndRelease(within: 10), "the release was answered")
        XCTAssertNotNil(waitForLeader([b], within: 10))
        let handover = Date().timeIntervalSince(released)
        XCTAssertLessThan(handover, 1, "handover took \(handover) s")
    }

    func testTheWatchingStandbyTakesAnAbandonedLeaseWhenItExpiresNotAtItsNextPoll() throws {
        let (a, b) = try leaderAndStandby((lease: .seconds(4), renewDeadline: .seconds(3), retry: .seconds(1)))
        Thread.sleep(forTimeInterval: 1.5)
        let killed = Date()
        a.kill()
        XCTAssertNotNil(waitForLeader([b], within: 10))
        let takeover = Date().timeIntervalSince(killed)
        // The last renewal was at most one retry (1 s) before the kill, and the standby saw it
        // through its watch: it leads within the lease duration of the kill plus a request.
        XCTAssertLessThan(takeover, 4 + 0.5, "takeover took \(takeover) s")
        XCTAssertGreaterThan(takeover, 4 - 1 - 0.2, "took over a live lease after \(takeover) s")
    }

    func testLeaderCutOffFromTheAPIStopsLeadingWithinTheRenewDeadline() throws {
        let a = try host("a")
        XCTAssertNotNil(waitForLeader([a], within: 10))
        Thread.sleep(forTimeInterval: 1)
        cluster.stop()
        let cut = Date()
        XCTAssertTrue(wait(within: 10) { a.role != .leader })
        let demotion = Date().timeIntervalSince(cut)
        // The last renewal was sent before the cut, so the deadline passes at most 2 s after it;
        // any candidate would have had to wait the 3 s lease duration.
        XCTAssertLessThan(demotion, 2 + 0.5, "still leading \(demotion) s after losing the API")

        try cluster.restart()
        XCTAssertNotNil(waitForLeader([a], within: 10), "leads again once the API is back")
    }

    func testLeaseRecordTimesAreMicroTime() {
        let date = Date(timeIntervalSince1970: 1_767_323_045.123456)
        XCTAssertEqual(Timestamp.microTime(date), "2026-01-02T03:04:05.123456Z")
    }

    // MARK: - Helpers

    /// Elector a leading, then elector b standing by behind it, with `timings`.
    func leaderAndStandby(_ timings: (lease: Duration, renewDeadline: Duration, retry: Duration)) throws -> (ElectorHost, ElectorHost) {
        let a = try ElectorHost(kubeconfig: try cluster.kubeconfig(as: "elector-a"), identity: "elector-a", timings: timings)
        addTeardownBlock { a.kill() }
        XCTAssertNotNil(waitForLeader([a], within: 10))
        let b = try ElectorHost(kubeconfig: try cluster.kubeconfig(as: "elector-b"), identity: "elector-b", timings: timings)
        addTeardownBlock { b.kill() }
        XCTAssertTrue(wait(within: 10) { b.role == .standby(holder: "elector-a") })
        return (a, b)
    }

    func waitForLeader(_ hosts: [ElectorHost], within seconds: Double) -> ElectorHost? {
        var found: ElectorHost?
        _ = wait(within: seconds) {
            found = hosts.first { $0.role == .leader }
            return found != nil
        }
        return found
    }

    func wait(within seconds: Double, _ condition: () -> Bool) -> Bool {
        let deadline = Date().addingTimeInterval(seconds)
        while Date() < deadline {
            if condition() { return true }
            usleep(20_000)
        }
        return condition()
    }

    func leaseSpec() throws -> JSONValue {
        try XCTUnwrap(emulator.store.get(.lease, namespace: "spillway-system", name: "spillway-leader").json["spec"])
    }

    func workWrites() -> [RequestAccounting.Write] {
        emulator.requests.successfulWrites.filter { $0.resource == "configmaps" && $0.name == "work" }
    }

    /// Whenever the writer of the work ConfigMap changes from A to B, B acquired the lease
    /// (a successful lease write by B) after A's last work write and before B's first one.
    func assertNoOverlappingWriters(file: StaticString = #filePath, line: UInt = #line) {
        let writes = emulator.requests.successfulWrites
        let work = writes.filter { $0.resource == "configmaps" && $0.name == "work" }
        XCTAssertFalse(work.isEmpty, "the leader wrote", file: file, line: line)
        for (previous, next) in zip(work, work.dropFirst()) where previous.user != next.user {
            let acquired = writes.contains {
                $0.resource.hasPrefix("leases") && $0.user == next.user && $0.time >= previous.time && $0.time <= next.time
            }
            XCTAssertTrue(acquired, "\(next.user) wrote at \(next.time) without acquiring the lease after \(previous.user)'s write at \(previous.time)", file: file, line: line)
        }
        let runs = work.reduce(into: [String]()) { runs, write in if runs.last != write.user { runs.append(write.user) } }
        XCTAssertEqual(runs.count, Set(runs).count, "writers alternate back and forth: \(runs)", file: file, line: line)
    }
}

/// One elector on its own reactor thread with its own client, plus a workload that patches the
/// `work` ConfigMap every 100 ms while the elector says it leads.
final class ElectorHost: @unchecked Sendable {
    let identity: String
    private let lock = NSLock()
    private var currentRole = LeaderElector.Role.standby(holder: nil)
    private var remote: ReactorRemote?
    private var elector: LeaderElector?
    private var reactor: Reactor?
    private var finished = false

    init(kubeconfig: String, identity: String, timings: (lease: Duration, renewDeadline: Duration, retry: Duration)) throws {
        self.identity = identity
        let ready = DispatchSemaphore(value: 0)
        let thread = Thread { [self] in
            do {
                let reactor = try Reactor()
                let client = try KubeClient(configuration: try ClientConfiguration.load(kubeconfig: kubeconfig), reactor: reactor)
                // Debug lines (conflicts, retries) explain a failure in the test log.
                var logger = Logger(label: identity)
                logger.logLevel = .debug
                let elector = LeaderElector(
                    configuration: LeaderElectionConfiguration(
                        namespace: "spillway-system", name: "spillway-leader", identity: identity,
                        leaseDuration: timings.lease, renewDeadline: timings.renewDeadline, retryPeriod: timings.retry),
                    client: client, reactor: reactor, logger: logger)
                elector.onRoleChange = { [unowned self] role in self.lock.withLock { self.currentRole = role } }
                var counter = 0
                _ = try reactor.addTimer(after: .milliseconds(100), repeating: .milliseconds(100)) {
                    guard elector.isLeader else { return }
                    counter += 1
                    let patch: JSONValue = ["data": ["writer": .string(identity), "n": .string(String(counter))]]
                    client.patch(.configMaps, namespace: "spillway-system", name: "work", patch: .merge(patch)) { _ in }
                }
                elector.start()
                self.lock.withLock {
                    self.remote = reactor.remote
                    self.elector = elector
                    self.reactor = reactor
                }
                ready.signal()
                try reactor.run()
            } catch {
                XCTFail("elector host \(identity): \(error)")
                ready.signal()
            }
            self.lock.withLock { self.finished = true }
        }
        thread.start()
        ready.wait()
    }

    var role: LeaderElector.Role { lock.withLock { currentRole } }

    /// Ends the loop at once: no release, no further request, as when the process is killed.
    func kill() {
        lock.withLock { remote }?.stop()
        _ = waitUntilFinished()
        lock.withLock { currentRole = .standby(holder: nil) }
    }

    /// Stops the elector as the daemon does on SIGTERM (gate closes, lease released), then the loop.
    func stopAndRelease(within seconds: Double) -> Bool {
        let box = lock.withLock { Box(elector: elector, reactor: reactor) }
        lock.withLock { remote }?.post {
            guard let elector = box.elector else { return }
            elector.stop(releaseWithin: .seconds(seconds)) { box.reactor?.stop() }
        }
        return waitUntilFinished()
    }

    private func waitUntilFinished() -> Bool {
        let deadline = Date().addingTimeInterval(20)
        while Date() < deadline {
            if lock.withLock({ finished }) { return true }
            usleep(10_000)
        }
        return false
    }

    private struct Box: @unchecked Sendable {
        var elector: LeaderElector?
        var reactor: Reactor?
    }
}
