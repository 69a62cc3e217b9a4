import Foundation
import KubeClient
import KubeEmulator
import SpillwayReactor
import SpillwayTestSupport
import XCTest

/// Every request ends exactly once, whatever goes away first: the task awaiting it, or the client
/// that sent it. And the client is used on its loop's thread only (a debug build traps otherwise).
final class LifetimeTests: XCTestCase {
    func testCancellingTheTaskOfAnAsyncRequestEndsItAtOnceAsCancelled() async throws {
        let w = try World()
        defer { w.shutdown() }
        w.emulator.faults.latency = .seconds(8)
        let client = w.client
        let request = Task { try await client.get(.namespaces, namespace: nil, name: "default") }
        try await Task.sleep(for: .milliseconds(300))
        let cancelledAt = ContinuousClock.now
        request.cancel()
        let outcome = await request.result
        XCTAssertLessThan(ContinuousClock.now - cancelledAt, .seconds(4), "the task did not wait for the answer")
        XCTAssertEqual((outcome.failure as? KubeClientError).map { "\($0)" }, "\(KubeClientError.cancelled)")
    }

    func testReleasingAClientWithRequestsInFlightCompletesEachAsCancelled() async throws {
        let w = try World()
        defer { w.shutdown() }
        w.emulator.faults.latency = .seconds(8)
        let outcomes = Box<[String]>()
        outcomes.value = []
        let done = DispatchSemaphore(value: 0)
        let configuration = w.client.configuration
        let reactor = ReactorBound(w.reactor)
        await w.onLoop {
            let doomed = try! KubeClient(configuration: configuration, reactor: reactor.value)
            for name in ["default", "kube-system"] {
                doomed.get(.namespaces, namespace: nil, name: name) { result in
                    outcomes.value!.append(result.failure.map { "\($0)" } ?? "answered")
                    done.signal()
                }
            }
            // `doomed` goes away here, with both requests in flight.
        }
        for _ in 0..<2 { XCTAssertEqual(done.wait(timeout: .now() + 5), .success, "a completion was never called") }
        let seen = await w.onLoop { outcomes.value! }
        XCTAssertEqual(seen, ["\(KubeClientError.cancelled)", "\(KubeClientError.cancelled)"])
    }

    func testCallingTheClientOffItsLoopThreadTrapsInADebugBuild() throws {
        #if !DEBUG
        throw XCTSkip("confinement assertions are compiled out of release builds")
        #else
        try ChildTest.expectTrap("KubeClientTests.LifetimeTests/testChildCallsTheClientOffItsLoopThread",
                                 saying: "called off the reactor's thread")
        #endif
    }

    func testChildCallsTheClientOffItsLoopThread() throws {
        try XCTSkipUnless(ChildTest.isChild, "run in a child process by testCallingTheClientOffItsLoopThreadTrapsInADebugBuild")
        let w = try World()
        let synced = DispatchSemaphore(value: 0)
        w.reactor.remote.post { synced.signal() }
        synced.wait()
        // The world's loop runs on its own thread; this one may only post to it.
        w.client.get(.namespaces, namespace: nil, name: "default") { _ in }
        XCTFail("not trapped")
    }
}

extension Result {
    var failure: Failure? {
        if case .failure(let error) = self { return error }
        return nil
    }
}
