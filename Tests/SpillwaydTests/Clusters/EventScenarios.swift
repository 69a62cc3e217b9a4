import Foundation
import KubeWire
import XCTest

/// What the source's Events say when many writes fail at once.
extension ClusterScenarioTestCase {
    /// A ResourceQuota refuses the replica in a dozen namespaces: the source gets five
    /// ReplicationFailed Events and one that counts the other seven, where it got twelve;
    /// the log still has a warning for each. Real kube-apiserver only: the emulator has no
    /// quota admission.
    func writesRefusedByAQuotaPostABoundedNumberOfEvents() throws {
        let source = try namespace("quota-src")
        let open = try namespace("quota-open")
        var limited: [String] = []
        for i in 1...12 {
            let ns = try namespace("quota-\(i)")
            try kubectl("create", "quota", "no-secrets", "--hard=count/secrets=0", "-n", ns)
            limited.append(ns)
        }
        for ns in limited {
            // Admission enforces a quota once its controller has filled in status.hard.
            expect("the quota in \(ns) is in force") {
                (try? kubectl.json("get", "resourcequota", "no-secrets", "-n", ns))?["status"]?["hard"] != nil
            }
        }
        try secret(source, "db", annotations: [Key.replicateTo: "\(prefix)quota-*"], data: ["password": "s3cr3t-alpha"])
        let daemon = try startDaemon()

        expect("the namespace without a quota gets its replica", daemon) { secretData(open, "db") == ["password": "s3cr3t-alpha"] }
        func failedEvents() -> [JSONValue] {
            let items = (try? kubectl.json("get", "events.events.k8s.io", "-n", source))?["items"]?.arrayValue ?? []
            return items.filter { $0["regarding"]?["name"]?.stringValue == "db" && $0["reason"]?.stringValue == "ReplicationFailed" }
        }
        expect("the refusals are reported, the last seven counted in one Event", daemon) {
            failedEvents().contains { ($0["note"]?.stringValue ?? "").hasPrefix("7 more ReplicationFailed outcomes of this pass") }
        }
        let notes = failedEvents().compactMap { $0["note"]?.stringValue }
        XCTAssertEqual(notes.count, 6, notes.joined(separator: "\n"))
        XCTAssertEqual(notes.filter { $0.contains("exceeded quota") }.count, 6, notes.joined(separator: "\n"))
        XCTAssertEqual(daemon.stderr.components(separatedBy: #""msg":"ReplicationFailed: create Secret "#).count - 1, 12,
                       "every refusal is still a warning in the log")
        XCTAssertNil(object("secret", limited[0], "db"))
    }
}
