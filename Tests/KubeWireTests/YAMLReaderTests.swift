import SpillwayTestSupport
import XCTest
import Yams
@testable import KubeWire

/// `YAMLReader` types plain scalars by hand; Yams' default resolver, whose regular expressions it
/// replaces, is the oracle.
final class YAMLReaderTests: XCTestCase {
    private func oracle(_ text: String) -> YAMLTag {
        YAMLTag(rawValue: Resolver.default.resolveTag(of: Node.scalar(.init(text, Tag(.implicit, .default, .default), .plain))).rawValue)
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
        let keys = maps.compactMap { map -> YAMLNode? in
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

    // MARK: composing, held to Yams (libyaml under a Swift composer), which spillwayd no longer links

    /// The JSON the previous reader made of a document: Yams' composer and default resolver, and
    /// its constructors for the scalar types.
    private func yamsJSON(_ node: Node) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            switch Tag.Name(rawValue: node.tag.rawValue) {
            case .null: return .null
            case .bool: return node.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int: return node.int.map { .int(Int64($0)) } ?? .string(scalar.string)
            case .float: return node.float.map(JSONValue.double) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = yamsJSON(value) }
            return .object(object)
        case .sequence(let sequence):
            return .array(sequence.map(yamsJSON))
        case .alias:
            return .null
        }
    }

    private static let corpus = [
        """
        apiVersion: v1
        kind: Config
        current-context: prod
        clusters:
        - cluster:
            certificate-authority-data: LS0tLS1CRUdJTg==
            server: https://10.0.0.1:6443
            insecure-skip-tls-verify: false
          name: prod
        contexts:
        - context: {cluster: prod, user: admin, namespace: "team-a"}
          name: prod
        users:
        - name: admin
          user:
            exec:
              apiVersion: client.authentication.k8s.io/v1
              command: aws
              args: ["eks", "get-token", '--cluster-name', prod]
              env: null
              interactiveMode: IfAvailable
        preferences: {}
        """,
        """
        defaults: &defaults
          qps: 5
          burst: 10
          ratio: 0.5
        prod:
          <<: *defaults
          burst: 20
        list: &items [a, b, c]
        again: *items
        """,
        """
        literal: |
          line one
            indented
          line three
        folded: >-
          folded
          text

          paragraph
        keep: |+
          kept

        quoted: "tab\\there \\u00e9 \\"q\\" \\\\"
        single: 'it''s'
        empty-string: ""
        tilde: ~
        nothing:
        """,
        """
        ints: [0, -0, +12, 0x1F, 0o17, 017, 0b101, 1_000, 190:20:30, -1:30, 08, 0x, 12abc]
        floats: [1.5, -1.5e+10, .5, +.inf, -.Inf, 1:30.5, 1_000.5, 1e5]
        bools: [yes, No, ON, off, TRUE, false, y, n]
        tagged: [!!str 3, !!int "7", !!float "2", !!bool "yes", !custom x]
        stamps: [2001-12-14, 2001-12-14t21:59:43.10-05:00]
        odd: [<<, =, "<<", 'x:y', a b c, -dash, "multi
          line", plain
          continued]
        """,
        """
        # only a comment
        ---
        first: 1
        ...
        ---
        - second
        ---
        ---
        third: [{a: 1}, [2, [3]], {}]
        """,
        """
        unicode: "héllo wörld 日本"
        key with spaces: value
        "quoted key": 1
        ? complex
        : value
        nested:
          - - a
            - b
          - {x: [1, {y: z}]}
        """,
    ]

    func testDocumentsReadAsYamsReadThem() throws {
        for text in Self.corpus {
            var theirs: [JSONValue] = []
            var stream = try Yams.compose_all(yaml: text, Resolver.default)
            while let document = stream.next() { theirs.append(yamsJSON(document)) }
            XCTAssertNil(stream.error)
            XCTAssertEqual(try YAMLToJSON.documents(text), theirs, text)
        }
    }

    func testAnAliasIsTheNodeItsAnchorNamesAndAMergeKeyStaysAKey() throws {
        let node = try XCTUnwrap(YAMLReader.compose(Self.corpus[1]))
        let json = YAMLToJSON.json(node)
        XCTAssertEqual(json["again"], .array([.string("a"), .string("b"), .string("c")]))
        XCTAssertEqual(json["prod"]?["<<"]?["qps"], .int(5))
        guard case .mapping(let root) = node, case .mapping(let prod)? = root.first(where: { $0.key.string == "prod" })?.value else {
            return XCTFail("not a mapping")
        }
        XCTAssertTrue(YAMLReader.isMergeKey(prod[0].key))
        XCTAssertEqual(prod[0].key.mark, YAMLMark(line: 6, column: 3))
    }

    func testSyntaxErrorsSayWhatAndWhereInLibyamlsWords() {
        let broken = ["a: [1, 2\n", "a: {\n", "a: b: c\n", "- a\nb: c\n", "a:\n  - b\n - c\n", "\"open\n", "a: 'x\n", "[a, b]]\n", "a: !<tag x\n"]
        for text in broken {
            var expected: (problem: String, line: Int, column: Int)?
            do {
                var stream = try Yams.compose_all(yaml: text, Resolver.default)
                while stream.next() != nil {}
                if case .scanner(_, let problem, let mark, _)? = stream.error as? YamlError { expected = (problem, mark.line, mark.column) }
                if case .parser(_, let problem, let mark, _)? = stream.error as? YamlError { expected = (problem, mark.line, mark.column) }
            } catch {
                if case .scanner(_, let problem, let mark, _) = error as? YamlError { expected = (problem, mark.line, mark.column) }
                if case .parser(_, let problem, let mark, _) = error as? YamlError { expected = (problem, mark.line, mark.column) }
            }
            guard let expected else { XCTFail("Yams read \(text.debugDescription)"); continue }
            XCTAssertThrowsError(try YAMLReader.composeAll(text), text.debugDescription) { error in
                guard let error = error as? YAMLError else { return XCTFail("\(error)") }
                XCTAssertEqual(error.problem, expected.problem, text.debugDescription)
                XCTAssertEqual(error.mark, YAMLMark(line: expected.line, column: expected.column), text.debugDescription)
                XCTAssertEqual("\(error)", "line \(expected.line), column \(expected.column): \(expected.problem)")
            }
        }
    }

    func testAKeyTwiceAnUnknownAliasAndTwoDocumentsWhereOneIsExpectedAreErrors() {
        XCTAssertThrowsError(try YAMLReader.compose("a: 1\nb: 2\na: 3\n")) { error in
            XCTAssertEqual("\(error)", "line 3, column 1: mapping key \"a\" already defined")
        }
        XCTAssertThrowsError(try YAMLReader.compose("a: *nowhere\n")) { error in
            XCTAssertEqual("\(error)", "line 1, column 4: found undefined alias \"nowhere\"")
        }
        XCTAssertThrowsError(try YAMLReader.compose("a: 1\n---\nb: 2\n")) { error in
            XCTAssertTrue("\(error)".contains("expected a single document"), "\(error)")
        }
        XCTAssertNil(try YAMLReader.compose(""))
        XCTAssertNil(try YAMLReader.compose("# nothing\n"))
    }

    func testFlowTextReadsBackToTheSameStrings() throws {
        let node = try XCTUnwrap(YAMLReader.compose("""
            prod-a: {qps: 5, protected-namespaces: [kube-system, "with \\"quote\\""], note: "<&>"}
            prod-b:
              require-namespace-consent: yes
              multi: |
                two
                lines
            """))
        let text = YAMLWriter.flow(node)
        let again = try XCTUnwrap(YAMLReader.compose(text))
        func strings(_ node: YAMLNode) -> JSONValue {
            switch node {
            case .scalar(let scalar): return .string(scalar.string)
            case .sequence(let items): return .array(items.map(strings))
            case .mapping(let entries):
                return .object(Dictionary(uniqueKeysWithValues: entries.map { ($0.key.string ?? "", strings($0.value)) }))
            }
        }
        XCTAssertEqual(strings(again), strings(node), text)
        XCTAssertEqual(strings(again)["prod-b"]?["require-namespace-consent"], .string("yes"))
        XCTAssertEqual(strings(again)["prod-b"]?["multi"], .string("two\nlines"))
    }

    func testABase60NumberBeyondAnIntIsTextNotATrap() throws {
        // Found by fuzzing the kubeconfig reader: every part multiplied the next by 60 until the
        // multiplication trapped and stopped the process.
        let documents = try YAMLToJSON.documents("""
            long: 10:0:5:0:5:0:0:0:5:0:10:0
            lowest: -1:-9223372036854775808
            wide: 1:0:0:0:0:0:0:0:0:0:0
            fits: -190:20:30
            """)
        XCTAssertEqual(documents, [.object([
            "long": .string("10:0:5:0:5:0:0:0:5:0:10:0"), "lowest": .string("-1:-9223372036854775808"),
            "wide": .int(604_661_760_000_000_000), "fits": .int(-685_230),
        ])])
    }
}
