import KubeClient
import SpillwayReactor
import XCTest

/// The client's HTTP/2 connection to a real kube-apiserver (the emulator speaks HTTP/1.1 only).
/// Skips with one line when no real server is there, like ``RealAPIServerTests``.
final class RealHTTP2ClientTests: ClusterScenarioTestCase {
    override func makeCluster() throws -> ScenarioCluster { try RealScenarioCluster(self) }

    /// While a watch holds the connection, libcurl keeps its socket with the glue, which corks it
    /// (TCP_CORK) for each timer call of libcurl: the call that sends the requests started since.
    /// A socket left corked would hold each small request for up to Linux's 200 ms ceiling, 10 s
    /// for these 50; sent at once, they take milliseconds each.
    func testRequestsStartedOneAfterAnotherBesideAWatchAreNotHeldBack() throws {
        let kubeconfig = try cluster.daemonKubeconfig(port: nil, tokenFile: nil)
        let reactor = try Reactor()
        let client = try KubeClient(configuration: try ClientConfiguration.load(kubeconfig: kubeconfig), reactor: reactor)
        var failures: [String] = []
        var completed = 0
        var started: MonotonicInstant?
        var elapsed: Duration?
        func next() {
            client.get(.namespaces, namespace: nil, name: "default", metadataOnly: true) { result in
                if case .failure(let error) = result { failures.append("\(error)") }
                completed += 1
                if completed == 50 || !failures.isEmpty {
                    elapsed = started.map { $0.duration(to: reactor.now) }
                    reactor.stop()
                } else {
                    next()
                }
            }
        }
        let informer = Informer(client: client, options: .init(resource: .namespaces, metadataOnly: true)) { event in
            guard case .replaceEnd = event, started == nil else { return }
            // The watch is about to open on the connection the GETs share.
            _ = try? reactor.addTimer(after: .milliseconds(200)) {
                started = reactor.now
                next()
            }
        }
        informer.start()
        let deadline = try reactor.addTimer(after: .seconds(60)) { reactor.stop() }
        try reactor.run()
        reactor.cancel(deadline)
        informer.stop()
        XCTAssertEqual(failures, [])
        XCTAssertEqual(completed, 50)
        let taken = try XCTUnwrap(elapsed, "the GETs did not finish")
        print("50 GETs one after another beside a watch: \(taken)")
        XCTAssertLessThan(taken, .seconds(5), "50 GETs one after another took \(taken): a corked socket held them")
    }
}
