import Foundation
@testable import KubeClient
import XCTest

/// Exec credential plugins run as children of a daemon that blocks SIGTERM, SIGINT and SIGHUP in
/// every thread (the reactor reads them from a signalfd): a plugin must not inherit that mask, and
/// a plugin that hangs must not hold up the daemon's requests.
final class ExecPluginTests: XCTestCase {
    private var scratch: Scratch!

    override func setUpWithError() throws {
        scratch = try Scratch()
    }

    override func tearDown() {
        scratch = nil
    }

    private func plugin(_ body: String) throws -> Kubeconfig.ExecConfig {
        let path = try scratch.write("plugin", "#!/bin/sh\n" + body, mode: 0o755)
        return Kubeconfig.ExecConfig(command: path, apiVersion: "client.authentication.k8s.io/v1")
    }

    private static let credential = #"{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"t"}}"#

    func testAPluginStartsWithNoSignalBlockedOrIgnoredWhateverTheDaemonBlocks() throws {
        let status = scratch.dir + "/status"
        // Shell builtins only: a forked helper would show the mask the shell sets around a fork.
        let exec = try plugin("""
            while IFS= read -r line; do echo "$line"; done < /proc/$$/status > "\(status)"
            echo '\(Self.credential)'
            """)
        let outcome = Self.runAsTheDaemonWould(exec, timeout: nil)
        XCTAssertEqual(try outcome.wait(seconds: 30)?.get().token, "t")
        var masks: [String: UInt64] = [:]
        for line in try String(contentsOfFile: status, encoding: .utf8).split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            if parts.count == 2 { masks[String(parts[0])] = UInt64(parts[1].trimmingCharacters(in: .whitespaces), radix: 16) }
        }
        XCTAssertEqual(masks["SigBlk"], 0, "blocked signals of the plugin")
        // Signals 32 and 33 are glibc's own (thread cancellation, setxid), not the daemon's.
        XCTAssertEqual(masks["SigIgn"].map { $0 & 0x7fff_ffff }, 0, "ignored signals of the plugin")
    }

    func testAHungPluginStillEndsOnSIGTERM() throws {
        let pidFile = scratch.dir + "/pid"
        let exec = try plugin("echo $$ > \"\(pidFile)\"\nexec sleep 600\n")
        let outcome = Self.runAsTheDaemonWould(exec, timeout: nil)
        let pid = try XCTUnwrap(waitForPID(pidFile))
        defer { kill(pid, SIGKILL) } // so a failing run does not leave the sleeper behind
        kill(pid, SIGTERM) // what systemd sends the whole unit at stop
        let result = try XCTUnwrap(outcome.wait(seconds: 15), "the plugin ignored SIGTERM")
        XCTAssertEqual(result.failure.map { "\($0)" }, "credentials: exec plugin \"\(exec.command)\" was killed by signal 15")
    }

    func testAPluginThatOutlivesItsTimeoutIsKilledAndTheRequestSaysSo() throws {
        let exec = try plugin("exec sleep 600\n")
        let started = ContinuousClock.now
        let outcome = Self.runAsTheDaemonWould(exec, timeout: .seconds(1))
        let result = try XCTUnwrap(outcome.wait(seconds: 15), "the plugin was not stopped")
        XCTAssertLessThan(ContinuousClock.now - started, .seconds(10))
        XCTAssertEqual(result.failure.map { "\($0)" },
                       "credentials: exec plugin \"\(exec.command)\" did not answer within 1 s and was killed")
    }

    /// Runs the plugin on a thread that blocks the daemon's signals, as the daemon's threads do.
    private static func runAsTheDaemonWould(_ exec: Kubeconfig.ExecConfig, timeout: Duration?) -> Outcome {
        let outcome = Outcome()
        Thread {
            var set = sigset_t()
            sigemptyset(&set)
            for signal in [SIGTERM, SIGINT, SIGHUP] { sigaddset(&set, signal) }
            pthread_sigmask(SIG_BLOCK, &set, nil)
            outcome.finish(Result { () throws(KubeClientError) in
                if let timeout {
                    return try ExecCredential.run(exec, clusterInfo: nil, timeout: timeout)
                }
                return try ExecCredential.run(exec, clusterInfo: nil)
            })
        }.start()
        return outcome
    }

    private func waitForPID(_ path: String) -> pid_t? {
        for _ in 0..<500 {
            if let text = try? String(contentsOfFile: path, encoding: .utf8),
               let pid = pid_t(text.trimmingCharacters(in: .whitespacesAndNewlines)) { return pid }
            usleep(20_000)
        }
        return nil
    }

    private final class Outcome: @unchecked Sendable {
        private let done = DispatchSemaphore(value: 0)
        private var result: Result<ExecCredential, KubeClientError>?

        func finish(_ result: Result<ExecCredential, KubeClientError>) {
            self.result = result
            done.signal()
        }

        /// nil if the run has not ended within `seconds`.
        func wait(seconds: Double) -> Result<ExecCredential, KubeClientError>? {
            done.wait(timeout: .now() + seconds) == .success ? result : nil
        }
    }
}
