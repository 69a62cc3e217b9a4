import Foundation
import KubeEmulator
import KubeWire
import XCTest

/// Two spillwayd processes with leader election against one emulator, and what the chaos run
/// does to them: kill -9 and restart, SIGHUP with a new identity, kill the leader.
final class ChaosFleet {
    /// One daemon slot: its config file and every process that has run in it (a killed one is
    /// replaced by a new incarnation; all their logs are checked at the end).
    final class Slot {
        let name: String
        let config: URL
        var identities: [String]
        var incarnations: [Spillwayd] = []
        var reloads = 0

        init(name: String, config: URL, identities: [String]) {
            self.name = name
            self.config = config
            self.identities = identities
        }

        var current: Spillwayd? { incarnations.last }
    }

    let cluster: TestCluster
    let slots: [Slot]
    private(set) var unexpectedExits: [String] = []

    init(cluster: TestCluster) throws {
        self.cluster = cluster
        slots = try ["a", "b"].map { name in
            Slot(name: name, config: cluster.directory.appendingPathComponent("chaos-\(name).conf"),
                 identities: [try cluster.kubeconfig(as: "spillwayd-\(name)"), try cluster.kubeconfig(as: "alt-\(name)")])
        }
    }

    static let users = ["spillwayd-a", "spillwayd-b", "alt-a", "alt-b"]

    private func settings(_ slot: Slot) -> String {
        """
        kubeconfig: \(slot.identities[slot.reloads % 2])
        leader-elect: true
        leader-elect-namespace: spillway-system
        leader-elect-lease-duration: 3s
        leader-elect-renew-deadline: 2s
        leader-elect-retry-period: 500ms
        self-heal-interval: 2s
        orphan-audit-interval: 5s
        sync-period: 30s
        metrics-bind-address: "0"
        health-probe-bind-address: "0"
        log-format: json

        """
    }

    func start(_ slot: Slot) throws {
        try settings(slot).write(to: slot.config, atomically: true, encoding: .utf8)
        let log = cluster.directory.appendingPathComponent("chaos-\(slot.name)-\(slot.incarnations.count).unused")
        slot.incarnations.append(try Spillwayd([], environment: ["SPILLWAY_CONFIG": slot.config.path], emptyConfig: log))
    }

    func startAll() throws {
        for slot in slots { try start(slot) }
    }

    /// The slot whose process holds the lease, if any.
    func leader() -> Slot? {
        guard let holder = try? cluster.emulator.store.get(.lease, namespace: "spillway-system", name: "spillway-leader")
            .json["spec"]?["holderIdentity"]?.stringValue else { return nil }
        return slots.first { slot in
            guard let daemon = slot.current, daemon.process.isRunning else { return false }
            return daemon.stderr.contains(#""identity":"\#(holder)""#)
        }
    }

    /// kill -9, and a new process in its place after `pause`.
    func kill(_ slot: Slot, pause: TimeInterval) throws {
        guard let daemon = slot.current else { return }
        daemon.signal(SIGKILL)
        _ = daemon.waitForExit(within: 10)
        Thread.sleep(forTimeInterval: pause)
        try start(slot)
    }

    /// SIGHUP after switching the slot's kubeconfig to its other identity: a new client replaces
    /// the old one while writes are in flight.
    func reload(_ slot: Slot) throws {
        slot.reloads += 1
        try settings(slot).write(to: slot.config, atomically: true, encoding: .utf8)
        slot.current?.signal(SIGHUP)
    }

    /// Daemons that died without being killed by the run (a crash is a failure).
    func checkAlive() -> [String] {
        slots.compactMap { slot in
            guard let daemon = slot.current, !daemon.process.isRunning else { return nil }
            return "spillwayd \(slot.name) exited by itself (\(daemon.process.terminationStatus)): \(daemon.tail)"
        }
    }

    /// SIGTERM to each running daemon: each must exit 0.
    func stopAll(file: StaticString = #filePath, line: UInt = #line) {
        for slot in slots {
            guard let daemon = slot.current, daemon.process.isRunning else { continue }
            daemon.signal(SIGTERM)
            XCTAssertEqual(daemon.waitForExit(within: 60, file: file, line: line), 0, "spillwayd \(slot.name): \(daemon.tail)",
                           file: file, line: line)
        }
    }

    /// Every log line every incarnation wrote.
    var logs: [String] { slots.flatMap { $0.incarnations.map { $0.stderr + $0.stdout } } }
}
