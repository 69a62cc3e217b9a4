import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// Pull replication (docs/contract.md, "Pulls") with the real spillwayd process: a namespace
/// asks with `replicate-from`, and gets the copy if, and only if, the source allows it.
final class PullProcessTests: ProcessTestCase {
    static let replicateFrom = "spillway.kroy.io/replicate-from"
    static let allowPullFrom = "spillway.kroy.io/allow-pull-from"

    func testATeamGetsTheCopyIfAndOnlyIfTheSourceAllowsIt() throws {
        try namespaces("platform", "team-a", "other")
        let daemon = try startDaemon(["--metrics-bind-address", "127.0.0.1:0"])
        try cluster.secret("platform", "wildcard-tls", annotations: [Self.allowPullFrom: "team-*"],
                           data: ["tls.key": "s3cr3t-alpha"])
        // The team declares its dependency in its own manifests: an empty Secret that asks.
        try cluster.secret("team-a", "tls", annotations: [Self.replicateFrom: "platform/wildcard-tls"], labels: ["app": "web"], data: [:])
        // A namespace the source does not allow asks too, with data of its own.
        try cluster.secret("other", "tls", annotations: [Self.replicateFrom: "platform/wildcard-tls"], data: ["own": "s3cr3t-gamma"])

        expect("team-a's Secret is filled", daemon) { cluster.secretData("team-a", "tls") == ["tls.key": "s3cr3t-alpha"] }
        XCTAssertEqual(cluster.labels(.secret, "team-a", "tls")["app"], "web")
        XCTAssertEqual(cluster.labels(.secret, "team-a", "tls")[Key.managedBy], "spillway")
        XCTAssertEqual(cluster.annotations(.secret, "team-a", "tls")[Key.sourceFrom], "Secret/platform/wildcard-tls")
        expect("the source holds the finalizer for its pulled copy", daemon) {
            cluster.finalizers(.secret, "platform", "wildcard-tls") == [Key.finalizer]
        }
        expect("the refused namespace's object is told", daemon) {
            cluster.events(about: "tls", in: "other").contains { $0.type == "Warning" && $0.reason == "ReplicationSkipped" }
        }
        XCTAssertEqual(cluster.secretData("other", "tls"), ["own": "s3cr3t-gamma"], "a refused pull never touches the target")
        XCTAssertNil(cluster.labels(.secret, "other", "tls")[Key.managedBy])
        XCTAssertTrue(daemon.audit("fill").contains { $0["pull"] == "team-a/tls" && $0["source"] == "platform/wildcard-tls" })
        XCTAssertTrue(daemon.audit("pull-refused").contains { $0["pull"] == "other/tls" })

        let address = try XCTUnwrap(daemon.records.first { $0["endpoint"]?.contains("metrics") == true }?["address"], daemon.tail)
        expect("the refusal is counted", daemon) {
            let scrape = (try? httpGet("http://\(address)/metrics").body) ?? ""
            return scrape.contains(#"spillway_pull_refusals_total{kind="Secret",reason="not-allowed"} 1"#)
        }

        // A source change reaches its pulled copy within a second.
        try cluster.patch(.secret, "platform", "wildcard-tls", ["data": ["tls.key": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        let took = secondsUntil { cluster.secretData("team-a", "tls") == ["tls.key": "s3cr3t-beta"] }
        print("timing: pull source edited -> copy updated (process): \(took.map { "\($0) s" } ?? "never")")
        XCTAssertLessThan(try XCTUnwrap(took, daemon.tail), 1.0)

        // The source is deleted: the copy is emptied and let go, then the finalizer released.
        try cluster.delete(.secret, "platform", "wildcard-tls")
        expect("the copy is emptied and the source is gone", daemon) {
            cluster.secretData("team-a", "tls") == [:] && cluster.object(.secret, "platform", "wildcard-tls") == nil
        }
        XCTAssertNil(cluster.labels(.secret, "team-a", "tls")[Key.managedBy], "let go: its namespace's own object again")
        XCTAssertEqual(cluster.annotations(.secret, "team-a", "tls")[Self.replicateFrom], "platform/wildcard-tls")
        XCTAssertEqual(cluster.secretData("other", "tls"), ["own": "s3cr3t-gamma"])
        stop(daemon)
    }

    func testAConfigMapPullAndRemovingReplicateFromLetsTheCopyGo() throws {
        try namespaces("platform", "team-a")
        let daemon = try startDaemon()
        try cluster.configMap("platform", "ca-bundle", annotations: [Self.allowPullFrom: "team-a"], data: ["ca.crt": "PEM"])
        try cluster.configMap("team-a", "ca", annotations: [Self.replicateFrom: "platform/ca-bundle"], data: [:])
        expect("filled", daemon) { cluster.object(.configMap, "team-a", "ca")?["data"]?.stringMap == ["ca.crt": "PEM"] }
        try cluster.patch(.configMap, "team-a", "ca", ["metadata": ["annotations": [Self.replicateFrom: .null]]])
        expect("let go with its data", daemon) {
            cluster.labels(.configMap, "team-a", "ca")[Key.managedBy] == nil
                && cluster.annotations(.configMap, "team-a", "ca")[Key.sourceFrom] == nil
        }
        XCTAssertEqual(cluster.object(.configMap, "team-a", "ca")?["data"]?.stringMap, ["ca.crt": "PEM"])
        expect("no pull holds the source's finalizer any more", daemon) { cluster.finalizers(.configMap, "platform", "ca-bundle").isEmpty }
        stop(daemon)
    }
}
