@testable import KubeClient
import SpillwayLoop
import XCTest

final class PacingTests: XCTestCase {
    func testBackoffDoublesWithJitterUpToTheCapAndResetsAfterHealth() {
        var b = Backoff()
        let t0 = MonotonicInstant(nanoseconds: 1_000_000_000_000)
        let first = b.next(now: t0)
        XCTAssertGreaterThanOrEqual(first, .milliseconds(800))
        XCTAssertLessThan(first, .milliseconds(1600))
        let second = b.next(now: t0 + .seconds(1))
        XCTAssertGreaterThanOrEqual(second, .milliseconds(1600))
        XCTAssertLessThan(second, .milliseconds(3200))
        var last = second
        for i in 2..<12 { last = b.next(now: t0 + .seconds(i)) }
        XCTAssertEqual(last, .seconds(30))
        let afterHealth = b.next(now: t0 + .seconds(12 + 121))
        XCTAssertLessThan(afterHealth, .milliseconds(1600), "two minutes without failure resets the backoff")
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
        XCTAssertEqual(d.maxInFlight, 128)
        XCTAssertEqual(d.maxAttempts, 10)
    }
}
