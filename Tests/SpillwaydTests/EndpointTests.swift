import Foundation
import SpillwayReactor
import XCTest

@testable import SpillwayDaemon

final class EndpointTests: XCTestCase {
    /// Prometheus text exposition: HELP and TYPE per family, and `name{labels} value` samples.
    private func parseExposition(_ text: String) -> (types: [String: String], samples: [String: Double]) {
        var types: [String: String] = [:]
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") {
            if line.hasPrefix("# TYPE ") {
                let parts = line.split(separator: " ")
                types[String(parts[2])] = String(parts[3])
            } else if !line.hasPrefix("#") {
                let split = line.lastIndex(of: " ")!
                samples[String(line[..<split])] = Double(line[line.index(after: split)...])
            }
        }
        return (types, samples)
    }

    func testMetricsHealthzAndReadyzServedByTheDaemon() throws {
        let directory = try temporaryDirectory(self)
        let cluster = try TestCluster(self)
        let daemon = try Spillwayd(
            ["--kubeconfig", try cluster.kubeconfig(), "--metrics-bind-address", "127.0.0.1:0",
             "--health-probe-bind-address", "127.0.0.1:0", "--log-format", "logfmt"],
            emptyConfig: directory.appendingPathComponent("empty.conf"))
        let metrics = try XCTUnwrap(daemon.waitForLog(#"address=(127\.0\.0\.1:\d+) endpoint=metrics"#), daemon.stderr)
        let health = try XCTUnwrap(daemon.waitForLog(#"address=(127\.0\.0\.1:\d+) endpoint=health"#), daemon.stderr)
        XCTAssertNotNil(daemon.waitForLog("started"))

        let scrape = try httpGet("http://\(metrics)/metrics")
        XCTAssertEqual(scrape.status, 200)
        let (types, samples) = parseExposition(scrape.body)
        XCTAssertEqual(types["spillway_build_info"], "gauge")
        XCTAssertEqual(samples["spillway_build_info{version=\"\(SpillwayVersion.current)\"}"], 1)
        XCTAssertEqual(types["spillway_workqueue_wait_seconds"], "histogram")
        XCTAssertEqual(samples["spillway_workqueue_wait_seconds_count"], 0)
        XCTAssertEqual(samples["spillway_managed_replicas"], 0)
        XCTAssertTrue(scrape.body.contains("# HELP spillway_leader "))

        XCTAssertEqual(try httpGet("http://\(health)/healthz").status, 200)
        XCTAssertEqual(try httpGet("http://\(health)/readyz").status, 200)
        XCTAssertEqual(try httpGet("http://\(health)/metrics").status, 404, "metrics belong to the metrics address")
        XCTAssertEqual(try httpGet("http://\(metrics)/healthz").status, 404)

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0)
    }

    func testCountersTheEngineReportsAppearInTheExposition() {
        let metrics = SpillwayMetrics()
        metrics.replication(kind: "Secret", result: "success")
        metrics.replication(kind: "Secret", result: "success")
        metrics.reconcileChange(kind: "ConfigMap", action: "create")
        metrics.cleanupDelete(kind: "Secret")
        metrics.apiRequest(verb: "update", code: "409")
        metrics.watchRestart(resource: "secrets", reason: "expired")
        metrics.reconcileDuration(kind: "Secret", .milliseconds(30))
        metrics.leader(true)
        metrics.eventDropped()
        let (types, samples) = parseExposition(String(decoding: metrics.exposition(), as: UTF8.self))
        XCTAssertEqual(types["spillway_replications_total"], "counter")
        XCTAssertEqual(samples["spillway_replications_total{kind=\"Secret\",result=\"success\"}"], 2)
        XCTAssertEqual(samples["spillway_reconcile_changes_total{kind=\"ConfigMap\",action=\"create\"}"], 1)
        XCTAssertEqual(samples["spillway_cleanup_deletes_total{kind=\"Secret\"}"], 1)
        XCTAssertEqual(samples["spillway_api_requests_total{verb=\"update\",code=\"409\"}"], 1)
        XCTAssertEqual(samples["spillway_watch_restarts_total{resource=\"secrets\",reason=\"expired\"}"], 1)
        XCTAssertEqual(samples["spillway_reconcile_duration_seconds_bucket{kind=\"Secret\",le=\"0.05\"}"], 1)
        XCTAssertEqual(samples["spillway_reconcile_duration_seconds_bucket{kind=\"Secret\",le=\"0.025\"}"], 0)
        XCTAssertEqual(samples["spillway_leader"], 1)
        XCTAssertEqual(samples["spillway_events_dropped_total"], 1)
    }

    /// /readyz answers 503 with the reason until the readiness closure says ready, served by a
    /// real endpoint on a real reactor thread.
    func testReadyzIs503WithTheReasonUntilReady() throws {
        final class Shared: @unchecked Sendable {
            let lock = NSLock()
            var ready = false
            var port: UInt16 = 0
            var remote: ReactorRemote?
        }
        let shared = Shared()
        let started = DispatchSemaphore(value: 0)
        let finished = DispatchSemaphore(value: 0)
        let thread = Thread {
            let reactor = try! Reactor()
            let endpoint = try! HTTPEndpoint(
                address: BindAddress(host: "127.0.0.1", port: 0),
                routes: [
                    "/readyz": {
                        shared.lock.withLock { shared.ready }
                            ? .text(200, "ok\n") : .text(503, "caches not synced\n")
                    }
                ], reactor: reactor)
            shared.lock.withLock {
                shared.port = endpoint.port
                shared.remote = reactor.remote
            }
            started.signal()
            try! reactor.run()
            endpoint.stop()
            finished.signal()
        }
        thread.start()
        started.wait()
        let url = "http://127.0.0.1:\(shared.lock.withLock { shared.port })/readyz"
        let notReady = try httpGet(url)
        XCTAssertEqual(notReady.status, 503)
        XCTAssertEqual(notReady.body, "caches not synced\n")
        shared.lock.withLock { shared.ready = true }
        XCTAssertEqual(try httpGet(url).status, 200)
        shared.lock.withLock { shared.remote }!.stop()
        XCTAssertEqual(finished.wait(timeout: .now() + 30), .success)
    }
}
