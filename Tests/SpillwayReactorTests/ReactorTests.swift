import Foundation
import SpillwayReactor
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class ReactorTests: XCTestCase {
    func testTimersFireInDeadlineOrderWithTiesInInsertionOrder() throws {
        let reactor = try Reactor()
        let start = reactor.now
        var fired: [String] = []
        try reactor.addTimer(at: start + .milliseconds(30)) { fired.append("30") }
        try reactor.addTimer(at: start + .milliseconds(10)) { fired.append("10") }
        try reactor.addTimer(at: start + .milliseconds(40)) { fired.append("40a") }
        try reactor.addTimer(at: start + .milliseconds(20)) { fired.append("20") }
        try reactor.addTimer(at: start + .milliseconds(40)) { fired.append("40b") }
        try reactor.addTimer(at: start + .milliseconds(40)) {
            fired.append("40c")
            reactor.stop()
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(fired, ["10", "20", "30", "40a", "40b", "40c"])
        XCTAssertGreaterThanOrEqual(reactor.now, start + .milliseconds(40), "no timer fires before its deadline")
    }

    func testCancelledTimerNeverFiresEvenWhenCancelledByATimerDueAtTheSameTime() throws {
        let reactor = try Reactor()
        var fired: [String] = []
        let cancelledEarly = try reactor.addTimer(after: .milliseconds(5)) { fired.append("cancelled early") }
        let deadline = reactor.now + .milliseconds(10)
        var victim: ReactorSource?
        try reactor.addTimer(at: deadline) {
            fired.append("killer")
            reactor.cancel(victim!)
        }
        victim = try reactor.addTimer(at: deadline) { fired.append("victim") }
        try reactor.addTimer(after: .milliseconds(50)) {
            fired.append("last")
            reactor.stop()
        }
        reactor.cancel(cancelledEarly)
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(fired, ["killer", "last"])
    }

    func testRepeatingTimerRepeatsUntilItCancelsItself() throws {
        let reactor = try Reactor()
        var ticks = 0
        var repeating: ReactorSource?
        repeating = try reactor.addTimer(after: .milliseconds(2), repeating: .milliseconds(2)) {
            ticks += 1
            if ticks == 5 {
                reactor.cancel(repeating!)
                try! reactor.addTimer(after: .milliseconds(30)) { reactor.stop() }
            }
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(ticks, 5, "repeats, and never fires again once cancelled")
    }

    func testRearmMovesATimerAndFailsOnceItFired() throws {
        let reactor = try Reactor()
        var fired: [String] = []
        let moved = try reactor.addTimer(after: .milliseconds(5)) { fired.append("moved") }
        try reactor.addTimer(after: .milliseconds(20)) { fired.append("fixed") }
        XCTAssertTrue(reactor.rearm(moved, at: reactor.now + .milliseconds(40)))
        try reactor.addTimer(after: .milliseconds(60)) { reactor.stop() }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(fired, ["fixed", "moved"])
        XCTAssertFalse(reactor.rearm(moved, at: reactor.now), "a one-shot timer that fired is gone")
    }

    func testSignalSentToTheLoopThreadReachesItsHandlerThroughTheLoop() throws {
        // The signal must be blocked before signalfd can receive it. It is sent to this thread (which
        // runs the loop) rather than to the process: in the shared test process, threads started by
        // other tests (SwiftNIO's event loops, libcurl's resolver) do not block SIGUSR1, and the kernel
        // may hand a process-directed signal to any of them, whose default action ends the process.
        // spillwayd blocks its signals before it starts any thread; its process tests send SIGHUP and
        // SIGTERM to the whole process (SystemdNotifyTests, DaemonClusterTests).
        try Reactor.blockSignals([SIGUSR1])
        defer {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGUSR1)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
        }
        let reactor = try Reactor()
        var received: [Int32] = []
        let handler = try reactor.onSignal(SIGUSR1) { signo in
            received.append(signo)
            reactor.stop()
        }
        let loopThread = pthread_self()
        reactor.runSoon { pthread_kill(loopThread, SIGUSR1) }
        try reactor.run(limit: .seconds(30))
        reactor.cancel(handler)
        XCTAssertEqual(received, [SIGUSR1])
    }

    func testASignalfdBrokenBehindTheReactorsBackIsReplacedAndSignalsStillArrive() throws {
        try Reactor.blockSignals([SIGUSR2])
        defer {
            var set = sigset_t()
            sigemptyset(&set)
            sigaddset(&set, SIGUSR2)
            pthread_sigmask(SIG_UNBLOCK, &set, nil)
        }
        let reactor = try Reactor()
        var diagnostics: [String] = []
        reactor.onDiagnostic = { diagnostics.append($0) }
        let before = signalfds()
        let first = try reactor.onSignal(SIGUSR2) { _ in XCTFail("removed handler called") }
        let stolen = try XCTUnwrap(signalfds().subtracting(before).first, "the reactor opened a signalfd")
        // Someone closes the reactor's signalfd and the number is reused for another file.
        let other = open("/dev/null", O_RDONLY)
        XCTAssertEqual(dup2(other, stolen), stolen)
        close(other)
        defer { close(stolen) }

        reactor.cancel(first) // the signal mask can no longer be updated on that fd
        var received: [Int32] = []
        let second = try reactor.onSignal(SIGUSR2) { signo in
            received.append(signo)
            reactor.stop()
        }
        let loopThread = pthread_self()
        reactor.runSoon { pthread_kill(loopThread, SIGUSR2) }
        try reactor.run(limit: .seconds(30))
        reactor.cancel(second)
        XCTAssertEqual(received, [SIGUSR2])
        XCTAssertEqual(diagnostics.count, 1, "\(diagnostics)")
        XCTAssertTrue(diagnostics.first?.contains("signalfd \(stolen) no longer accepts its signal mask") ?? false, "\(diagnostics)")
    }

    func testAHandlerMayRemoveItsOwnAndAnotherReadyFDDuringTheSameDispatch() throws {
        let reactor = try Reactor()
        let first = ReadablePipe(), second = ReadablePipe() // both readable, and they stay readable
        var calls: [String] = []
        var watches: [ReactorSource] = []
        for (name, fd) in [("first", first.fd), ("second", second.fd)] {
            watches.append(try reactor.watch(fd: fd, events: .read) { events in
                calls.append(name)
                XCTAssertTrue(events.contains(.read))
                watches.forEach(reactor.cancel) // its own watch and the other one, ready in this batch
            })
        }
        try reactor.runOnce(timeout: .zero)
        XCTAssertEqual(calls.count, 1, "the other watch was removed before its turn in the batch")
        try reactor.runOnce(timeout: .zero)
        XCTAssertEqual(calls.count, 1, "level-triggered fds that are still ready are not reported once removed")
    }

    func testAskingAWatchForTheEventsItHasMakesNoSystemCallAndAChangeStillTakes() throws {
        let reactor = try Reactor()
        let pipe = ReadablePipe()
        var calls = 0
        let watch = try reactor.watch(fd: pipe.fd, events: .read) { _ in calls += 1 }
        for _ in 0..<3 { try reactor.modify(watch, events: .read) }
        XCTAssertEqual(reactor.watchModifications, 0, "the events it already had")
        try reactor.runOnce(timeout: .zero)
        XCTAssertEqual(calls, 1)

        try reactor.modify(watch, events: [])
        try reactor.modify(watch, events: [])
        XCTAssertEqual(reactor.watchModifications, 1)
        try reactor.runOnce(timeout: .zero)
        XCTAssertEqual(calls, 1, "no longer waiting for the readable pipe")

        try reactor.modify(watch, events: .read)
        XCTAssertEqual(reactor.watchModifications, 2)
        try reactor.runOnce(timeout: .zero)
        XCTAssertEqual(calls, 2, "waiting for it again")
        reactor.cancel(watch)
    }

    func testAnFDHandlerMayCancelATimerThatIsAlreadyDue() throws {
        let reactor = try Reactor()
        let pipe = ReadablePipe()
        var timerFired = false
        let timer = try reactor.addTimer(at: reactor.now) { timerFired = true }
        var watch: ReactorSource?
        watch = try reactor.watch(fd: pipe.fd, events: .read) { _ in
            reactor.cancel(timer)
            reactor.cancel(watch!)
        }
        try reactor.runOnce(timeout: .zero)
        try reactor.runOnce(timeout: .zero)
        XCTAssertFalse(timerFired)
    }

    func testAHandlerMayStopTheLoopAndRunReturns() throws {
        let reactor = try Reactor()
        let pipe = ReadablePipe()
        var calls = 0
        let watch = try reactor.watch(fd: pipe.fd, events: .read) { _ in
            calls += 1
            reactor.stop()
        }
        try reactor.run(limit: .seconds(30))
        reactor.cancel(watch)
        XCTAssertEqual(calls, 1)
    }

    func testWorkPostedFromAnotherThreadRunsOnTheLoopThreadInOrder() throws {
        let reactor = try Reactor()
        let loopThread = pthread_self()
        let remote = reactor.remote
        var ran: [Int] = []
        var ranOnLoopThread = true
        // Sendable boxes for the values the posted work touches on the loop thread.
        let record = UncheckedBox { (value: Int) in
            ran.append(value)
            ranOnLoopThread = ranOnLoopThread && pthread_equal(pthread_self(), loopThread) != 0
        }
        let poster = Thread {
            for value in 1...100 { remote.post { record.value(value) } }
            remote.stop()
        }
        poster.start()
        try reactor.run(limit: .seconds(30))
        while ran.count < 100 { try reactor.runOnce(timeout: .seconds(1)) } // work posted before the stop
        XCTAssertEqual(ran, Array(1...100))
        XCTAssertTrue(ranOnLoopThread)
    }

    func testRunSoonRunsQueuedWorkAfterTheCurrentDispatchInOrder() throws {
        let reactor = try Reactor()
        var log: [String] = []
        try reactor.addTimer(at: reactor.now) {
            reactor.runSoon { log.append("soon 1") }
            reactor.runSoon {
                log.append("soon 2")
                reactor.stop()
            }
            log.append("timer")
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(log, ["timer", "soon 1", "soon 2"])
    }

    func testWorkStillQueuedWhenTheReactorGoesAwayIsReleasedWithoutRunning() throws {
        final class Token: Sendable {}
        weak var released: Token?
        var ran = false
        do {
            let reactor = try Reactor()
            let token = Token()
            released = token
            reactor.runSoon { [token] in
                _ = token
                ran = true
            }
        }
        XCTAssertNil(released, "the queued closure (and what it captured) was freed")
        XCTAssertFalse(ran)
    }
}

/// A pipe with a byte in it: its read end stays readable.
final class ReadablePipe {
    let fd: Int32
    private let writeEnd: Int32

    init() {
        var ends: [Int32] = [0, 0]
        precondition(pipe(&ends) == 0)
        fd = ends[0]
        writeEnd = ends[1]
        precondition(write(writeEnd, "x", 1) == 1)
    }

    deinit {
        close(fd)
        close(writeEnd)
    }
}

/// Hands a loop-confined closure to work posted from another thread; the work only calls it on
/// the loop thread.
final class UncheckedBox<T>: @unchecked Sendable {
    let value: T
    init(_ value: T) { self.value = value }
}

/// The fd numbers of this process's signalfds.
func signalfds() -> Set<Int32> {
    let entries = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
    return Set(entries.compactMap { entry in
        let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/self/fd/" + entry)
        return target == "anon_inode:[signalfd]" ? Int32(entry) : nil
    })
}
