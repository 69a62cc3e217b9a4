import SpillwayLoop
import XCTest

@testable import SpillwayEngine

final class BurstEndTests: XCTestCase {
    private let t0 = MonotonicInstant(nanoseconds: 1_000_000_000_000)
    private func at(_ ms: Int64) -> MonotonicInstant { t0 + .milliseconds(ms) }

    func testTheInitialListsAreABurstThatEndsAfterTheQuiet() {
        var burst = BurstEnd(work: 1000, quiet: .seconds(2))
        XCTAssertTrue(burst.listed(now: t0), "arms the timer")
        XCTAssertFalse(burst.worked(now: at(500)), "already armed")
        XCTAssertEqual(burst.fired(now: at(2000), busy: false), .milliseconds(500), "work 1.5 s ago: 0.5 s more")
        XCTAssertNil(burst.fired(now: at(2500), busy: false), "2 s of quiet: over")
        XCTAssertFalse(burst.armed)
    }

    func testRequestsInFlightKeepTheBurstGoing() {
        var burst = BurstEnd(work: 1000, quiet: .seconds(2))
        _ = burst.listed(now: t0)
        XCTAssertEqual(burst.fired(now: at(5000), busy: true), .seconds(2))
        XCTAssertNil(burst.fired(now: at(7000), busy: false))
    }

    func testWorkBelowTheBoundIsNoBurstAndCountsTowardsTheNext() {
        var burst = BurstEnd(work: 3, quiet: .seconds(2))
        XCTAssertFalse(burst.worked(now: t0))
        XCTAssertFalse(burst.worked(now: at(1)))
        XCTAssertTrue(burst.worked(now: at(2)), "the third piece of work makes a burst")
        XCTAssertFalse(burst.worked(now: at(3)))
        XCTAssertNil(burst.fired(now: at(2003), busy: false))
        XCTAssertFalse(burst.worked(now: at(3000)), "counting starts again after a burst ends")
        XCTAssertFalse(burst.worked(now: at(3001)))
        XCTAssertTrue(burst.worked(now: at(3002)))
    }
}
