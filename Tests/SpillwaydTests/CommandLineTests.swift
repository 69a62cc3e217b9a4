import XCTest

@testable import SpillwayDaemon

final class CommandLineTests: XCTestCase {
    func testVersionPrintsTheVersionFromOnePlace() throws {
        let daemon = try Spillwayd(["version"], emptyConfig: try temporaryDirectory(self).appendingPathComponent("c"))
        XCTAssertEqual(daemon.waitForExit(), 0)
        XCTAssertEqual(daemon.stdout, "spillwayd \(SpillwayVersion.current)\n")
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
}
