import Foundation
import KubeWire
import SpillwayContract
import XCTest

/// A profile's status is written only when it changes, whichever CRD stores it.
final class ProfileStatusTests: XCTestCase {
    func status() -> ProfileStatus {
        var summary = ProfileSummary()
        summary.listed = [ObjectKey(kind: .secret, namespace: "platform", name: "db")]
        summary.replicas = ["team-a": 1]
        return ProfileStatus(summary: summary, generation: 3)
    }

    func testTheStatusAsWrittenIsCurrentAndAnyChangeIsNot() throws {
        let written = status().json(previous: nil, now: Date(timeIntervalSince1970: 1_700_000_000))
        XCTAssertTrue(status().isCurrent(written))
        XCTAssertFalse(status().isCurrent(nil))
        var moved = written
        moved["targetCount"] = 2
        XCTAssertFalse(status().isCurrent(moved))
        var older = status()
        older.observedGeneration = 2
        XCTAssertFalse(older.isCurrent(written))
    }

    func testUnderTheOriginalsCRDWhichPrunesTargetCountAndSourcesTheStatusStaysCurrent() throws {
        var pruned = status().json(previous: nil, now: Date(timeIntervalSince1970: 1_700_000_000))
        pruned["targetCount"] = nil
        pruned["sources"] = nil
        XCTAssertTrue(status().isCurrent(pruned), "else every reconcile would write it again")
    }

    func testAConditionKeepsItsTransitionTimeWhileItsStatusStays() throws {
        let first = status().json(previous: nil, now: Date(timeIntervalSince1970: 1_700_000_000))
        let again = status().json(previous: first, now: Date(timeIntervalSince1970: 1_800_000_000))
        XCTAssertEqual(first, again)
    }
}
