import XCTest

@testable import SpillwayEngine

final class WriteLanesTests: XCTestCase {
    /// Jobs that finish only when the test says so, recording the order they started in.
    private final class Recorder {
        var started: [String] = []
        var finishers: [() -> Void] = []

        func job(_ name: String) -> WriteLanes<String>.Job {
            { done in
                self.started.append(name)
                self.finishers.append(done)
            }
        }

        func finishOldest() {
            finishers.removeFirst()()
        }
    }

    func testNoMoreThanTheLimitRunAtOnce() {
        let lanes = WriteLanes<String>(limit: 3)
        let recorder = Recorder()
        for i in 0..<10 { lanes.submit("big", recorder.job("big-\(i)")) }
        XCTAssertEqual(recorder.started.count, 3)
        XCTAssertEqual(lanes.inFlight, 3)
        recorder.finishOldest()
        XCTAssertEqual(recorder.started.count, 4)
        XCTAssertEqual(lanes.waitingCount, 6)
    }

    func testASmallSourceIsNotStarvedByOneFanningOutToFiveThousandNamespaces() {
        let lanes = WriteLanes<String>(limit: 8)
        let recorder = Recorder()
        for i in 0..<5000 { lanes.submit("big", recorder.job("big-\(i)")) }
        lanes.submit("small", recorder.job("small-0"))
        // The small source's write starts within the next two freed slots, not after 5,000.
        recorder.finishOldest()
        recorder.finishOldest()
        XCTAssertTrue(recorder.started.contains("small-0"), "started: \(recorder.started.suffix(3))")
        XCTAssertLessThanOrEqual(recorder.started.firstIndex(of: "small-0")!, 8 + 2)
    }

    func testLanesTakeTurns() {
        let lanes = WriteLanes<String>(limit: 1)
        let recorder = Recorder()
        for i in 0..<3 { lanes.submit("a", recorder.job("a\(i)")) }
        for i in 0..<3 { lanes.submit("b", recorder.job("b\(i)")) }
        for _ in 0..<5 { recorder.finishOldest() }
        // a0 started at once; lane a was in the rotation before b, so it goes first, then turns alternate.
        XCTAssertEqual(recorder.started, ["a0", "a1", "b0", "a2", "b1", "b2"])
    }

    func testJobsThatFinishSynchronouslyDoNotRecurseOrStall() {
        let lanes = WriteLanes<Int>(limit: 4)
        var finished = 0
        for i in 0..<10_000 {
            lanes.submit(i % 7) { done in
                finished += 1
                done()
            }
        }
        XCTAssertEqual(finished, 10_000)
        XCTAssertEqual(lanes.inFlight, 0)
    }

    func testDroppingWaitingJobsLetsInFlightOnesFinish() {
        let lanes = WriteLanes<String>(limit: 1)
        let recorder = Recorder()
        lanes.submit("a", recorder.job("a0"))
        lanes.submit("a", recorder.job("a1"))
        lanes.dropWaiting()
        recorder.finishOldest()
        XCTAssertEqual(recorder.started, ["a0"])
        XCTAssertEqual(lanes.inFlight, 0)
    }
}
