import Foundation
import SpillwayReactor
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// An HTTP client may go away at any moment its owner lets go of it — from its own completion or
/// body handler included — and nothing may then touch freed memory (run these under
/// AddressSanitizer, see docs/reactor.md) or leave a transfer without its completion.
final class TeardownTests: XCTestCase {
    private var server: TestServer!
    private var reactor: Reactor!

    override func setUpWithError() throws {
        server = try TestServer()
        reactor = try Reactor()
    }

    override func tearDown() {
        reactor = nil
        server = nil
    }

    func testACompletionThatReleasesTheLastReferenceToItsClientFreesNothingStillInUse() throws {
        var client: HTTPClient? = try HTTPClient(reactor: reactor)
        weak var released: HTTPClient?
        released = client
        var body: String?
        client!.send(HTTPRequest(url: server.url("/echo/last"))) { [reactor] result in
            body = (try? result.get()).map { String(decoding: $0.body, as: UTF8.self) }
            client = nil // the client goes while its completion is still on the stack
            reactor!.stop()
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(body, "body-last")
        XCTAssertNil(released)
        try expectTheLoopStillServes()
    }

    func testABodyHandlerThatReleasesItsClientEndsTheTransferAsCancelled() throws {
        var client: HTTPClient? = try HTTPClient(reactor: reactor)
        weak var released: HTTPClient?
        released = client
        var outcome: Result<HTTPResponseHead, HTTPError>?
        client!.start(HTTPRequest(url: server.url("/hold")), onBody: { _ in
            client = nil // a consumer that shuts everything down on what it reads
        }, completion: { [reactor] result in
            outcome = result
            reactor!.stop()
        })
        try reactor.run(limit: .seconds(30))
        XCTAssertNil(released)
        XCTAssertEqual(outcome?.failure, .cancelled)
        try expectTheLoopStillServes()
    }

    func testReleasingAClientWithTransfersInFlightCompletesEachAsCancelled() throws {
        var client: HTTPClient? = try HTTPClient(reactor: reactor)
        var outcomes: [HTTPError?] = []
        var opened = 0
        for _ in 0..<3 {
            client!.start(HTTPRequest(url: server.url("/hold")), onBody: { _ in
                opened += 1
                if opened == 3 { client = nil }
            }, completion: { [reactor] result in
                outcomes.append(result.failure)
                if outcomes.count == 3 { reactor!.stop() }
            })
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(outcomes, [.cancelled, .cancelled, .cancelled])
    }

    func testHandlersRunAfterLibcurlReturnedSoTheyMayStartTransfersAtOnce() throws {
        let client = try HTTPClient(reactor: reactor)
        var addedAtOnce: [Bool] = []
        var completions = 0
        let finish = { [reactor] in
            completions += 1
            if completions == 3 { reactor!.stop() }
        }
        client.start(HTTPRequest(url: server.url("/echo/first")), onResponse: { _ in
            let before = client.activeTransfers
            client.send(HTTPRequest(url: self.server.url("/echo/from-head"))) { _ in finish() }
            addedAtOnce.append(client.activeTransfers == before + 1)
        }, onBody: { _ in
            let before = client.activeTransfers
            client.send(HTTPRequest(url: self.server.url("/echo/from-body"))) { _ in finish() }
            addedAtOnce.append(client.activeTransfers == before + 1)
        }, completion: { _ in finish() })
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(addedAtOnce, [true, true], "a transfer started from a head or body handler is in flight when start returns")
    }

    /// A fresh client on the same loop still completes a request.
    private func expectTheLoopStillServes(file: StaticString = #filePath, line: UInt = #line) throws {
        let client = try HTTPClient(reactor: reactor)
        var body: String?
        client.send(HTTPRequest(url: server.url("/echo/after"))) { [reactor] result in
            body = (try? result.get()).map { String(decoding: $0.body, as: UTF8.self) }
            reactor!.stop()
        }
        try reactor.run(limit: .seconds(30), file: file, line: line)
        XCTAssertEqual(body, "body-after", file: file, line: line)
    }
}
