import XCTest

@testable import SpillwayDaemon

/// A Deployment's pods are scraped one by one and summed: a standby must not report the leader's
/// figures a second time.
final class StandbyGaugeTests: XCTestCase {
    private func sample(_ metrics: SpillwayMetrics, _ name: String) -> String? {
        String(decoding: metrics.exposition(), as: UTF8.self).split(separator: "\n")
            .first { $0.hasPrefix(name + " ") }.map { String($0.dropFirst(name.count + 1)) }
    }

    func testAStandbyReportsZeroForTheLeaderOnlyGaugesAndTheLeaderItsFigures() {
        let metrics = SpillwayMetrics()
        metrics.leader(false)
        metrics.managedReplicas(40)
        metrics.conflicts(2)
        metrics.workQueue(depth: 3)
        for name in ["spillway_managed_replicas", "spillway_conflicts", "spillway_workqueue_depth"] {
            XCTAssertEqual(sample(metrics, name).flatMap(Double.init), 0, name)
        }
        metrics.leader(true)
        XCTAssertEqual(sample(metrics, "spillway_managed_replicas").flatMap(Double.init), 40)
        XCTAssertEqual(sample(metrics, "spillway_conflicts").flatMap(Double.init), 2)
        XCTAssertEqual(sample(metrics, "spillway_leader").flatMap(Double.init), 1)
        metrics.leader(false)
        XCTAssertEqual(sample(metrics, "spillway_managed_replicas").flatMap(Double.init), 0, "leadership lost")
    }

    func testAProfilesGaugesAreZeroOnAStandbyAndItsFiguresWhileLeading() {
        let metrics = SpillwayMetrics()
        func sample(_ metrics: SpillwayMetrics, _ name: String) -> String? {
            let series = name + #"{profile="platform/base"} "#
            return String(decoding: metrics.exposition(), as: UTF8.self).split(separator: "\n")
                .first { $0.hasPrefix(series) }.map { String($0.dropFirst(series.count)) }
        }
        metrics.leader(true)
        metrics.profile("platform/base", replicas: 3, missingSources: 1, ready: true)
        let series = ["spillway_profile_replicas", "spillway_profile_sources_missing", "spillway_profile_ready"]
        XCTAssertEqual(series.map { sample(metrics, $0).flatMap(Double.init) }, [3, 1, 1])
        metrics.leader(false)
        XCTAssertEqual(series.map { sample(metrics, $0).flatMap(Double.init) }, [0, 0, 0], "leadership lost")
        metrics.profile("platform/base", replicas: 4, missingSources: 0, ready: true)
        XCTAssertEqual(series.map { sample(metrics, $0).flatMap(Double.init) }, [0, 0, 0], "a standby keeps showing 0")
        metrics.leader(true)
        XCTAssertEqual(series.map { sample(metrics, $0).flatMap(Double.init) }, [4, 0, 1])
        metrics.profileRemoved("platform/base")
        XCTAssertEqual(series.map { sample(metrics, $0) }, [nil, nil, nil], "removed with the profile")
    }
}
