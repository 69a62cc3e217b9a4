import Foundation
import KubeClient
import SpillwayReactor
import XCTest

#if canImport(Glibc)
import Glibc
#endif

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

    /// 64 GETs started together go out corked: a few TCP segments carrying data (2 when measured;
    /// 21 with the cork taken out, where the kernel's own autocorking merges some), not one per
    /// request (each GET is an HTTP/2 HEADERS frame, its own TLS record and send()). Counted by
    /// the kernel on the connection the watch and the GETs share (TCP_INFO's data_segs_out, which
    /// leaves out pure ACKs).
    func testRequestsStartedTogetherLeaveInAFewSegments() throws {
        let kubeconfig = try cluster.daemonKubeconfig(port: nil, tokenFile: nil)
        let configuration = try ClientConfiguration.load(kubeconfig: kubeconfig)
        let port = try XCTUnwrap(configuration.server.split(separator: ":").last.flatMap { Int($0) }, configuration.server)
        let reactor = try Reactor()
        let client = try KubeClient(configuration: configuration, reactor: reactor)
        var failures: [String] = []
        var completed = 0
        var sockets: [Int32] = []
        var segmentsBefore: UInt32?
        var segmentsAfter: UInt32?
        let informer = Informer(client: client, options: .init(resource: .namespaces, metadataOnly: true)) { event in
            guard case .replaceEnd = event, segmentsBefore == nil else { return }
            _ = try? reactor.addTimer(after: .milliseconds(200)) {
                sockets = Self.sockets(connectedTo: port)
                guard sockets.count == 1 else { return reactor.stop() }
                segmentsBefore = Self.dataSegmentsSent(sockets[0])
                for _ in 0..<64 {
                    client.get(.namespaces, namespace: nil, name: "default", metadataOnly: true) { result in
                        if case .failure(let error) = result { failures.append("\(error)") }
                        completed += 1
                        if completed == 64 {
                            segmentsAfter = Self.dataSegmentsSent(sockets[0])
                            reactor.stop()
                        }
                    }
                }
            }
        }
        informer.start()
        let deadline = try reactor.addTimer(after: .seconds(60)) { reactor.stop() }
        try reactor.run()
        reactor.cancel(deadline)
        informer.stop()
        XCTAssertEqual(sockets.count, 1, "the watch and the GETs share one connection to the API server")
        XCTAssertEqual(failures, [])
        XCTAssertEqual(completed, 64)
        let before = try XCTUnwrap(segmentsBefore), after = try XCTUnwrap(segmentsAfter)
        print("64 GETs started together: \(after - before) TCP segments carrying data")
        XCTAssertLessThan(after - before, 8, "64 requests started together left in \(after - before) segments")
    }

    /// This process's TCP sockets connected to `port` on the loopback (found through /proc/self/fd).
    private static func sockets(connectedTo port: Int) -> [Int32] {
        let fds = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/self/fd")) ?? []
        return fds.compactMap { Int32($0) }.filter { fd in
            var address = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            let rc = withUnsafeMutablePointer(to: &address) {
                $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getpeername(fd, $0, &length) }
            }
            return rc == 0 && address.sin_family == sa_family_t(AF_INET) && Int(UInt16(bigEndian: address.sin_port)) == port
        }
    }

    /// `tcpi_data_segs_out` of the socket's TCP_INFO: the segments it sent that carried data
    /// (linux/tcp.h puts it at byte 156 of struct tcp_info, since Linux 4.6).
    private static func dataSegmentsSent(_ fd: Int32) -> UInt32? {
        var info = [UInt8](repeating: 0, count: 256)
        var length = socklen_t(info.count)
        guard getsockopt(fd, Int32(IPPROTO_TCP), TCP_INFO, &info, &length) == 0, length >= 160 else { return nil }
        return info.withUnsafeBytes { $0.loadUnaligned(fromByteOffset: 156, as: UInt32.self) }
    }
}
