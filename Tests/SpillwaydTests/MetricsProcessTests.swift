import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// `/metrics` of the real daemon against the emulator: the Kubernetes client's requests by verb
/// and status, and its watch restarts by resource and reason.
final class MetricsProcessTests: XCTestCase {
    static let source: JSONValue = [
        "apiVersion": "v1", "kind": "Secret", "type": "Opaque",
        "metadata": [
            "name": "db-pass", "namespace": "default",
            "annotations": ["spillway.kroy.io/replicate-to": "team-a,team-b"],
        ],
        "data": ["password": "aHVudGVyMg=="],
    ]

    func testAPIRequestsAndWatchRestartsAreCountedWithTheirLabels() throws {
        let cluster = try TestCluster(self)
        for name in ["team-a", "team-b"] { try cluster.namespace(name) }
        try cluster.create(.secret, Self.source)
        let daemon = try Spillwayd(
            ["--kubeconfig", try cluster.kubeconfig(), "--metrics-bind-address", "127.0.0.1:0",
             "--health-probe-bind-address", "127.0.0.1:0", "--log-format", "logfmt"],
            emptyConfig: cluster.directory.appendingPathComponent("empty.conf"))
        let address = try XCTUnwrap(daemon.waitForLog(#"address=(127\.0\.0\.1:\d+) endpoint=metrics"#), daemon.stderr)
        XCTAssertTrue(
            eventually { ["team-a", "team-b"].allSatisfy { cluster.object(.secret, $0, "db-pass") != nil } }, daemon.stderr)

        // The replicas were created, and the caches came from watches the server opened.
        var samples = try scrapeMetrics(address)
        XCTAssertGreaterThanOrEqual(samples[#"spillway_api_requests_total{verb="create",code="201"}"#] ?? 0, 2, "\(samples)")
        // Five informers: namespaces, and candidates and replicas of each kind.
        XCTAssertGreaterThanOrEqual(samples[#"spillway_api_requests_total{verb="watch",code="200"}"#] ?? 0, 5, "\(samples)")
        XCTAssertEqual(samples.keys.filter { $0.hasPrefix("spillway_watch_restarts_total{") }, [], "no watch has ended yet")
        let everyVerb: Set = ["get", "list", "watch", "create", "update", "patch", "delete"]
        for key in samples.keys where key.hasPrefix("spillway_api_requests_total{") {
            let labels = Self.labels(key)
            XCTAssertTrue(everyVerb.contains(labels["verb"] ?? ""), key)
            XCTAssertNotNil(labels["code"].flatMap { Int($0) }, key)
        }

        // The server drops every watch: each informer restarts its watch and says why.
        cluster.emulator.faults.dropWatches()
        let restarts = [
            #"spillway_watch_restarts_total{resource="secrets",reason="error"}"#: 2.0,
            #"spillway_watch_restarts_total{resource="configmaps",reason="error"}"#: 2,
            #"spillway_watch_restarts_total{resource="namespaces",reason="error"}"#: 1,
        ]
        XCTAssertTrue(
            eventually {
                samples = (try? scrapeMetrics(address)) ?? [:]
                return restarts.allSatisfy { (samples[$0.key] ?? 0) >= $0.value }
                    && (samples[#"spillway_api_requests_total{verb="watch",code="200"}"#] ?? 0) >= 10
            }, "\(samples.filter { $0.key.contains("watch") })\n\(daemon.stderr)")

        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
    }


    /// The labels of a sample key `name{a="x",b="y"}`.
    private static func labels(_ key: String) -> [String: String] {
        guard let open = key.firstIndex(of: "{"), key.hasSuffix("}") else { return [:] }
        var labels: [String: String] = [:]
        for pair in key[key.index(after: open)..<key.index(before: key.endIndex)].split(separator: ",") {
            let parts = pair.split(separator: "=", maxSplits: 1)
            guard parts.count == 2 else { continue }
            labels[String(parts[0])] = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\""))
        }
        return labels
    }
}
