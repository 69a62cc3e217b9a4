import SpillwayTestSupport
import XCTest
import Yams
@testable import KubeWire

/// `YAMLReader` types plain scalars by hand; Yams' default resolver, whose regular expressions it
/// replaces, is the oracle.
final class YAMLReaderTests: XCTestCase {
    private func oracle(_ text: String) -> Tag.Name {
        Resolver.default.resolveTag(of: Node.scalar(.init(text, Tag(.implicit, .default, .default), .plain)))
    }

    func testTheScalarsConfigsHoldAreTypedAsYamsTypesThem() {
        let samples = [
            "", "~", "null", "Null", "NULL", "nil", "true", "True", "TRUE", "tRue", "yes", "Yes", "no", "NO", "on",
            "Off", "y", "n", "0", "-0", "+0", "00", "007", "08", "0o17", "0o", "0o8", "0b101", "0b", "0b2", "0x1F",
            "0xg", "0x", "-0x_a", "1_000", "0_1", "12", "+12", "-12", "1:30", "190:20:30", "1:60", "1:5:3", "1:123",
            "0:30", "1.5", "1.", "-1.5e+10", "1e5", "1e", "1E-3", ".5", ".5e-3", ".5e3", "._", ".", "+.inf", "-.Inf",
            ".INF", ".nan", ".NaN", "-.nan", "1:30.5", "190:20:30.15", "<<", "<", "=", "==", "2001-12-14",
            "2001-12-14t21:59:43.10-05:00", "2001-12-14 21:59:43.10 -5", "2001-12-15T02:59:43.1Z", "2002-12-14",
            "2001-1-1 1:00:00", "2001-12-14T21:59", "https://h:6443", "v1", "6443", "3.14.15", "1_2.3_4", "--1",
            "+-1", "0x1:2", "12:34:56", "127.0.0.1", "10m", "5s", "yes please",
        ]
        for text in samples {
            XCTAssertEqual(YAMLReader.plainScalarTag(text), oracle(text), "\"\(text)\"")
        }
    }

    func testRandomScalarsAgreeWithYamsDefaultResolver() {
        let alphabet = Array("0123456789_-+.:eExXbBoOaAfFiInNtTZ <=~lsuyr")
        var generator = SeededGenerator(seed: 0x5eed)
        for _ in 0..<20_000 {
            let length = Int(generator.next() % 9)
            let text = String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            XCTAssertEqual(YAMLReader.plainScalarTag(text), oracle(text), "\"\(text)\"")
        }
    }

    func testQuotedAndExplicitlyTaggedScalarsKeepTheirTags() throws {
        let node = try XCTUnwrap(YAMLReader.compose("""
            plain: 3
            quoted: "3"
            single: 'true'
            tagged: !!str 3
            merge: {<<: {a: 1}}
            list: [1, x]
            """))
        guard case .mapping(let mapping) = node else { return XCTFail("not a mapping") }
        let tags = Dictionary(uniqueKeysWithValues: mapping.map { ($0.key.string ?? "", YAMLReader.tag(of: $0.value)) })
        XCTAssertEqual(tags["plain"], .int)
        XCTAssertEqual(tags["quoted"], .str)
        XCTAssertEqual(tags["single"], .str)
        XCTAssertEqual(tags["tagged"], .str)
        XCTAssertEqual(tags["merge"], .map)
        XCTAssertEqual(tags["list"], .seq)
        let mergeKeys = try XCTUnwrap(YAMLReader.compose("[{<<: {a: 1}}, {'<<': 2}, {\"<<\": 3}, {<: 4}]"))
        guard case .sequence(let maps) = mergeKeys else { return XCTFail("not a sequence") }
        let keys = maps.compactMap { map -> Node? in
            guard case .mapping(let mapping) = map else { return nil }
            return mapping.first?.key
        }
        XCTAssertEqual(keys.map(YAMLReader.isMergeKey), [true, false, false, false])
    }

    func testASyntaxErrorInALaterDocumentIsAnErrorNotTheEndOfTheStream() {
        XCTAssertThrowsError(try YAMLToJSON.documents("a: 1\n---\nb: [1, 2\n---\nc: 3\n")) { error in
            XCTAssertTrue("\(error)".contains("line"), "\(error)")
        }
        XCTAssertThrowsError(try YAMLReader.composeAll("a: 1\n---\nb: {\n"))
    }

    func testManifestsReadAsBeforeNumbersBooleansAndNullsIncluded() throws {
        let documents = try YAMLToJSON.documents("""
            replicas: 3
            ratio: 0.5
            enabled: yes
            port: "8080"
            empty:
            when: 2001-12-14
            ---
            - 0x10
            - 0o17
            - 1_000
            - .inf
            """)
        XCTAssertEqual(documents.count, 2)
        XCTAssertEqual(documents[0], .object([
            "replicas": .int(3), "ratio": .double(0.5), "enabled": .bool(true), "port": .string("8080"),
            "empty": .null, "when": .string("2001-12-14"),
        ]))
        XCTAssertEqual(documents[1], .array([.int(16), .int(15), .int(1000), .double(.infinity)]))
    }
}
