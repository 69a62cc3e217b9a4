import XCTest

@testable import SpillwayEngine

final class ReconcileAdmissionTests: XCTestCase {
    /// Items are "cluster/name"; the partition is the part before the slash.
    private func admission(limit: Int) -> ReconcileAdmission<String, Substring> {
        ReconcileAdmission(limit: limit) { $0.split(separator: "/")[0] }
    }

    func testNoMoreThanTheLimitStartAndTheRestStartInOrderAsReconcilesEnd() {
        var admission = admission(limit: 2)
        let started = (0..<5).map { admission.offer("local/s\($0)") }
        XCTAssertEqual(started, [true, true, false, false, false])
        XCTAssertEqual(admission.inProgress("local"), 2)
        XCTAssertEqual(admission.heldCount, 3)
        XCTAssertFalse(admission.canStartHeld)
        XCTAssertNil(admission.nextHeld(), "no room until a reconcile ends")

        XCTAssertTrue(admission.ended("local"), "a held item can take the place")
        XCTAssertTrue(admission.canStartHeld)
        XCTAssertEqual(admission.nextHeld(), "local/s2")
        XCTAssertNil(admission.nextHeld())
        XCTAssertEqual(admission.inProgress("local"), 2)

        XCTAssertTrue(admission.ended("local"))
        XCTAssertTrue(admission.ended("local"))
        XCTAssertEqual(admission.nextHeld(), "local/s3")
        XCTAssertEqual(admission.nextHeld(), "local/s4")
        XCTAssertEqual(admission.heldCount, 0)
        XCTAssertFalse(admission.ended("local"), "nothing is held any more")
    }

    func testANewItemWaitsBehindTheHeldOnesEvenWhenRoomHasJustBeenMade() {
        var admission = admission(limit: 1)
        XCTAssertTrue(admission.offer("local/first"))
        XCTAssertFalse(admission.offer("local/second"))
        _ = admission.ended("local")
        XCTAssertFalse(admission.offer("local/third"), "it would overtake the held one")
        XCTAssertEqual(admission.nextHeld(), "local/second")
    }

    /// A target cluster whose reconciles all wait on requests that do not answer holds up only
    /// its own work.
    func testEachClusterHasItsOwnBound() {
        var admission = admission(limit: 2)
        for i in 0..<4 { _ = admission.offer("prod-eu/s\(i)") }
        XCTAssertEqual(admission.inProgress("prod-eu"), 2)
        XCTAssertTrue(admission.offer("local/s0"))
        XCTAssertTrue(admission.offer("local/s1"))
        XCTAssertFalse(admission.offer("local/s2"))
        XCTAssertEqual(admission.heldCount, 3)
        XCTAssertTrue(admission.ended("local"))
        XCTAssertEqual(admission.nextHeld(), "local/s2", "the room made in one cluster goes to that cluster's work")
        XCTAssertNil(admission.nextHeld())
    }

    func testAnEndWithNothingInProgressIsIgnoredAndRemoveAllForgetsEverything() {
        var admission = admission(limit: 1)
        XCTAssertFalse(admission.ended("local"))
        XCTAssertTrue(admission.offer("local/a"))
        XCTAssertFalse(admission.offer("local/b"))
        admission.removeAll()
        XCTAssertEqual(admission.heldCount, 0)
        XCTAssertEqual(admission.inProgress("local"), 0)
        XCTAssertTrue(admission.offer("local/c"))
    }
}
