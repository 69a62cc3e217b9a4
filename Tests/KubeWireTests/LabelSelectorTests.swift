import SpillwayContract
import XCTest

final class LabelSelectorTests: XCTestCase {
    private func matches(_ selector: String, _ labels: [String: String]) throws -> Bool {
        try LabelSelector(parsing: selector).matches(labels)
    }

    func testEveryOperatorMatchesAsKubernetesDoes() throws {
        let prod = ["env": "prod", "tier": "web"]
        let cases: [(selector: String, labels: [String: String], matches: Bool)] = [
            ("env=prod", prod, true),
            ("env=dev", prod, false),
            ("env==prod", prod, true),
            ("env!=prod", prod, false),
            ("env!=dev", prod, true),
            ("env!=dev", [:], true),  // != matches a missing label
            ("env in (dev,prod)", prod, true),
            ("env in (dev,qa)", prod, false),
            ("env in (dev)", [:], false),
            ("env notin (dev,qa)", prod, true),
            ("env notin (prod)", prod, false),
            ("env notin (prod)", [:], true),  // notin matches a missing label
            ("env", prod, true),
            ("env", [:], false),
            ("!env", prod, false),
            ("!env", [:], true),
            ("env=", ["env": ""], true),
            ("env=", prod, false),
        ]
        for c in cases {
            XCTAssertEqual(try matches(c.selector, c.labels), c.matches, "\(c.selector) on \(c.labels)")
        }
    }

    func testCommaMeansAnd() throws {
        XCTAssertTrue(try matches("env=prod,tier=web", ["env": "prod", "tier": "web"]))
        XCTAssertFalse(try matches("env=prod,tier=web", ["env": "prod", "tier": "db"]))
        XCTAssertTrue(try matches("env in (prod,qa),!legacy,tier", ["env": "qa", "tier": "x"]))
    }

    func testWhitespaceBetweenTokensIsIgnored() throws {
        XCTAssertTrue(try matches("  env = prod ,  tier  in ( web , db ) ", ["env": "prod", "tier": "db"]))
        XCTAssertTrue(try matches("! legacy", [:]))
    }

    func testPrefixedKeysAreAccepted() throws {
        XCTAssertTrue(try matches("kubernetes.io/metadata.name=team-a", ["kubernetes.io/metadata.name": "team-a"]))
        XCTAssertTrue(try matches("example.com/owner", ["example.com/owner": "me"]))
    }

    func testDescriptionIsCanonical() throws {
        XCTAssertEqual(try LabelSelector(parsing: " env == prod , tier in (web, db , web) ,!x").description,
                       "env=prod,tier in (db,web),!x")
    }

    func testMalformedSelectorsAreRejected() {
        let bad = [
            "", "   ", "env=prod,", ",env", "env in (a,b", "env in a,b", "env in ()", "env in (a,,b)",
            "env notin", "env = = prod", "env=prod)", "(env)", "env>1", "env=prod tier=web",
            "-env=x", "env=-x", "env=" + String(repeating: "v", count: 64), "a/b/c=x", "Bad_Prefix/x=y",
            "env=pr od", "!", "!env=prod",
        ]
        for selector in bad {
            XCTAssertThrowsError(try LabelSelector(parsing: selector), "\"\(selector)\" should be rejected")
        }
    }

    func testErrorQuotesTheSelectorAndTheProblem() {
        XCTAssertThrowsError(try LabelSelector(parsing: "env in (a,b")) { error in
            let text = "\(error)"
            XCTAssertTrue(text.contains("env in (a,b"), text)
            XCTAssertTrue(text.contains("')'"), text)
        }
    }
}
