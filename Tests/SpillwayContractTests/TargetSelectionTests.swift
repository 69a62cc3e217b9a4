import KubeWire
import SpillwayContract
import XCTest

final class TargetSelectionTests: XCTestCase {
    private let source = ObjectKey(kind: .secret, namespace: "default", name: "db-pass")

    private func verdicts(_ annotations: [String: String], _ namespaces: [NamespaceInfo],
                          options: Options = Options()) throws -> [String: NamespaceVerdict] {
        let spec = try ReplicationSpec.parse(annotations)
        let list = TargetSelection.evaluate(spec, source: source, namespaces: namespaces, options: options)
        return Dictionary(uniqueKeysWithValues: list.map { ($0.namespace, $0) })
    }

    private func targets(_ annotations: [String: String], _ namespaces: [NamespaceInfo],
                         options: Options = Options()) throws -> Set<String> {
        Set(try verdicts(annotations, namespaces, options: options).values.filter { $0.status == .target }.map(\.namespace))
    }

    private let cluster = World.namespaces("default", "kube-system", "team-a", "team-b", "team-qa-1", "sandbox", "prod")

    func testAllTargetsEveryNamespaceButTheSourcesOwnAndProtectedOnes() throws {
        XCTAssertEqual(try targets([Vocabulary.replicateTo: "all"], cluster),
                       ["team-a", "team-b", "team-qa-1", "sandbox", "prod"])
        XCTAssertEqual(try targets([Vocabulary.replicateTo: "*"], cluster),
                       ["team-a", "team-b", "team-qa-1", "sandbox", "prod"])
    }

    func testSourceNamespaceIsNeverATargetEvenWhenNamed() throws {
        let result = try verdicts([Vocabulary.replicateTo: "default,team-a"], cluster)
        XCTAssertNil(result["default"])
        XCTAssertEqual(result["team-a"]?.status, .target)
    }

    func testMixedNamesAndGlobs() throws {
        XCTAssertEqual(try targets([Vocabulary.replicateTo: "team-*,sandbox,prod"], cluster),
                       ["team-a", "team-b", "team-qa-1", "sandbox", "prod"])
    }

    func testNamesOfMissingNamespacesTargetNothing() throws {
        XCTAssertEqual(try targets([Vocabulary.replicateTo: "nope,team-a"], cluster), ["team-a"])
    }

    func testExcludeWinsOverInclude() throws {
        let result = try verdicts([Vocabulary.replicateTo: "team-*,sandbox",
                                   Vocabulary.excludeNamespaces: "team-qa-*,sandbox"], cluster)
        XCTAssertEqual(result["team-a"]?.status, .target)
        XCTAssertEqual(result["team-qa-1"]?.status, .notTarget)
        XCTAssertEqual(result["team-qa-1"]?.cause, .excluded)
        XCTAssertEqual(result["team-qa-1"]?.reason, "excluded by exclude-namespaces team-qa-*")
        XCTAssertEqual(result["sandbox"]?.cause, .excluded)
    }

    func testExcludeWinsOverAnExplicitlyNamedProtectedNamespace() throws {
        let result = try verdicts([Vocabulary.replicateTo: "kube-system", Vocabulary.excludeNamespaces: "kube-*"], cluster)
        XCTAssertEqual(result["kube-system"]?.cause, .excluded)
    }

    func testExcludeWinsOverSelectorMatches() throws {
        let namespaces = [World.namespace("a", labels: ["env": "prod"]), World.namespace("b", labels: ["env": "prod"])]
        XCTAssertEqual(try targets([Vocabulary.replicateToMatching: "env=prod", Vocabulary.excludeNamespaces: "b"],
                                   namespaces), ["a"])
    }

    func testProtectedNamespaceIsSkippedByAllAndGlobs() throws {
        for pattern in ["all", "*", "kube-*", "*-system", "kube-syste?"] {
            let result = try verdicts([Vocabulary.replicateTo: pattern], cluster)
            XCTAssertEqual(result["kube-system"]?.status, .notTarget, pattern)
            XCTAssertEqual(result["kube-system"]?.cause, .protectedNamespace, pattern)
            XCTAssertEqual(result["kube-system"]?.matched, true, pattern)
        }
    }

    func testProtectedNamespaceHoldsAgainstLabelSelectors() throws {
        let namespaces = [World.namespace("kube-system", labels: ["env": "prod"]),
                          World.namespace("app", labels: ["env": "prod"])]
        let result = try verdicts([Vocabulary.replicateToMatching: "env=prod"], namespaces)
        XCTAssertEqual(result["kube-system"]?.cause, .protectedNamespace)
        XCTAssertEqual(result["app"]?.status, .target)
    }

    func testProtectedNamespaceIsIncludedWhenNamedExplicitly() throws {
        let result = try verdicts([Vocabulary.replicateTo: "all,kube-system"], cluster)
        XCTAssertEqual(result["kube-system"]?.status, .target)
        XCTAssertEqual(result["kube-system"]?.cause, .namedInReplicateTo)
    }

    func testProtectedNamespacesComeFromOptions() throws {
        let options = Options(protectedNamespaces: ["kube-system", "prod"])
        XCTAssertEqual(try targets([Vocabulary.replicateTo: "all"], cluster, options: options),
                       ["team-a", "team-b", "team-qa-1", "sandbox"])
        XCTAssertEqual(try targets([Vocabulary.replicateTo: "all"], cluster, options: Options(protectedNamespaces: [])),
                       ["kube-system", "team-a", "team-b", "team-qa-1", "sandbox", "prod"])
    }

    func testReplicateToAndReplicateToMatchingAreUnited() throws {
        let namespaces = [World.namespace("a"), World.namespace("b", labels: ["env": "prod"]), World.namespace("c")]
        XCTAssertEqual(try targets([Vocabulary.replicateTo: "a", Vocabulary.replicateToMatching: "env=prod"], namespaces),
                       ["a", "b"])
    }

    func testReasonNamesTheRuleThatMatched() throws {
        let namespaces = [World.namespace("payments"), World.namespace("team-a"), World.namespace("x"),
                          World.namespace("y", labels: ["env": "prod"])]
        let named = try verdicts([Vocabulary.replicateTo: "team-*,payments"], namespaces)
        XCTAssertEqual(named["payments"]?.reason, "named in replicate-to")
        XCTAssertEqual(named["team-a"]?.reason, "matched replicate-to pattern team-*")
        XCTAssertEqual(named["x"]?.reason, "not matched by replicate-to or replicate-to-matching")
        XCTAssertEqual(try verdicts([Vocabulary.replicateTo: "all"], namespaces)["x"]?.reason, "matched replicate-to all")
        XCTAssertEqual(try verdicts([Vocabulary.replicateToMatching: "env = prod"], namespaces)["y"]?.reason,
                       "matched replicate-to-matching env=prod")
    }

    func testConsentAbsentAcceptsByDefault() throws {
        XCTAssertEqual(try targets([Vocabulary.replicateTo: "a"], [World.namespace("a")]), ["a"])
    }

    func testConsentAbsentDeniesWhenConsentIsRequired() throws {
        let result = try verdicts([Vocabulary.replicateTo: "a"], [World.namespace("a")],
                                  options: Options(requireNamespaceConsent: true))
        XCTAssertEqual(result["a"]?.status, .notTarget)
        XCTAssertEqual(result["a"]?.cause, .consentDenied)
    }

    func testAcceptFromMustAdmitTheSource() throws {
        let namespaces = [World.namespace("a", acceptFrom: "Secret/default/*"),
                          World.namespace("b", acceptFrom: "Secret/other/*,ConfigMap/*/*"),
                          World.namespace("c", acceptFrom: "*/*/db-pass")]
        for options in [Options(), Options(requireNamespaceConsent: true)] {
            let result = try verdicts([Vocabulary.replicateTo: "all"], namespaces, options: options)
            XCTAssertEqual(result["a"]?.status, .target)
            XCTAssertEqual(result["b"]?.cause, .consentDenied)
            XCTAssertTrue(result["b"]?.reason.contains("does not admit Secret/default/db-pass") ?? false)
            XCTAssertEqual(result["c"]?.status, .target)
        }
    }

    func testMalformedAcceptFromLeavesTheNamespaceAlone() throws {
        let result = try verdicts([Vocabulary.replicateTo: "a"], [World.namespace("a", acceptFrom: "Secret/only-two")])
        XCTAssertEqual(result["a"]?.status, .leaveAlone)
        XCTAssertEqual(result["a"]?.cause, .consentMalformed)
        XCTAssertTrue(result["a"]?.reason.contains("Secret/only-two") ?? false)
    }

    func testTerminatingNamespaceIsLeftAlone() throws {
        let result = try verdicts([Vocabulary.replicateTo: "all"], [World.namespace("gone", terminating: true)])
        XCTAssertEqual(result["gone"]?.status, .leaveAlone)
        XCTAssertEqual(result["gone"]?.cause, .namespaceTerminating)
    }

    func testNoIncludeMeansNoTargetsEvenWithExcludes() throws {
        XCTAssertEqual(try targets([Vocabulary.excludeNamespaces: "team-a"], cluster), [])
    }
}
