@testable import KubeClient
import SpillwayLoop
import XCTest

final class PacingTests: XCTestCase {
    func testBackoffDoublesWithJitterUpToAFewSecondsAndResets() {
        var b = Backoff()
        let t0 = MonotonicInstant(nanoseconds: 1_000_000_000_000)
        let first = b.next(now: t0)
        XCTAssertGreaterThanOrEqual(first, .milliseconds(250))
        XCTAssertLessThan(first, .milliseconds(500))
        let second = b.next(now: t0 + .seconds(1))
        XCTAssertGreaterThanOrEqual(second, .milliseconds(500))
        XCTAssertLessThan(second, .milliseconds(1000))
        var delays: [Duration] = []
        for i in 2..<40 { delays.append(b.next(now: t0 + .seconds(i))) }
        XCTAssertTrue(delays.allSatisfy { $0 < .seconds(2) }, "capped: an outage of any length is caught up within 2 s")
        XCTAssertTrue(delays.suffix(30).allSatisfy { $0 >= .seconds(1) })
        XCTAssertGreaterThan(Set(delays.suffix(30)).count, 1, "jittered, not in lockstep")
        let afterHealth = b.next(now: t0 + .seconds(40 + 121))
        XCTAssertLessThan(afterHealth, .milliseconds(500), "two minutes without failure resets the backoff")
        b.reset()
        XCTAssertFalse(b.isBackingOff)
        XCTAssertLessThan(b.next(now: t0 + .seconds(200)), .milliseconds(500), "a success resets it")
    }

    func testTokenBucketGrantsBurstThenPaces() {
        let t0 = MonotonicInstant(nanoseconds: 1_000_000_000_000)
        var bucket = TokenBucket(qps: 10, burst: 3, now: t0)
        XCTAssertNil(bucket.take(now: t0))
        XCTAssertNil(bucket.take(now: t0))
        XCTAssertNil(bucket.take(now: t0))
        let wait = bucket.take(now: t0)
        XCTAssertNotNil(wait)
        XCTAssertEqual(wait!.seconds, 0.1, accuracy: 0.001)
        XCTAssertNil(bucket.take(now: t0 + .milliseconds(100)))
    }

    func testDefaultRateLimitIsNoQPSButBoundedInFlight() {
        let d = RateLimitConfiguration()
        XCTAssertNil(d.qps)
        XCTAssertEqual(d.maxInFlight, 80, "with the watches, within the 100 streams kube-apiserver allows on a connection")
        XCTAssertEqual(d.maxAttempts, 10)
    }
}
