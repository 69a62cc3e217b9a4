import KubeWire
import XCTest

/// Go's `time.ParseDuration` and `Duration.String`, case by case as Go answers them.
final class GoDurationTests: XCTestCase {
    func testParsesWhatGoParses() throws {
        let cases: [(String, Int64)] = [
            ("0", 0), ("0s", 0), ("+5s", 5_000_000_000), ("-1h", -3_600_000_000_000), ("1.5h", 5_400_000_000_000),
            ("1h30m", 5_400_000_000_000), ("250ms", 250_000_000), ("3us", 3_000), ("3µs", 3_000), ("7ns", 7),
            (".5s", 500_000_000), ("1.s", 1_000_000_000), ("2h45m30.5s", 9_930_500_000_000),
        ]
        for (text, nanoseconds) in cases {
            XCTAssertEqual(try GoDuration(parsing: text).nanoseconds, nanoseconds, text)
        }
    }

    func testRejectsWithGoMessages() {
        let cases: [(String, String)] = [
            ("", #"time: invalid duration """#), ("10", #"time: missing unit in duration "10""#),
            ("1d", #"time: unknown unit "d" in duration "1d""#), (".h", #"time: invalid duration ".h""#),
            ("1 h", #"time: unknown unit " h" in duration "1 h""#), ("99999999999h", #"time: invalid duration "99999999999h""#),
            ("1h-30m", #"time: unknown unit "h-" in duration "1h-30m""#),
        ]
        for (text, message) in cases {
            XCTAssertThrowsError(try GoDuration(parsing: text), text) { XCTAssertEqual("\($0)", message) }
        }
    }

    func testPrintsAsGoDoes() {
        let cases: [(Int64, String)] = [
            (0, "0s"), (7, "7ns"), (3_000, "3µs"), (1_500_000, "1.5ms"), (250_000_000, "250ms"), (1_500_000_000, "1.5s"),
            (90_000_000_000, "1m30s"), (300_000_000_000, "5m0s"), (5_400_000_000_000, "1h30m0s"), (-5_400_000_000_000, "-1h30m0s"),
        ]
        for (nanoseconds, text) in cases {
            XCTAssertEqual(GoDuration(nanoseconds: nanoseconds).description, text)
        }
        XCTAssertEqual(GoDuration.format(.milliseconds(1500)), "1.5s")
        XCTAssertEqual(GoDuration.parse("2h45m30s"), .seconds(9930))
        XCTAssertNil(GoDuration.parse("5x"))
    }
}
