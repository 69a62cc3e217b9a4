import Foundation
import XCTest

@testable import SpillwayDaemon

final class CommandLineTests: XCTestCase {
    func testVersionPrintsTheVersionFileTheCommitAndTheBuildDate() throws {
        let daemon = try Spillwayd(["version"], emptyConfig: try temporaryDirectory(self).appendingPathComponent("c"))
        XCTAssertEqual(daemon.waitForExit(), 0)
        XCTAssertEqual(daemon.stdout, SpillwayVersion.report + "\n")

        // The version is the VERSION file's, written nowhere else.
        let root = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent().deletingLastPathComponent()
        let file = try String(contentsOf: root.appendingPathComponent("VERSION"), encoding: .utf8)
        let lines = daemon.stdout.split(separator: "\n").map(String.init)
        XCTAssertEqual(lines.count, 3, daemon.stdout)
        XCTAssertEqual(lines.first, "spillwayd \(file.trimmingCharacters(in: .whitespacesAndNewlines))")
        XCTAssertTrue(lines[1].wholeMatch(of: /commit: ([0-9a-f]{40}|unknown)/) != nil, lines[1])
        XCTAssertTrue(lines[2].wholeMatch(of: /built: (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ|unknown)/) != nil, lines[2])
    }

    func testVersionFlagSaysTheSameAsTheVersionCommand() throws {
        let daemon = try Spillwayd(["--version"], emptyConfig: try temporaryDirectory(self).appendingPathComponent("c"))
        XCTAssertEqual(daemon.waitForExit(), 0)
        XCTAssertEqual(daemon.stdout, SpillwayVersion.report + "\n")
    }

    func testHelpListsEveryFlagOfRun() throws {
        let daemon = try Spillwayd(["run", "--help"], emptyConfig: try temporaryDirectory(self).appendingPathComponent("c"))
        XCTAssertEqual(daemon.waitForExit(), 0)
        let help = daemon.stdout
        for key in SettingKey.allCases {
            XCTAssertTrue(help.contains(key.flag), "--help lacks \(key.flag)")
        }
        for flag in ["--config", "--no-leader-elect", "--no-require-namespace-consent", "--no-allow-force-adopt"] {
            XCTAssertTrue(help.contains(flag), "--help lacks \(flag)")
        }
    }

    func testUnknownFlagIsAUsageErrorWithExitCode2() throws {
        let daemon = try Spillwayd(["--no-such-flag"], emptyConfig: try temporaryDirectory(self).appendingPathComponent("c"))
        XCTAssertEqual(daemon.waitForExit(), 2)
        XCTAssertTrue(daemon.stderr.contains("--no-such-flag"), daemon.stderr)
    }

    func testPlanRejectsAnUnknownOutputFormatWithExitCode2() throws {
        let daemon = try Spillwayd(["plan", "--output", "xml"], emptyConfig: try temporaryDirectory(self).appendingPathComponent("c"))
        XCTAssertEqual(daemon.waitForExit(), 2)
        XCTAssertTrue(daemon.stderr.contains("xml"), daemon.stderr)
    }

    func testPlanFromAFileWhoseLaterDocumentIsBrokenFailsAndSaysWhere() throws {
        // Not a plan of the documents before the error, as if the file ended there.
        let directory = try temporaryDirectory(self)
        let file = directory.appendingPathComponent("two.yaml").path
        let manifests = [
            "apiVersion: v1",
            "kind: Secret",
            "metadata: {name: a, namespace: default, annotations: {spillway.kroy.io/replicate-to: team-a}}",
            "---",
            "apiVersion: v1",
            "kind: Secret",
            "metadata: {name: b, namespace: default",
        ]
        try manifests.joined(separator: "\n").write(toFile: file, atomically: true, encoding: .utf8)
        let daemon = try Spillwayd(["plan", "--namespaces", "team-a", file], emptyConfig: directory.appendingPathComponent("c"))
        XCTAssertNotEqual(daemon.waitForExit(), 0, daemon.stdout)
        XCTAssertTrue(daemon.stderr.contains("\(file) is not valid YAML"), daemon.stderr)
        XCTAssertFalse(daemon.stdout.contains("create"), daemon.stdout)
    }

    func testPlanFromFilesCoversPulls() throws {
        let example = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("examples/pull-secret.yaml")
        let daemon = try Spillwayd(["plan", "--namespaces", "platform,team-a,other", example.path],
                                   emptyConfig: try temporaryDirectory(self).appendingPathComponent("c"))
        XCTAssertEqual(daemon.waitForExit(), 0, daemon.stderr)
        let out = daemon.stdout + daemon.stderr
        XCTAssertTrue(out.contains("source    Secret platform/wildcard-tls: add finalizer spillway.kroy.io/replicas"), out)
        XCTAssertTrue(out.contains("skip      Secret other/tls: Secret/platform/wildcard-tls does not exist or does not allow pulls into other"), out)
        XCTAssertTrue(out.contains("plan: 1 source, 2 pulls: 2 skip"), out)
        XCTAssertFalse(out.contains("private-key"), "a plan never shows data")
    }
}
