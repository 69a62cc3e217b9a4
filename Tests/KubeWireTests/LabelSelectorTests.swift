import KubeWire
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

    func testEmptySetsAndEmptyValuesAreTheEmptyValueAsInKubernetes() throws {
        // A real kube-apiserver v1.32 accepts these (Tests/Golden: list-empty-set-selector).
        XCTAssertFalse(try matches("env in ()", ["env": "prod"]))
        XCTAssertTrue(try matches("env in ()", ["env": ""]))
        XCTAssertTrue(try matches("env notin ()", ["env": "prod"]))
        XCTAssertTrue(try matches("env in (a,,b)", ["env": ""]))
        XCTAssertEqual(try LabelSelector(parsing: "env in (,b)").requirements.first?.values, ["", "b"])
    }

    func testIntegerComparisons() throws {
        XCTAssertTrue(try matches("replicas>1", ["replicas": "3"]))
        XCTAssertFalse(try matches("replicas<1", ["replicas": "3"]))
        XCTAssertFalse(try matches("replicas>1", ["replicas": "many"]))
        XCTAssertFalse(try matches("replicas>1", [:]))
    }

    func testTheEmptySelectorMatchesEverything() throws {
        XCTAssertTrue(try LabelSelector(parsing: "").isEmpty)
        XCTAssertTrue(try LabelSelector(parsing: "   ").matches(["any": "thing"]))
    }

    func testMalformedSelectorsAreRejected() {
        let bad = [
            "env=prod,", ",env", "env in (a,b", "env in a,b", "env notin", "env = = prod", "env=prod)", "(env)",
            "env=prod tier=web", "-env=x", "env=-x", "env=" + String(repeating: "v", count: 64), "a/b/c=x", "Bad_Prefix/x=y",
            "env=pr od", "!", "!env=prod", "env>one",
        ]
        for selector in bad {
            XCTAssertThrowsError(try LabelSelector(parsing: selector), "\"\(selector)\" should be rejected")
        }
    }

    func testErrorsAreWordedAsTheAPIServerWordsThem() {
        // Each message as a real kube-apiserver v1.32 answers it (Tests/Golden: list-bad-selector-*).
        let cases: [(String, String)] = [
            ("!!a", "unable to parse requirement: found '!', expected: identifier"),
            ("a=b,", "found '', expected: identifier after ','"),
            ("a in (x", "unable to parse requirement: found '', expected: ',' or ')'"),
            ("a==b=c", "found '=', expected: ',' or 'end of string'"),
            ("Bad Key=x", "unable to parse requirement: found 'Key', expected: in, notin, =, ==, !=, gt, lt"),
            ("a=too long", "found 'long', expected: ',' or 'end of string'"),
            ("k=-bad-", "unable to parse requirement: values[0][k]: Invalid value: \"-bad-\": " + NameValidation.labelValueMessage),
        ]
        for (selector, message) in cases {
            XCTAssertThrowsError(try LabelSelector(parsing: selector), selector) { XCTAssertEqual("\($0)", message, selector) }
        }
    }
}
