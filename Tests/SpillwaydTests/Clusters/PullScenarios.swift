import Foundation
import KubeWire
import XCTest

/// Pull replication on any `ScenarioCluster`: the real daemon, driven by kubectl alone.
extension ClusterScenarioTestCase {
    /// A namespace asks with `replicate-from` and gets the copy if, and only if, the source
    /// allows it; a refused namespace's data is never touched; withdrawn consent and the
    /// source's deletion empty the copy (never deleting it), and `replicate-from` removed lets
    /// it go with its data, no longer following the source.
    func pullsOnlyWhatTheSourceAllows() throws {
        let from = "spillway.kroy.io/replicate-from", allow = "spillway.kroy.io/allow-pull-from"
        let platform = try namespace("platform")
        let team = try namespace("team-a"), teamB = try namespace("team-b"), other = try namespace("other")
        try secret(platform, "wildcard", annotations: [allow: "\(prefix)team-*"], data: ["tls.key": "s3cr3t-alpha"])
        try secret(team, "tls", annotations: [from: "\(platform)/wildcard"], data: [:])
        try secret(other, "tls", annotations: [from: "\(platform)/wildcard"], data: ["own": "s3cr3t-gamma"])
        // Admitted, but holding data of its own: not overwritten.
        try secret(teamB, "tls", annotations: [from: "\(platform)/wildcard"], data: ["own": "s3cr3t-gamma"])
        try configMap(platform, "ca", annotations: [allow: team], data: ["ca.crt": "PEM"])
        try configMap(team, "ca", annotations: [from: "\(platform)/ca"], labels: ["app": "web"], data: [:])
        try configMap(platform, "settings", annotations: [allow: team], data: ["mode": "blue"])
        try configMap(team, "settings", annotations: [from: "\(platform)/settings"], data: [:])
        let daemon = try startDaemon()

        expect("the admitted Secret is filled", daemon) { secretData(team, "tls") == ["tls.key": "s3cr3t-alpha"] }
        expect("the admitted ConfigMap is filled, keeping its own labels", daemon) {
            let copy = object("configmap", team, "ca")
            return copy?["data"]?.stringMap == ["ca.crt": "PEM"] && copy?["metadata"]?["labels"]?["app"]?.stringValue == "web"
        }
        XCTAssertEqual(object("secret", team, "tls")?["metadata"]?["annotations"]?[Key.sourceFrom]?.stringValue, "Secret/\(platform)/wildcard")
        expect("the refused namespace's object is told, with an Event regarding it", daemon) {
            let events = (try? kubectl.json("get", "events.events.k8s.io", "-n", other))?["items"]?.arrayValue ?? []
            return events.contains { $0["regarding"]?["name"]?.stringValue == "tls" && $0["reason"]?.stringValue == "ReplicationSkipped" }
        }
        XCTAssertEqual(secretData(other, "tls"), ["own": "s3cr3t-gamma"], "a refused pull never touches the target")
        XCTAssertNil(object("secret", other, "tls")?["metadata"]?["labels"]?[Key.managedBy])

        expect("the object with data of its own is told", daemon) {
            let events = (try? kubectl.json("get", "events.events.k8s.io", "-n", teamB))?["items"]?.arrayValue ?? []
            return events.contains { ($0["note"]?.stringValue ?? "").contains("holds data of its own") }
        }
        XCTAssertEqual(secretData(teamB, "tls"), ["own": "s3cr3t-gamma"])

        // A push of the copy's name into its namespace: the pull holds it, the push is told.
        try secret(platform, "tls", annotations: [Key.replicateTo: team], data: ["tls.key": "s3cr3t-gamma"])
        expect("the push is told the pull holds the object", daemon) {
            let events = (try? kubectl.json("get", "events.events.k8s.io", "-n", platform))?["items"]?.arrayValue ?? []
            return events.contains { $0["regarding"]?["name"]?.stringValue == "tls" && ($0["note"]?.stringValue ?? "").contains("held by a pull") }
        }
        XCTAssertEqual(secretData(team, "tls"), ["tls.key": "s3cr3t-alpha"])

        let start = Date()
        try mergePatch("secret", platform, "wildcard", ["data": ["tls.key": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        let took = seconds(since: start) { secretData(team, "tls") == ["tls.key": "s3cr3t-beta"] }
        print("timing: [\(cluster.kind)] pull source edited -> copy updated (kubectl polling included): \(took.map { "\($0) s" } ?? "never")")
        XCTAssertNotNil(took, daemon.tail)

        expect("the settings copy is filled", daemon) { object("configmap", team, "settings")?["data"]?.stringMap == ["mode": "blue"] }
        try kubectl("annotate", "configmap", "settings", "-n", team, "\(from)-")
        expect("replicate-from removed lets the copy go with its data", daemon) {
            let copy = object("configmap", team, "settings")
            return copy?["data"]?.stringMap == ["mode": "blue"] && copy?["metadata"]?["labels"]?[Key.managedBy] == nil
        }
        try mergePatch("configmap", platform, "settings", ["data": ["mode": "green"]])
        // A pull that still follows, edited after it, shows the daemon has seen both edits.
        try mergePatch("configmap", platform, "ca", ["data": ["ca.crt": "PEM2"]])
        expect("the copy that still pulls follows", daemon) { object("configmap", team, "ca")?["data"]?.stringMap == ["ca.crt": "PEM2"] }
        XCTAssertEqual(object("configmap", team, "settings")?["data"]?.stringMap, ["mode": "blue"], "a copy let go no longer follows its source")

        try kubectl("annotate", "configmap", "ca", "-n", platform, "\(allow)-")
        expect("withdrawn consent empties the ConfigMap copy and lets it go", daemon) {
            let copy = object("configmap", team, "ca")
            return copy != nil && (copy?["data"]?.stringMap ?? [:]).isEmpty && copy?["metadata"]?["labels"]?[Key.managedBy] == nil
        }

        try kubectl("delete", "secret", "wildcard", "-n", platform, "--wait=false")
        expect("deleting the source empties the copy, then the source goes", daemon) {
            secretData(team, "tls") == [:] && object("secret", platform, "wildcard") == nil
        }
        XCTAssertNil(object("secret", team, "tls")?["metadata"]?["labels"]?[Key.managedBy], "let go, not deleted")
        XCTAssertEqual(secretData(other, "tls"), ["own": "s3cr3t-gamma"])
    }
}
