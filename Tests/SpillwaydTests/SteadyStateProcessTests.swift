import Foundation
import KubeEmulator
import XCTest

/// The real spillwayd process in steady state: the periodic resync and self-heal find
/// everything in place and send nothing.
final class SteadyStateProcessTests: ProcessTestCase {
    func testANoOpResyncAndSelfHealSendZeroWrites() throws {
        try namespaces("apps", "team-a", "team-b", "team-c")
        let daemon = try startDaemon(["--sync-period", "1s", "--self-heal-interval", "1s", "--log-level", "debug"])
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-*"], data: ["k": "s3cr3t-alpha"])
        try cluster.configMap("apps", "settings", annotations: [Key.replicateTo: "all"], data: ["mode": "fast"])
        expectReplicas(.secret, "db", ["team-a", "team-b", "team-c"], daemon)
        expectReplicas(.configMap, "settings", ["team-a", "team-b", "team-c", "default", "kube-public", "kube-node-lease"], daemon)
        expect("the finalizers are on", daemon) {
            cluster.finalizers(.secret, "apps", "db") == [Key.finalizer] && cluster.finalizers(.configMap, "apps", "settings") == [Key.finalizer]
        }
        // Let the writes' own watch events come back, then count from a clean slate.
        sleep(1)
        cluster.emulator.accounting.reset()
        let planned = { daemon.records.filter { ($0["msg"] ?? "").hasPrefix("resync: planning what changed") }.count }
        let healed = { daemon.records.filter { ($0["msg"] ?? "").hasPrefix("self-heal: planning what changed") }.count }
        let (resyncs, heals) = (planned(), healed())
        expect("three resyncs and three self-heal passes ran", within: 20, daemon) { planned() >= resyncs + 3 && healed() >= heals + 3 }
        let requests = cluster.emulator.requests
        XCTAssertEqual(requests.writes.map { "\($0.verb) \($0.resource) \($0.namespace)/\($0.name)" }, [], "a resync that finds everything in place writes nothing")
        XCTAssertEqual(requests.count(verb: "get", resource: "secrets"), 0, "unchanged sources are not read again")
        XCTAssertEqual(requests.count(verb: "list"), 0, "no relisting either")
    }
}
