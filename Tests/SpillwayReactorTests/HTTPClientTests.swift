import Foundation
import SpillwayReactor
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class HTTPClientTests: XCTestCase {
    private var server: TestServer!
    private var reactor: Reactor!
    private var client: HTTPClient!
    private var streamOutcomes: [HTTPError?] = []

    override func setUpWithError() throws {
        server = try TestServer()
        reactor = try Reactor()
        client = try HTTPClient(reactor: reactor)
    }

    override func tearDown() {
        streamOutcomes = []
        client = nil
        reactor = nil
        server = nil
    }

    func test200ConcurrentGetsThroughOneReactorAllCompleteWithTheirBodies() throws {
        var bodies: [Int: String] = [:]
        var failures: [HTTPError] = []
        for index in 0..<200 {
            client.send(HTTPRequest(url: server.url("/echo/\(index)"))) { [reactor] result in
                switch result {
                case .success(let response): bodies[index] = String(decoding: response.body, as: UTF8.self)
                case .failure(let error): failures.append(error)
                }
                if bodies.count + failures.count == 200 { reactor!.stop() }
            }
        }
        XCTAssertEqual(client.activeTransfers, 200, "all 200 are in flight at once")
        let start = reactor.now
        try reactor.run(limit: .seconds(120))
        print("200 concurrent GETs: \(start.duration(to: reactor.now))")
        XCTAssertEqual(failures, [])
        XCTAssertEqual(bodies.count, 200)
        for index in 0..<200 { XCTAssertEqual(bodies[index], "body-\(index)") }
        XCTAssertEqual(client.activeTransfers, 0)
    }

    func testATrickledChunkedBodyIsHandledBeforeTheServerHasFinishedSending() throws {
        // The server sends "first;" and then waits for /release/KEY before it sends the rest, so
        // the transfer can only finish if its first bytes were handed over while it was still open.
        var fragments: [String] = []
        var head: HTTPResponseHead?
        let outcome = try runGated("/gated", onResponse: { head = $0 }) { _, bytes in
            XCTAssertNotNil(head, "the head comes before the body")
            fragments.append(String(decoding: bytes, as: UTF8.self))
            return true
        }
        XCTAssertEqual(fragments.joined(), "first;second;")
        XCTAssertEqual(fragments.first, "first;")
        XCTAssertEqual(head?.status, 200)
        XCTAssertEqual(head?.headers["transfer-encoding"], "chunked")
        XCTAssertEqual(try outcome?.get().status, 200)
    }

    func testResponseHeadersAreFoundWhateverTheirCaseAndErrorStatusesAreNotFailures() throws {
        var response: HTTPResponse?
        client.send(HTTPRequest(url: server.url("/status/429"))) { [reactor] result in
            response = try? result.get()
            reactor!.stop()
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(response?.status, 429)
        XCTAssertEqual(response?.headers["Retry-After"], "7")
        XCTAssertEqual(response?.headers["retry-after"], "7")
        XCTAssertEqual(response?.headers["CONTENT-TYPE"], "text/plain")
        XCTAssertEqual(response?.head.version, "1.1")
        XCTAssertEqual(response.map { String(decoding: $0.body, as: UTF8.self) }, "Too many requests, please try again later.")
    }

    func testWritesSendTheirMethodAndBody() throws {
        var bodies: [String: String] = [:]
        let requests = [
            HTTPRequest(method: "POST", url: server.url("/x"), headers: ["Content-Type": "application/json"], body: Array(#"{"a":1}"#.utf8)),
            HTTPRequest(method: "PUT", url: server.url("/x"), body: Array("put".utf8)),
            HTTPRequest(method: "PATCH", url: server.url("/x")),
            HTTPRequest(method: "DELETE", url: server.url("/x"), body: Array("opts".utf8)),
        ]
        for request in requests {
            client.send(request) { [reactor] result in
                bodies[request.method] = (try? result.get()).map { String(decoding: $0.body, as: UTF8.self) } ?? "failed"
                if bodies.count == requests.count { reactor!.stop() }
            }
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(bodies, ["POST": #"POST 7:{"a":1}"#, "PUT": "PUT 3:put", "PATCH": "PATCH 0:", "DELETE": "DELETE 4:opts"])
    }

    func testRequestHeadersArriveAsGivenWhateverTheirLength() throws {
        // A bearer token is about a kilobyte; this one is past any small-buffer threshold.
        let token = String(repeating: "t0K3n.", count: 700)
        var body: String?
        client.send(HTTPRequest(url: server.url("/headers"), headers: ["X-One": "a", "X-Token": token, "X-Spaced": "b c: d"])) { [reactor] result in
            body = (try? result.get()).map { String(decoding: $0.body, as: UTF8.self) }
            reactor!.stop()
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(body, "X-One: a\nX-Token: \(token)\nX-Spaced: b c: d")
    }

    func testALargeBodyGoesWithoutWaitingForA100Continue() throws {
        // libcurl asks for a 100-continue before a body over 1 MiB unless told not to, and
        // waits up to a second for it.
        var answer: String?
        client.send(HTTPRequest(method: "POST", url: server.url("/expect"), body: Array(repeating: 0x61, count: 2 << 20))) { [reactor] result in
            answer = (try? result.get()).map { String(decoding: $0.body, as: UTF8.self) }
            reactor!.stop()
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(answer, "none")
    }

    func testPlainURLsKeepTheirPathAndQueryAndMalformedOnesStillFailAsInvalid() throws {
        // A plain http(s) URL goes to libcurl as it is; anything else is parsed first, and
        // refused with the URL quoted.
        let paths = ["/echo/first", "/echo/a-b_c.d~e%41?x=1&y=(2),z:3;w@v!$'*+", "/echo/after"]
        var bodies: [String] = []
        for path in paths {
            client.send(HTTPRequest(url: server.url(path))) { [reactor] result in
                bodies.append((try? result.get()).map { String(decoding: $0.body, as: UTF8.self) } ?? "failed")
                reactor!.stop()
            }
            try reactor.run(limit: .seconds(30))
        }
        XCTAssertEqual(bodies, paths.map { "body-" + $0.dropFirst("/echo/".count) })
        // A plain URL that libcurl's own parse refuses (a port past 65535) is refused as well.
        let badPort = "http://127.0.0.1:99999/echo/x"
        for url in [server.url("/echo/a b"), server.url("/echo/\u{1}"), "ftp://" + server.url("/x").dropFirst("http://".count), badPort] {
            guard case .invalidRequest = try failure(of: HTTPRequest(url: url)) else { return XCTFail("\(url) was not refused") }
        }
    }

    func testConnectionRefusedFailsClearlyWhileTheLoopKeepsServingOthers() throws {
        let error = try failure(of: HTTPRequest(url: "http://127.0.0.1:\(refusedPort())/"))
        guard case .couldNotConnect(let message) = error else { return XCTFail("got \(error)") }
        XCTAssertFalse(message.isEmpty)
    }

    func testAnUnresolvableHostFailsAsDNS() throws {
        let error = try failure(of: HTTPRequest(url: "http://spillway-test-host.invalid/"))
        guard case .dns(let message) = error else { return XCTFail("got \(error)") }
        XCTAssertTrue(message.contains("spillway-test-host.invalid"), message)
    }

    func testATotalTimeoutEndsAStalledTransfer() throws {
        let error = try failure(of: HTTPRequest(url: server.url("/hold"), timeout: .milliseconds(300)))
        guard case .timeout = error else { return XCTFail("got \(error)") }
    }

    func testAMalformedURLCompletesAsInvalidRequestAfterStartReturns() throws {
        var returned = false
        var outcome: HTTPError?
        client.start(HTTPRequest(url: "not a url"), onBody: { _ in }, completion: { [reactor] result in
            XCTAssertTrue(returned, "completion never runs inside start()")
            outcome = result.failure
            reactor!.stop()
        })
        returned = true
        try reactor.run(limit: .seconds(30))
        guard case .invalidRequest? = outcome else { return XCTFail("got \(String(describing: outcome))") }
    }

    func testALongLivedTransferDoesNotKeepTheBufferABurstGrew() throws {
        // A watch delivers a list's worth of bytes at its start and little after; the buffer
        // libcurl's bytes are copied into must not stay at the burst's size for its life.
        var received = 0
        var largestKept = 0
        let outcome = try runGated("/burst-then-gated") { transfer, bytes in
            received += bytes.count
            largestKept = max(largestKept, transfer.bodyBufferCapacity)
            return received >= 163_840
        }
        XCTAssertEqual(try outcome?.get().status, 200)
        XCTAssertEqual(received, 163_840 + "small;".utf8.count)
        XCTAssertLessThanOrEqual(largestKept, 64 << 10)
    }

    /// Runs a transfer of one of the test server's gated paths (`/gated`, `/burst-then-gated`)
    /// with a key of its own until it completes. `onBody` sees each delivery and returns true
    /// once the server may send the rest; the gate is released the first time it does.
    private func runGated(_ path: String, onResponse: ((HTTPResponseHead) -> Void)? = nil,
                          onBody: @escaping (HTTPTransfer, [UInt8]) -> Bool) throws -> Result<HTTPResponseHead, HTTPError>? {
        let key = UUID().uuidString
        var released = false
        var transfer: HTTPTransfer?
        var outcome: Result<HTTPResponseHead, HTTPError>?
        transfer = client.start(HTTPRequest(url: server.url("\(path)/\(key)")), onResponse: onResponse, onBody: { [self] bytes in
            if onBody(transfer!, bytes), !released {
                released = true
                client.send(HTTPRequest(url: server.url("/release/\(key)"))) { _ in }
            }
        }, completion: { [reactor] result in
            outcome = result
            reactor!.stop()
        })
        try reactor.run(limit: .seconds(90))
        return outcome
    }

    func testCancellingAStreamingTransferCompletesItAsCancelledAndStopsItsBody() throws {
        var fragments = 0
        var outcome: HTTPError?
        var transfer: HTTPTransfer?
        var other: String?
        transfer = client.start(HTTPRequest(url: server.url("/hold")), onBody: { _ in
            fragments += 1
            transfer!.cancel() // from inside libcurl's write callback
            transfer!.cancel()
        }, completion: { [reactor] result in
            outcome = result.failure
            if other != nil { reactor!.stop() }
        })
        client.send(HTTPRequest(url: server.url("/echo/other"))) { [reactor] result in
            other = (try? result.get()).map { String(decoding: $0.body, as: UTF8.self) } ?? "failed"
            if outcome != nil { reactor!.stop() }
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(outcome, .cancelled)
        XCTAssertEqual(fragments, 1)
        XCTAssertEqual(other, "body-other")
        XCTAssertTrue(transfer!.isFinished)
        XCTAssertEqual(client.activeTransfers, 0)
    }

    func testAProxyURLSendsTheRequestThroughTheProxy() throws {
        var body: String?
        client.send(HTTPRequest(url: "http://origin.invalid/echo/p", proxy: server.url(""))) { [reactor] result in
            body = (try? result.get()).map { String(decoding: $0.body, as: UTF8.self) }
            reactor!.stop()
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(body, "proxied http://origin.invalid/echo/p")
    }

    func testAnIdleReactorWithOpenStreamsAndAFarTimerBurnsNoCPU() throws {
        let transfers = try openStreams(10, HTTPRequest(url: server.url("/hold")))
        let farTimer = try reactor.addTimer(after: .seconds(3600)) { XCTFail("far timer fired") }

        let before = cpuTime()
        try reactor.addTimer(after: .seconds(2)) { [reactor] in reactor!.stop() }
        try reactor.run(limit: .seconds(30))
        let used = cpuTime() - before
        XCTAssertLessThan(used, 0.020, "process CPU time over 2 s of idling: \(used) s")
        print("idle reactor: \(Int(used * 1_000_000)) µs of CPU in 2 s with 10 open streams")

        reactor.cancel(farTimer)
        try cancelAll(transfers)
    }

    // MARK: TLS

    func testHTTPSWithACAFromMemoryAndAClientCertificate() throws {
        let certificates = try TestCertificates()
        let tlsServer = try TestServer(tls: certificates, requireClientCertificate: true)
        let tls = TLSOptions(caPEM: try certificates.pem("ca.crt"), clientCertificatePEM: try certificates.pem("client.crt"),
                             clientKeyPEM: try certificates.pem("client.key"), serverName: TestCertificates.serverName)
        var result: Result<HTTPResponse, HTTPError>?
        client.send(HTTPRequest(url: tlsServer.url("/client-cert", scheme: "https"), tls: tls)) { [reactor] in
            result = $0
            reactor!.stop()
        }
        try reactor.run(limit: .seconds(30))
        let response = try XCTUnwrap(result).get()
        XCTAssertEqual(response.status, 200)
        XCTAssertEqual(String(decoding: response.body, as: UTF8.self), "spillway-client", "the server saw our certificate")
    }

    func testAServerThatRequiresAClientCertificateRefusesUsWithoutOneWhileOthersAreServed() throws {
        let certificates = try TestCertificates()
        let tlsServer = try TestServer(tls: certificates, requireClientCertificate: true)
        let tls = TLSOptions(caPEM: try certificates.pem("ca.crt"), serverName: TestCertificates.serverName)
        let error = try failure(of: HTTPRequest(url: tlsServer.url("/client-cert", scheme: "https"), tls: tls))
        // TLS 1.3 finishes the client's side of the handshake before the server checks for a
        // certificate, so the refusal arrives on the first read, as an alert or a closed socket.
        switch error {
        case .tls, .connectionLost: break
        default: XCTFail("got \(error)")
        }
    }

    func testAServerCertificateFromAnotherCAFailsVerificationWhileOthersAreServed() throws {
        let certificates = try TestCertificates()
        let tlsServer = try TestServer(tls: certificates)
        let tls = TLSOptions(caPEM: try certificates.pem("other-ca.crt"), serverName: TestCertificates.serverName)
        let error = try failure(of: HTTPRequest(url: tlsServer.url("/echo/x", scheme: "https"), tls: tls))
        guard case .tlsVerification(let message) = error else { return XCTFail("got \(error)") }
        XCTAssertTrue(message.contains("certificate"), message)
    }

    func testTheTLSServerNameOverrideVerifiesAgainstThatNameWhileConnectingToTheURLHost() throws {
        let certificates = try TestCertificates()
        let tlsServer = try TestServer(tls: certificates)
        let url = tlsServer.url("/echo/named", scheme: "https")
        let ca = try certificates.pem("ca.crt")

        let mismatch = try failure(of: HTTPRequest(url: url, tls: TLSOptions(caPEM: ca)))
        guard case .tlsVerification = mismatch else { return XCTFail("127.0.0.1 is not in the certificate: got \(mismatch)") }

        var body: String?
        client.send(HTTPRequest(url: url, tls: TLSOptions(caPEM: ca, serverName: TestCertificates.serverName))) { [reactor] result in
            body = (try? result.get()).map { String(decoding: $0.body, as: UTF8.self) }
            reactor!.stop()
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(body, "body-named")
    }

    func testTenStreamsOverTLSToAnHTTP1ServerAllStartAtOnce() throws {
        // With CURLOPT_PIPEWAIT each new transfer first waits to learn whether the connection
        // multiplexes; against an HTTP/1.1 server they must then open their own connections,
        // even though no transfer ever finishes.
        let certificates = try TestCertificates()
        let tlsServer = try TestServer(tls: certificates)
        let tls = TLSOptions(caPEM: try certificates.pem("ca.crt"), serverName: TestCertificates.serverName)
        let transfers = try openStreams(10, HTTPRequest(url: tlsServer.url("/hold", scheme: "https"), tls: tls))
        try cancelAll(transfers)
    }

    func testInsecureSkipsVerification() throws {
        let certificates = try TestCertificates()
        let tlsServer = try TestServer(tls: certificates)
        var status: Int?
        client.send(HTTPRequest(url: tlsServer.url("/echo/x", scheme: "https"), tls: TLSOptions(insecureSkipVerify: true))) { [reactor] result in
            status = try? result.get().status
            reactor!.stop()
        }
        try reactor.run(limit: .seconds(30))
        XCTAssertEqual(status, 200)
    }

    // MARK: helpers

    /// Starts `count` copies of a streaming request and runs the loop until each has received
    /// its first bytes. Their completions are recorded in `streamOutcomes`.
    private func openStreams(_ count: Int, _ request: HTTPRequest, file: StaticString = #filePath,
                             line: UInt = #line) throws -> [HTTPTransfer] {
        var streaming = 0
        var transfers: [HTTPTransfer] = []
        for _ in 0..<count {
            var started = false
            transfers.append(client.start(request, onBody: { [reactor] _ in
                guard !started else { return }
                started = true
                streaming += 1
                if streaming == count { reactor!.stop() }
            }, completion: { [self] result in
                streamOutcomes.append(result.failure)
                if result.failure != .cancelled { reactor.stop() }
            }))
        }
        try reactor.run(limit: .seconds(60), file: file, line: line)
        XCTAssertEqual(streamOutcomes, [], file: file, line: line)
        XCTAssertEqual(streaming, count, "all streams are open", file: file, line: line)
        return transfers
    }

    /// Cancels streams from `openStreams` and checks that each completes as cancelled.
    private func cancelAll(_ transfers: [HTTPTransfer], file: StaticString = #filePath, line: UInt = #line) throws {
        transfers.forEach { $0.cancel() }
        reactor.runSoon { [reactor] in reactor!.stop() } // queued after the cancellations
        try reactor.run(limit: .seconds(30), file: file, line: line)
        XCTAssertEqual(streamOutcomes, Array(repeating: .cancelled, count: transfers.count), file: file, line: line)
        XCTAssertEqual(client.activeTransfers, 0, file: file, line: line)
    }

    /// Runs `request` next to a good request to the plain server, and returns the first's error;
    /// fails the test if the good one did not succeed (the loop must keep serving).
    private func failure(of request: HTTPRequest, file: StaticString = #filePath, line: UInt = #line) throws -> HTTPError {
        var error: HTTPError?
        var succeeded: Bool?
        var finished = 0
        client.start(request, onBody: { _ in }, completion: { [reactor] result in
            error = result.failure ?? .other(code: 0, message: "unexpected success")
            finished += 1
            if finished == 2 { reactor!.stop() }
        })
        client.send(HTTPRequest(url: server.url("/echo/alongside"))) { [reactor] result in
            succeeded = (try? result.get()).map { $0.body == Array("body-alongside".utf8) } ?? false
            finished += 1
            if finished == 2 { reactor!.stop() }
        }
        try reactor.run(limit: .seconds(60), file: file, line: line)
        XCTAssertEqual(succeeded, true, "the request alongside was served", file: file, line: line)
        return try XCTUnwrap(error, file: file, line: line)
    }
}

/// User plus system CPU time of the whole process, in seconds.
private func cpuTime() -> Double {
    var usage = rusage()
    getrusage(RUSAGE_SELF.rawValue, &usage)
    func seconds(_ time: timeval) -> Double { Double(time.tv_sec) + Double(time.tv_usec) / 1e6 }
    return seconds(usage.ru_utime) + seconds(usage.ru_stime)
}
