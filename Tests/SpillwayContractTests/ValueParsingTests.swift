import KubeWire
@testable import SpillwayContract
import XCTest

final class DurationParsingTests: XCTestCase {
    func testGoStyleDurationsParse() throws {
        let cases: [(String, Int64)] = [
            ("30m", 1_800), ("24h", 86_400), ("168h", 604_800), ("1h30m", 5_400), ("90s", 90),
            ("1.5h", 5_400), ("2h45m30s", 9_930), (" 10m ", 600), ("+5s", 5),
        ]
        for (text, seconds) in cases {
            XCTAssertEqual(try ReplicationSpec.parseTTL(text).nanoseconds, seconds * 1_000_000_000, text)
        }
        XCTAssertEqual(try ReplicationSpec.parseTTL("250ms").nanoseconds, 250_000_000)
        XCTAssertEqual(try ReplicationSpec.parseTTL("3us").nanoseconds, 3_000)
        XCTAssertEqual(try ReplicationSpec.parseTTL("3µs").nanoseconds, 3_000)
        XCTAssertEqual(try ReplicationSpec.parseTTL("7ns").nanoseconds, 7)
    }

    func testZeroNegativeAndMalformedDurationsAreRejected() {
        for bad in ["", "0", "0s", "0h0m", "-1h", "10", "1d", "h", "1.h2", "1 h", "one hour", "1h-30m", "99999999999h", ".h"] {
            XCTAssertThrowsError(try ReplicationSpec.parseTTL(bad), "\"\(bad)\" should be rejected")
        }
    }

    func testDurationErrorShowsExamples() {
        XCTAssertThrowsError(try ReplicationSpec.parseTTL("1d")) { error in
            XCTAssertTrue("\(error)".contains("\"d\""), "\(error)")
            XCTAssertTrue("\(error)".contains("168h"), "\(error)")
        }
        XCTAssertThrowsError(try ReplicationSpec.parseTTL("0s")) { error in
            XCTAssertTrue("\(error)".contains("greater than zero"), "\(error)")
        }
    }

    func testCanonicalDescription() throws {
        XCTAssertEqual(try ReplicationSpec.parseTTL("90m").description, "1h30m0s")
        XCTAssertEqual(try ReplicationSpec.parseTTL("90s").description, "1m30s")
    }

    /// Found by the go-duration fuzz target: fractions went through a Double, one nanosecond short.
    func testFractionsAreExact() throws {
        XCTAssertEqual(try GoDuration(parsing: "0.500002s").nanoseconds, 500_002_000)
        XCTAssertEqual(try GoDuration(parsing: "1h2us.5s").description, "1h0m0.500002s")
        XCTAssertEqual(try GoDuration(parsing: "1.000000000000000000009h").nanoseconds, 3_600_000_000_000)
        XCTAssertEqual(try GoDuration(parsing: "0.1h").nanoseconds, 360_000_000_000)
    }

    /// Found by the go-duration fuzz target: a sub-millisecond fraction printed as "1.5e-06s".
    func testEveryDurationPrintsAsGoTextThatParsesBackToItself() throws {
        let cases: [(String, String)] = [
            ("1.5us", "1.5µs"), ("7ns", "7ns"), ("250ms", "250ms"), ("1.000001s", "1.000001s"), ("90m", "1h30m0s"),
            ("2562047h47m16.854775807s", "2562047h47m16.854775807s"), ("61s", "1m1s"), ("1.5h", "1h30m0s"),
        ]
        for (text, printed) in cases {
            let duration = try GoDuration(parsing: text)
            XCTAssertEqual(duration.description, printed, text)
            XCTAssertEqual(try GoDuration(parsing: duration.description), duration, text)
        }
    }
}

final class AcceptFromParsingTests: XCTestCase {
    private let source = ObjectKey(kind: .secret, namespace: "platform", name: "db-pass")

    private func admits(_ text: String, _ key: ObjectKey) throws -> Bool {
        try AcceptPattern.parseList(text).contains { $0.matches(key) }
    }

    func testExactPatternAdmitsOnlyThatSource() throws {
        XCTAssertTrue(try admits("Secret/platform/db-pass", source))
        XCTAssertFalse(try admits("Secret/platform/other", source))
        XCTAssertFalse(try admits("ConfigMap/platform/db-pass", source))
    }

    func testStarPerSegment() throws {
        XCTAssertTrue(try admits("*/*/*", source))
        XCTAssertTrue(try admits("Secret/platform/*", source))
        XCTAssertTrue(try admits("*/platform/db-pass", source))
        XCTAssertTrue(try admits("Secret/*/db-*", source))
        XCTAssertFalse(try admits("ConfigMap/*/*", source))
    }

    func testListIsCommaSeparatedWithBlanksIgnored() throws {
        XCTAssertTrue(try admits(" ConfigMap/x/y , ,Secret/platform/* ", source))
        XCTAssertEqual(try AcceptPattern.parseList(" , ").count, 0)
    }

    func testMalformedPatternsAreRejected() {
        for bad in ["Secret/platform", "Secret//db", "Pod/ns/name", "Secret/a/b/c", "secret/a/b", "Secret/ns/na me"] {
            XCTAssertThrowsError(try AcceptPattern.parseList(bad), bad)
        }
    }
}

final class ObjectKeyTests: XCTestCase {
    func testSourceFromRoundTrips() {
        let key = ObjectKey(kind: .configMap, namespace: "ns", name: "app.settings")
        XCTAssertEqual(key.description, "ConfigMap/ns/app.settings")
        XCTAssertEqual(ObjectKey(key.description), key)
        XCTAssertEqual(ObjectKey("Secret/ñs-ü/nåme.x"), ObjectKey(kind: .secret, namespace: "ñs-ü", name: "nåme.x"))
    }

    func testMalformedSourceFromDoesNotParse() {
        for bad in ["Secret/ns", "Pod/ns/x", "Secret//x", "Secret/ns/", "Secret/ns/x/y", "", "/", "//", "///",
                    "Secret", "Secret/", "/ns/x", "secret/ns/x", "Secret/ns/x/", "Secret/ñs/x/"] {
            XCTAssertNil(ObjectKey(bad), bad)
        }
    }
}

final class ReplicationSpecTests: XCTestCase {
    func testEveryAnnotationParses() throws {
        let spec = try ReplicationSpec.parse([
            Vocabulary.replicateTo: "team-*, payments",
            Vocabulary.replicateToMatching: "env=prod",
            Vocabulary.excludeNamespaces: "team-qa",
            Vocabulary.includeKeys: "tls.crt, tls.key",
            Vocabulary.excludeKeys: "debug",
            Vocabulary.replicaTTL: "24h",
            Vocabulary.expiredNamespaces: "team-a,team-b",
            Vocabulary.forceAdopt: "true",
        ])
        XCTAssertEqual(spec.targets.map(\.description), ["team-*", "payments"])
        XCTAssertEqual(spec.selector?.description, "env=prod")
        XCTAssertEqual(spec.excludes, [.name("team-qa")])
        XCTAssertEqual(spec.includeKeys, ["tls.crt", "tls.key"])
        XCTAssertEqual(spec.excludeKeys, ["debug"])
        XCTAssertEqual(spec.ttl?.nanoseconds, 86_400 * 1_000_000_000)
        XCTAssertEqual(spec.expiredNamespaces, ["team-a", "team-b"])
        XCTAssertTrue(spec.forceAdopt)
    }

    func testBlankSelectorAndKeyListsMeanAbsentNotEverything() throws {
        let spec = try ReplicationSpec.parse([
            Vocabulary.replicateToMatching: "  ", Vocabulary.includeKeys: " , ", Vocabulary.replicateTo: "a",
        ])
        XCTAssertNil(spec.selector)
        XCTAssertNil(spec.includeKeys)
    }

    func testEveryMalformedAnnotationIsReportedWithNameAndValue() {
        XCTAssertThrowsError(try ReplicationSpec.parse([
            Vocabulary.replicateTo: "Team_A",
            Vocabulary.replicateToMatching: "env in (",
            Vocabulary.replicaTTL: "1d",
            Vocabulary.includeKeys: "a b",
            Vocabulary.forceAdopt: "yes",
        ])) { error in
            let errors = (error as? InvalidAnnotations)?.errors ?? []
            XCTAssertEqual(Set(errors.map(\.annotation)), [Vocabulary.replicateTo, Vocabulary.replicateToMatching,
                                                           Vocabulary.replicaTTL, Vocabulary.includeKeys,
                                                           Vocabulary.forceAdopt])
            let ttl = errors.first { $0.annotation == Vocabulary.replicaTTL }
            XCTAssertEqual(ttl?.value, "1d")
            XCTAssertTrue(ttl?.description.contains("spillway.kroy.io/replica-ttl=\"1d\"") ?? false)
        }
    }

    func testForceAdoptAcceptsTrueAndFalseInAnyCase() throws {
        XCTAssertTrue(try ReplicationSpec.parse([Vocabulary.forceAdopt: "TRUE"]).forceAdopt)
        XCTAssertFalse(try ReplicationSpec.parse([Vocabulary.forceAdopt: "false"]).forceAdopt)
        XCTAssertFalse(try ReplicationSpec.parse([:]).forceAdopt)
    }

    func testMalformedExpiredNamespacesIsReported() {
        XCTAssertThrowsError(try ReplicationSpec.parse([Vocabulary.expiredNamespaces: "ok,Not_OK"]))
    }
}

final class SourceRecognitionTests: XCTestCase {
    func testAnObjectWithReplicateToIsASource() {
        XCTAssertTrue(Vocabulary.isSource(labels: [:], annotations: [Vocabulary.replicateTo: "all"]))
        XCTAssertTrue(Vocabulary.isSource(labels: [:], annotations: [Vocabulary.replicateToMatching: "env=prod"]))
        XCTAssertFalse(Vocabulary.isSource(labels: [:], annotations: [Vocabulary.excludeNamespaces: "x"]))
    }

    func testManagedReplicasAreNeverSourcesEvenWithReplicationAnnotations() {
        XCTAssertFalse(Vocabulary.isSource(labels: [Vocabulary.managedByLabel: "spillway"],
                                           annotations: [Vocabulary.replicateTo: "all"]))
    }
}

final class TimestampTests: XCTestCase {
    func testFormatsUTCWholeSeconds() {
        XCTAssertEqual(Timestamp.format(Date(timeIntervalSince1970: 1_800_000_000.75)), "2027-01-15T08:00:00Z")
    }

    func testParsesOwnFormatFractionsAndOffsets() {
        XCTAssertEqual(Timestamp.parse("2027-01-15T08:00:00Z"), Date(timeIntervalSince1970: 1_800_000_000))
        XCTAssertEqual(Timestamp.parse("2027-01-15T10:00:00+02:00"), Date(timeIntervalSince1970: 1_800_000_000))
        XCTAssertEqual(Timestamp.parse("2027-01-15T08:00:00.500Z")?.timeIntervalSince1970, 1_800_000_000.5)
        XCTAssertNil(Timestamp.parse("tomorrow"))
    }
}
