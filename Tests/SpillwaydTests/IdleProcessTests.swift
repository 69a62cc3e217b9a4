import Foundation
import KubeEmulator
import XCTest

/// The real spillwayd process at rest: once synced it sends the API server nothing (no
/// readiness probe; the watches' own traffic says the server is there), and /readyz still
/// follows the server — not ready while it is gone or refuses the credentials, ready again
/// when it is back.
final class IdleProcessTests: ProcessTestCase {
    /// Longer than two periods of the readiness probe this replaces (a GET every 5 s), far
    /// shorter than the silence after which the daemon asks, and than a watch's lifetime.
    static let idleWindow: UInt32 = 12

    /// spillwayd with its health endpoint on (logfmt, so its address can be read from the log);
    /// returns it and the endpoint's address. Stopped and searched for secret values at the end.
    private func daemonWithHealth(kubeconfig: String) throws -> (Spillwayd, String) {
        let daemon = try Spillwayd(
            ["--kubeconfig", kubeconfig, "--metrics-bind-address", "0", "--health-probe-bind-address", "127.0.0.1:0",
             "--log-format", "logfmt"],
            emptyConfig: cluster.directory.appendingPathComponent("empty-\(UUID()).conf"))
        addTeardownBlock {
            if daemon.process.isRunning {
                daemon.signal(SIGTERM)
                XCTAssertEqual(daemon.waitForExit(), 0, "spillwayd did not stop cleanly: \(daemon.tail)")
            }
            let log = daemon.stderr + daemon.stdout
            for value in ProcessTestCase.secretValues {
                XCTAssertFalse(log.contains(value) || log.contains(Data(value.utf8).base64EncodedString()), "a secret value reached the log")
            }
        }
        let health = try XCTUnwrap(daemon.waitForLog(#"address=(127\.0\.0\.1:\d+) endpoint=health"#), daemon.stderr)
        return (daemon, health)
    }

    private func readyz(_ health: String) -> (status: Int, body: String)? {
        try? httpGet("http://\(health)/readyz")
    }

    func testASyncedDaemonSendsNoRequestWhileIdleAndReadyzStillFollowsTheServer() throws {
        try namespaces("apps", "team-a", "team-b")
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-*"], data: ["k": "s3cr3t-alpha"])
        let (daemon, health) = try daemonWithHealth(kubeconfig: try cluster.kubeconfig())
        expect("the replicas exist", daemon) { cluster.replicas(.secret, "db") == ["team-a", "team-b"] }
        expect("/readyz says ready", daemon) { readyz(health)?.status == 200 }

        // Let the writes' own watch events come back, then count from a clean slate.
        sleep(1)
        cluster.emulator.accounting.reset()
        sleep(Self.idleWindow)
        let requests = cluster.emulator.requests
        XCTAssertEqual(requests.count(), 0, "an idle daemon sent requests: \(requests.counts)")
        XCTAssertEqual(readyz(health)?.status, 200, "ready all along")

        cluster.stop()
        expect("/readyz turns not ready while the API server is gone", daemon) { readyz(health)?.status == 503 }
        XCTAssertTrue(readyz(health)?.body.contains("API server unreachable") ?? false, readyz(health)?.body ?? "")
        try cluster.restart()
        expect("/readyz is ready again once the server is back", daemon) { readyz(health)?.status == 200 }
        // And it still works: a change made after the return is replicated.
        try cluster.namespace("team-c")
        expect("the new namespace gets its replica", daemon) { cluster.replicas(.secret, "db") == ["team-a", "team-b", "team-c"] }
    }

    func testRejectedCredentialsMakeItNotReadyUntilTheyAreAcceptedAgain() throws {
        try namespaces("apps", "team-a")
        try cluster.secret("apps", "db", annotations: [Key.replicateTo: "team-a"], data: ["k": "s3cr3t-beta"])
        // A kubeconfig reading its token from a file, as a service account's is.
        let tokenFile = cluster.directory.appendingPathComponent("token").path
        try "token-spillwayd".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        let kubeconfig = cluster.directory.appendingPathComponent("kubeconfig-token-file").path
        let text = try cluster.emulator.writeKubeconfig(to: kubeconfig, identity: .token("token-spillwayd"))
        try text.replacingOccurrences(of: "token: token-spillwayd", with: "tokenFile: \(tokenFile)")
            .write(toFile: kubeconfig, atomically: true, encoding: .utf8)
        let (daemon, health) = try daemonWithHealth(kubeconfig: kubeconfig)
        expect("/readyz says ready", daemon) { readyz(health)?.status == 200 }
        expect("the replica exists", daemon) { cluster.replicas(.secret, "db") == ["team-a"] }
        // The daemon compares the token file with the disk at most once a second.
        sleep(2)

        // The token is revoked while the server is away: the watches come back with it refused.
        try "token-revoked".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        cluster.stop()
        try cluster.restart()
        expect("/readyz turns not ready while the credentials are refused", daemon) {
            readyz(health).map { $0.status == 503 && $0.body.contains("credentials rejected") } ?? false
        }
        try "token-spillwayd".write(toFile: tokenFile, atomically: true, encoding: .utf8)
        expect("/readyz is ready again with a valid token", daemon) { readyz(health)?.status == 200 }
    }
}
