import SpillwayContract
import XCTest

final class TargetListParsingTests: XCTestCase {
    func testAllAndStarMeanEveryNamespace() throws {
        XCTAssertEqual(try TargetPattern.parseList("all"), [.all])
        XCTAssertEqual(try TargetPattern.parseList("*"), [.all])
    }

    func testNamesAndGlobsAreDistinguished() throws {
        let patterns = try TargetPattern.parseList("team-*,sandbox,prod")
        XCTAssertEqual(patterns.map(\.description), ["team-*", "sandbox", "prod"])
        XCTAssertEqual(patterns[1], .name("sandbox"))
        guard case .glob = patterns[0] else { return XCTFail("team-* should be a glob") }
    }

    func testWhitespaceAroundEntriesIsIgnored() throws {
        XCTAssertEqual(try TargetPattern.parseList("  a ,\tb\n, c  "), [.name("a"), .name("b"), .name("c")])
    }

    func testEmptyEntriesAreIgnored() throws {
        XCTAssertEqual(try TargetPattern.parseList(",a,,b,"), [.name("a"), .name("b")])
        XCTAssertEqual(try TargetPattern.parseList(""), [])
        XCTAssertEqual(try TargetPattern.parseList(" , ,"), [])
    }

    func testInvalidNamespaceNamesAreRejectedWithTheEntry() {
        for bad in ["Team-A", "team_a", "team;b", "-lead", "trail-", String(repeating: "a", count: 64), "a/b"] {
            XCTAssertThrowsError(try TargetPattern.parseList("ok,\(bad)"), bad) { error in
                XCTAssertTrue("\(error)".contains(bad), "error should quote \(bad): \(error)")
            }
        }
    }

    func testUnclosedBracketIsRejected() {
        XCTAssertThrowsError(try TargetPattern.parseList("team-[ab"))
        XCTAssertThrowsError(try TargetPattern.parseList("team-[]"))
    }

    func testGlobCharactersMatchLikeFnmatch() throws {
        let cases: [(pattern: String, name: String, matches: Bool)] = [
            ("team-*", "team-a", true),
            ("team-*", "team-", true),
            ("team-*", "teams", false),
            ("team-?", "team-a", true),
            ("team-?", "team-ab", false),
            ("team-[a-c]", "team-b", true),
            ("team-[a-c]", "team-d", false),
            ("team-[!a-c]", "team-d", true),
            ("team-[!a-c]", "team-a", false),
            ("*-prod", "payments-prod", true),
            ("*-prod", "payments-dev", false),
            ("[pq]*", "payments", true),
        ]
        for c in cases {
            let pattern = try XCTUnwrap(TargetPattern.parseList(c.pattern).first)
            XCTAssertEqual(pattern.matches(c.name), c.matches, "\(c.pattern) vs \(c.name)")
        }
    }

    func testCaretNegationIsNotPartOfTheSupportedSyntax() {
        XCTAssertThrowsError(try TargetPattern.parseList("team-[^a]"))
    }

    func testANameMatchesOnlyItself() throws {
        let pattern = try XCTUnwrap(TargetPattern.parseList("payments").first)
        XCTAssertTrue(pattern.matches("payments"))
        XCTAssertFalse(pattern.matches("payments-2"))
    }
}
