import Foundation
import XCTest

@testable import SpillwayDaemon

/// The sd_notify protocol seen from systemd's side: a datagram socket the test binds and names in
/// NOTIFY_SOCKET.
final class SystemdNotifyTests: XCTestCase {
    private func fields(_ datagram: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        for line in String(decoding: datagram, as: UTF8.self).split(separator: "\n") {
            let parts = line.split(separator: "=", maxSplits: 1)
            fields[String(parts[0])] = parts.count > 1 ? String(parts[1]) : ""
        }
        return fields
    }

    /// The next message carrying `key`, skipping others (watchdog pings interleave).
    private func next(_ key: String, from socket: DatagramSocket) -> [String: String]? {
        while let datagram = socket.receive() {
            let message = fields(datagram)
            if message[key] != nil { return message }
        }
        return nil
    }

    private func start(_ environment: [String: String] = [:]) throws -> (Spillwayd, DatagramSocket) {
        let directory = try temporaryDirectory(self)
        let cluster = try TestCluster(self)
        let socket = try DatagramSocket(path: directory.appendingPathComponent("notify").path)
        var environment = environment
        environment["NOTIFY_SOCKET"] = socket.path
        let daemon = try Spillwayd(
            ["--kubeconfig", try cluster.kubeconfig(), "--metrics-bind-address", "127.0.0.1:0",
             "--health-probe-bind-address", "127.0.0.1:0", "--log-format", "logfmt"],
            environment: environment, emptyConfig: directory.appendingPathComponent("empty.conf"))
        return (daemon, socket)
    }

    func testReadyWithStatusThenReloadOnSIGHUPThenStoppingAndExitZeroOnSIGTERM() throws {
        let (daemon, socket) = try start()
        let ready = try XCTUnwrap(next("READY", from: socket), daemon.stderr)
        XCTAssertEqual(ready["READY"], "1")
        XCTAssertEqual(ready["STATUS"], "0 sources, 0 replicas, 0 conflicts")

        let before = ProcessInfo.processInfo.systemUptime
        daemon.signal(SIGHUP)
        let reloading = try XCTUnwrap(next("RELOADING", from: socket), daemon.stderr)
        XCTAssertEqual(reloading["RELOADING"], "1")
        // MONOTONIC_USEC is CLOCK_MONOTONIC, the clock systemUptime reads on Linux.
        let monotonic = try XCTUnwrap(reloading["MONOTONIC_USEC"].flatMap(Double.init)) / 1e6
        XCTAssertGreaterThanOrEqual(monotonic, before - 1)
        XCTAssertLessThanOrEqual(monotonic, ProcessInfo.processInfo.systemUptime + 1)
        XCTAssertEqual(next("READY", from: socket)?["READY"], "1")

        daemon.signal(SIGTERM)
        let stopping = try XCTUnwrap(next("STOPPING", from: socket), daemon.stderr)
        XCTAssertEqual(stopping["STOPPING"], "1")
        XCTAssertEqual(stopping["STATUS"], "Stopping")
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
    }

    func testReloadWithABadConfigKeepsRunningAndSaysWhyInStatus() throws {
        let directory = try temporaryDirectory(self)
        let config = directory.appendingPathComponent("spillway.conf").path
        try "sync-period: 5m\n".write(toFile: config, atomically: true, encoding: .utf8)
        let (daemon, socket) = try start(["SPILLWAY_CONFIG": config])
        XCTAssertNotNil(next("READY", from: socket), daemon.stderr)
        try "sync-period: soon\n".write(toFile: config, atomically: true, encoding: .utf8)
        daemon.signal(SIGHUP)
        let ready = try XCTUnwrap(next("READY", from: socket))
        XCTAssertEqual(
            ready["STATUS"],
            "0 sources, 0 replicas, 0 conflicts; last error: reload refused: invalid sync-period \"soon\" (from config file \(config)): not a duration; use Go-style durations like 30s, 5m, 1h30m")
        XCTAssertTrue(daemon.process.isRunning)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0)
    }

    func testWatchdogPingsAtAboutHalfTheWatchdogInterval() throws {
        let (daemon, socket) = try start(["WATCHDOG_USEC": "400000"])
        XCTAssertNotNil(next("READY", from: socket), daemon.stderr)
        var pings: [Double] = []
        while pings.count < 6, let message = next("WATCHDOG", from: socket) {
            XCTAssertEqual(message["WATCHDOG"], "1")
            pings.append(ProcessInfo.processInfo.systemUptime)
        }
        XCTAssertEqual(pings.count, 6)
        let mean = (pings.last! - pings.first!) / Double(pings.count - 1)
        // Expected 200 ms; loose bounds for a busy machine.
        XCTAssertGreaterThan(mean, 0.1)
        XCTAssertLessThan(mean, 0.4)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0)
    }

    func testWatchdogIsOnlyForTheNamedProcess() {
        XCTAssertEqual(Notifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000"], pid: 42), .seconds(15))
        XCTAssertEqual(
            Notifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "42"], pid: 42), .seconds(15))
        XCTAssertNil(Notifier.watchdogInterval(environment: ["WATCHDOG_USEC": "30000000", "WATCHDOG_PID": "43"], pid: 42))
        XCTAssertNil(Notifier.watchdogInterval(environment: [:], pid: 42))
    }

    func testStatusLineComposesTheFiguresAndSendsOnlyChanges() {
        var sent: [String] = []
        let status = StatusReporter { sent.append($0) }
        status.phase = .running
        status.sources = 3
        status.sources = 3
        status.replicas = 12
        status.role = .standby(leader: "node-a_1234")
        status.lastError = "secrets \"x\" is forbidden"
        XCTAssertEqual(
            status.line, "3 sources, 12 replicas, 0 conflicts; standby (leader: node-a_1234); last error: secrets \"x\" is forbidden")
        XCTAssertEqual(sent.count, 5)
        XCTAssertEqual(Set(sent).count, sent.count)
    }
}
