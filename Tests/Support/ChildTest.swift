import Foundation
import XCTest

/// One test of this bundle run in a child process of its own, for behaviour that ends a process
/// (a trapped assertion). The child sees `SPILLWAY_CHILD_TEST=1`; the test it runs skips itself
/// without it, so the ordinary suite passes over it.
public struct ChildTest {
    static let variable = "SPILLWAY_CHILD_TEST"

    /// Whether this process is such a child.
    public static var isChild: Bool { ProcessInfo.processInfo.environment[variable] == "1" }

    /// How the child ended and what it wrote to stderr.
    public let terminatedBySignal: Bool
    public let status: Int32
    public let stderr: String

    /// Runs `test` (`Module.Class/testName` of this test bundle) in a child, waits for it (at most
    /// `seconds`) and fails the calling test unless the child died of a signal after writing
    /// `message` (a debug-build assertion that trapped).
    public static func expectTrap(_ test: String, saying message: String, file: StaticString = #filePath, line: UInt = #line) throws {
        let child = try ChildTest(test)
        XCTAssertTrue(child.terminatedBySignal, "the child ended with status \(child.status): \(child.stderr)", file: file, line: line)
        XCTAssertTrue(child.stderr.contains(message), child.stderr, file: file, line: line)
    }

    /// Runs `Module.Class/testName` of this test bundle in a child and waits (at most `seconds`).
    public init(_ test: String, within seconds: Double = 120) throws {
        let errors = FileManager.default.temporaryDirectory.appendingPathComponent("child-test-\(UUID().uuidString).stderr")
        _ = FileManager.default.createFile(atPath: errors.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: errors) }
        let child = Process()
        child.executableURL = URL(fileURLWithPath: CommandLine.arguments[0])
        child.arguments = [test]
        var environment = ProcessInfo.processInfo.environment
        environment[Self.variable] = "1"
        environment["SWIFT_BACKTRACE"] = "enable=no" // a trap ends the child at once, unsymbolicated
        child.environment = environment
        child.standardOutput = FileHandle.nullDevice
        child.standardError = try FileHandle(forWritingTo: errors)
        try child.run()
        let deadline = Date().addingTimeInterval(seconds)
        while child.isRunning && Date() < deadline { usleep(20_000) }
        if child.isRunning {
            kill(child.processIdentifier, SIGKILL)
            child.waitUntilExit()
        }
        terminatedBySignal = child.terminationReason == .uncaughtSignal
        status = child.terminationStatus
        stderr = String(decoding: (try? Data(contentsOf: errors)) ?? Data(), as: UTF8.self)
    }
}
