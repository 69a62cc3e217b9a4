import SpillwayContract
import SpillwayReactor
import XCTest

@testable import SpillwayEngine

final class WorkQueueTests: XCTestCase {
    private let t0 = MonotonicInstant(nanoseconds: 1_000_000_000_000)
    private func at(_ ms: Int64) -> MonotonicInstant { t0 + .milliseconds(ms) }

    func testAKeyAddedManyTimesIsHandedOutOnce() {
        var queue = WorkQueue<String>()
        for _ in 0..<5 { queue.add("a", now: t0) }
        queue.add("b", now: t0)
        XCTAssertEqual(queue.next()?.key, "a")
        XCTAssertEqual(queue.next()?.key, "b")
        XCTAssertNil(queue.next())
    }

    func testAKeyIsNeverProcessedTwiceAtOnceButRunsAgainAfterAChangeDuringProcessing() {
        var queue = WorkQueue<String>()
        queue.add("a", now: t0)
        XCTAssertEqual(queue.next()?.key, "a")
        queue.add("a", now: at(1)) // a change while "a" is being reconciled
        XCTAssertNil(queue.next(), "a key being processed must not be handed out again")
        queue.done("a")
        let again = queue.next()
        XCTAssertEqual(again?.key, "a", "the change made during processing is reconciled afterwards")
        XCTAssertEqual(again?.queuedAt, at(1))
        queue.done("a")
        XCTAssertNil(queue.next())
    }

    func testAKeyQueuedForSomeNamespacesIsPlannedForTheirUnionAndAWholeAddWins() {
        var queue = WorkQueue<String>()
        queue.add("a", parts: ["team-a"], now: t0)
        queue.add("a", parts: ["team-b"], now: at(1))
        queue.add("b", parts: ["team-a"], now: t0)
        queue.add("b", now: t0)
        queue.add("b", parts: ["team-c"], now: t0)
        let a = queue.next()
        XCTAssertEqual(a?.key, "a")
        XCTAssertEqual(a?.parts, ["team-a", "team-b"], "one reconcile for both namespaces")
        XCTAssertEqual(a?.queuedAt, t0)
        let b = queue.next()
        XCTAssertEqual(b?.key, "b")
        XCTAssertNil(b?.parts, "queued whole once: planned whole")
        queue.done("a")
        queue.done("b")
        queue.add("a", now: t0)
        XCTAssertNil(queue.next()?.parts, "a plain add is whole")
    }

    func testAKeyQueuedForANamespaceWhileProcessingRunsAgainForThatNamespace() {
        var queue = WorkQueue<String>()
        queue.add("a", now: t0)
        XCTAssertNil(queue.next()?.parts)
        queue.add("a", parts: ["team-a"], now: at(1))
        queue.done("a")
        XCTAssertEqual(queue.next()?.parts, ["team-a"])
    }

    func testADelayedKeyComesBackWhole() {
        var queue = WorkQueue<String>()
        queue.add("a", after: .milliseconds(10), now: t0)
        queue.add("a", parts: ["team-a"], now: t0)
        XCTAssertEqual(queue.next()?.parts, ["team-a"])
        queue.done("a")
        queue.promoteDue(now: at(10))
        XCTAssertNil(queue.next()?.parts, "a retry or TTL wake-up plans every namespace")
    }

    func testBackoffDoublesPerFailureFromFiveMillisecondsAndIsCapped() {
        let backoff = KeyBackoff()
        XCTAssertEqual(backoff.delay(failures: 1, random: 0), .milliseconds(5))
        XCTAssertEqual(backoff.delay(failures: 2, random: 0), .milliseconds(10))
        XCTAssertEqual(backoff.delay(failures: 5, random: 0), .milliseconds(80))
        XCTAssertEqual(backoff.delay(failures: 40, random: 0), .seconds(1000))
        XCTAssertEqual(backoff.delay(failures: 1000, random: 0.99), .seconds(1000), "jitter never exceeds the cap")
        let jittered = backoff.delay(failures: 3, random: 0.5)
        XCTAssertGreaterThan(jittered, .milliseconds(20))
        XCTAssertLessThan(jittered, .milliseconds(30))
    }

    func testFailuresBackOffPerKeyAndSuccessResetsTheBackoff() {
        var queue = WorkQueue<String>()
        queue.add("a", now: t0)
        _ = queue.next()
        XCTAssertEqual(queue.addRateLimited("a", now: t0, random: { 0 }), .milliseconds(5))
        queue.done("a")
        XCTAssertNil(queue.next(), "a failed key waits for its backoff")
        queue.promoteDue(now: at(4))
        XCTAssertNil(queue.next())
        queue.promoteDue(now: at(5))
        XCTAssertEqual(queue.next()?.key, "a")
        XCTAssertEqual(queue.addRateLimited("a", now: at(5), random: { 0 }), .milliseconds(10))
        XCTAssertEqual(queue.failureCount("a"), 2)
        queue.forget("a")
        XCTAssertEqual(queue.addRateLimited("a", now: at(5), random: { 0 }), .milliseconds(5), "success resets the backoff")
        XCTAssertEqual(queue.failureCount("b"), 0, "backoff is per key")
    }

    func testADelayedKeyKeepsTheEarlierOfTwoDeadlines() {
        var queue = WorkQueue<String>()
        queue.add("a", after: .seconds(10), now: t0)
        queue.add("a", after: .seconds(1), now: t0)
        queue.add("a", after: .seconds(5), now: t0)
        XCTAssertEqual(queue.nextDeadline, at(1000))
        queue.promoteDue(now: at(1000))
        XCTAssertEqual(queue.next()?.key, "a")
        queue.done("a")
        queue.promoteDue(now: at(20_000))
        XCTAssertNil(queue.next(), "the superseded deadlines do not queue the key again")
    }

    func testRemoveAllForgetsEverything() {
        var queue = WorkQueue<String>()
        queue.add("a", now: t0)
        queue.add("b", after: .seconds(1), now: t0)
        queue.removeAll()
        queue.promoteDue(now: at(5000))
        XCTAssertNil(queue.next())
        XCTAssertEqual(queue.depth, 0)
    }
}
