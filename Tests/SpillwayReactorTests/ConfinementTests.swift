import Foundation
import SpillwayReactor
import SpillwayTestSupport
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// The reactor and its HTTP client are confined to the loop's thread; a debug build traps a call
/// from any other thread at the call, instead of letting it race the loop.
final class ConfinementTests: XCTestCase {
    func testStartingATransferOffTheLoopThreadTrapsInADebugBuild() throws {
        #if !DEBUG
        throw XCTSkip("confinement assertions are compiled out of release builds")
        #else
        try ChildTest.expectTrap("SpillwayReactorTests.ConfinementTests/testChildStartsATransferOffTheLoopThread",
                                 saying: "called off the reactor's thread")
        #endif
    }

    func testChildStartsATransferOffTheLoopThread() throws {
        try XCTSkipUnless(ChildTest.isChild, "run in a child process by testStartingATransferOffTheLoopThreadTrapsInADebugBuild")
        let reactor = try Reactor()
        let client = try HTTPClient(reactor: reactor)
        let loop = UncheckedBox(reactor)
        let running = DispatchSemaphore(value: 0)
        Thread {
            loop.value.runSoon { running.signal() }
            try? loop.value.run()
        }.start()
        running.wait()
        // The loop runs on its own thread now; this thread may only post to it.
        client.send(HTTPRequest(url: "http://127.0.0.1:1/")) { _ in }
        XCTFail("not trapped")
    }
}
