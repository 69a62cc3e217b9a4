import GoldenSupport
import KubeWire
import XCTest

/// The metadata scanner (``ObjectMeta/decode(jsonObject:)``, ``MetadataListPage``) held to the
/// parser it stands in for: the same ObjectMeta from every object a real kube-apiserver sent
/// (Tests/Golden) and from hand-made edge cases, and the same rejection — offset and message —
/// of every document the parser rejects.
final class MetadataScanningTests: XCTestCase {
    /// Both readers of `text`: the scanner's answer and the parser's, as comparable values.
    private func bothReads(_ bytes: [UInt8], file: StaticString = #filePath, line: UInt = #line) -> (scanned: ObjectMeta?, parsed: ObjectMeta?) {
        let parsed = bytes.withUnsafeBytes { JSONParser.parseResult($0) }
        let scanned = bytes.withUnsafeBytes { ObjectMeta.decode(jsonObject: $0) }
        switch (parsed, scanned) {
        case (.success(let value), .success(let meta)):
            return (meta, ObjectMeta(object: value))
        case (.failure(let p), .failure(let s)):
            XCTAssertEqual(s, p, "the scanner rejects as the parser does", file: file, line: line)
        default:
            XCTFail("one accepts, the other rejects: parser \(parsed), scanner \(scanned)", file: file, line: line)
        }
        return (nil, nil)
    }

    private func assertSameMetadata(_ text: String, file: StaticString = #filePath, line: UInt = #line) -> ObjectMeta? {
        let (scanned, parsed) = bothReads(Array(text.utf8), file: file, line: line)
        XCTAssertEqual(scanned, parsed, text, file: file, line: line)
        return scanned
    }

    func testEveryObjectTheRealServerSentReadsTheSameAsParsed() throws {
        var objects = 0
        for (step, response) in try Golden.responses() where response.contentType.hasPrefix("application/json") {
            var bodies: [JSONValue] = []
            if step.path.contains("watch=true") {
                bodies = response.watchEvents.compactMap { $0["object"] }
            } else if let json = response.json {
                bodies = [json] + (json["items"]?.arrayValue ?? [])
                // Lists: the scanner's items are the parsed items' metadata.
                if let page = try? ListPage.decode(response.body) {
                    let scanned = try MetadataListPage.decode(response.body)
                    XCTAssertEqual(scanned.items, page.items.compactMap(ObjectMeta.init(object:)), step.name)
                    XCTAssertEqual(scanned.resourceVersion, page.resourceVersion, step.name)
                    XCTAssertEqual(scanned.continueToken, page.continueToken, step.name)
                    XCTAssertEqual(scanned.remainingItemCount, page.remainingItemCount, step.name)
                }
                // The whole body as the server wrote it (key order, spacing), not re-encoded.
                let (scanned, parsed) = bothReads(response.body)
                XCTAssertEqual(scanned, parsed, step.name)
            }
            for body in bodies {
                let bytes = body.encoded()
                let scanned = bytes.withUnsafeBytes { ObjectMeta(jsonObject: $0) }
                XCTAssertEqual(scanned, ObjectMeta(object: body), step.name)
                if scanned != nil { objects += 1 }
            }
        }
        XCTAssertGreaterThan(objects, 30, "the golden answers hold that many named objects")
    }

    /// A ConfigMap written with escapes, unicode, control characters, a finalizer, 4 KiB of
    /// data and binary data, as the real server answered it whole, as PartialObjectMetadata in
    /// a list and in a watch (with nested `managedFields` whose keys hold escaped quotes).
    func testTheRealServersUnusualConfigMapReadsTheSameEverywhere() throws {
        let expectedAnnotations = [
            "control": "tab\tnewline\nbell\u{7}", "empty": "", "html": "<b>&amp;</b>", "json-like": #"{"a":[1,null,true]}"#,
            "number-like": "1e400", "quote": #"say "hi" \ C:\path /"#, "unicode": "café 😀 中文 \u{200b}",
        ]
        let whole = try Golden.response("get-configmap-unusual").body
        let meta = try XCTUnwrap(whole.withUnsafeBytes { ObjectMeta(jsonObject: $0) })
        XCTAssertEqual(meta, ObjectMeta(object: try JSONParser.parse(whole)))
        XCTAssertEqual(meta.annotations, expectedAnnotations)
        XCTAssertEqual(meta.labels, ["app": "wire", "tier": "x.y_z-1"])
        XCTAssertEqual(meta.finalizers, ["example.com/hold"])
        let page = try MetadataListPage.decode(try Golden.response("list-configmaps-metadata").body)
        XCTAssertEqual(page.items, [meta])
        XCTAssertFalse(page.resourceVersion.isEmpty)
        var decoder = JSONStreamDecoder()
        let events = try decoder.feed(try Golden.response("watch-configmaps-metadata").body) { bytes in
            var s = JSONScanner(bytes)
            var read: ObjectMeta?
            do throws(JSONParseError) {
                try s.object { s, key throws(JSONParseError) in
                    if key == "object" { read = try ObjectMeta.read(object: &s)?.meta }
                }
                return .success(read)
            } catch {
                return .failure(error)
            }
        }
        XCTAssertEqual(events.first ?? nil, meta)
    }

    func testEscapesAndUnicodeReadAsTheParserReadsThem() throws {
        let meta = try XCTUnwrap(assertSameMetadata(#"""
            {"metadata":{"n\u0061me":"caf\u00e9 \ud83d\ude00 \"q\" \\ \/ \b\f\n\r\t","namespace":"ns",
             "labels":{"k\u00e9y":"v\u0000","emoji":"😀","lone":"\ud800x","bad":"\udc00"},
             "annotations":{"a/b":"\u003cscript\u003e"}}}
            """#))
        XCTAssertEqual(meta.name, "café 😀 \"q\" \\ / \u{8}\u{c}\n\r\t")
        XCTAssertEqual(meta.labels["kéy"], "v\u{0}")
        XCTAssertEqual(meta.labels["lone"], "\u{FFFD}x")
        XCTAssertEqual(meta.annotations["a/b"], "<script>")
        // Invalid UTF-8 is replaced, as Go's decoder does, by both.
        var bytes = Array(#"{"metadata":{"name":"a"#.utf8)
        bytes += [0xff, 0xc3]
        bytes += Array(#""}}"#.utf8)
        let (scanned, parsed) = bothReads(bytes)
        XCTAssertEqual(scanned, parsed)
        XCTAssertEqual(scanned?.name, "a\u{FFFD}\u{FFFD}")
    }

    func testNumbersNullsAndWrongTypesReadAsTheParserReadsThem() throws {
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","generation":7}}"#)?.generation, 7)
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","generation":7.0}}"#)?.generation, 7)
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","generation":7e2}}"#)?.generation, 700)
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","generation":-0}}"#)?.generation, 0)
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","generation":7.5}}"#)?.generation, 0)
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","generation":"7"}}"#)?.generation, 0)
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","generation":99999999999999999999}}"#)?.generation, 0)
        let nulls = try XCTUnwrap(assertSameMetadata(#"""
            {"metadata":{"name":"a","namespace":null,"uid":null,"deletionTimestamp":null,"labels":null,
             "annotations":{"x":null,"y":1,"z":"k"},"finalizers":[null,"f",{"g":1}]}}
            """#))
        XCTAssertNil(nulls.namespace)
        XCTAssertNil(nulls.deletionTimestamp)
        XCTAssertEqual(nulls.labels, [:])
        XCTAssertEqual(nulls.annotations, ["z": "k"])
        XCTAssertEqual(nulls.finalizers, ["f"])
        XCTAssertNil(assertSameMetadata(#"{"metadata":{"name":null}}"#))
        XCTAssertNil(assertSameMetadata(#"{"metadata":{"name":5}}"#))
        XCTAssertNil(assertSameMetadata(#"{"metadata":null}"#))
        XCTAssertNil(assertSameMetadata(#"{"metadata":"x"}"#))
        XCTAssertNil(assertSameMetadata(#"{"kind":"Secret"}"#))
        XCTAssertNil(assertSameMetadata(#"["metadata",{"name":"a"}]"#))
        XCTAssertNil(assertSameMetadata(#""metadata""#))
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","namespace":""}}"#)?.namespace, nil)
    }

    func testAMemberGivenTwiceCountsWithItsLastValue() throws {
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","name":"b"}}"#)?.name, "b")
        XCTAssertNil(assertSameMetadata(#"{"metadata":{"name":"a","name":null}}"#))
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a"},"metadata":{"name":"b","uid":"u"}}"#)?.uid, "u")
        XCTAssertNil(assertSameMetadata(#"{"metadata":{"name":"a"},"metadata":[]}"#))
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","labels":{"k":"1","k":"2"}}}"#)?.labels, ["k": "2"])
        XCTAssertEqual(assertSameMetadata(#"{"metadata":{"name":"a","labels":{"k":"1","k":2}}}"#)?.labels, [:])
    }

    func testEverythingButTheKeptFieldsIsSkippedHoweverLargeOrDeep() throws {
        // managedFields nested deep, ownerReferences, a megabyte of data after the metadata.
        var deep = ""
        for _ in 0..<100 { deep += #"{"f:x":"# }
        deep += "{}"
        for _ in 0..<100 { deep += "}" }
        let data = String(repeating: "QUJD", count: 256 * 1024)
        let text = #"""
            {"kind":"Secret","apiVersion":"v1","metadata":{"name":"big","namespace":"ns","uid":"u-1","resourceVersion":"42",
             "generation":3,"creationTimestamp":"2026-11-20T10:00:00Z","labels":{"app":"db"},
             "annotations":{"spillway.kroy.io/replicate-to":"team-*"},"finalizers":["f"],
             "ownerReferences":[{"apiVersion":"v1","kind":"Secret","name":"o","uid":"x","controller":true,"blockOwnerDeletion":false}],
             "managedFields":[{"manager":"m","operation":"Update","time":"2026-11-20T10:00:00Z","fieldsType":"FieldsV1","fieldsV1":\#(deep)}]},
             "data":{"a":"\#(data)","b":"","c":"\u0041"},"type":"Opaque","immutable":false,"n":[1,-2.5e-3,0,true,null]}
            """#
        let meta = try XCTUnwrap(assertSameMetadata(text))
        XCTAssertEqual(meta, ObjectMeta(
            name: "big", namespace: "ns", uid: "u-1", resourceVersion: "42", generation: 3,
            creationTimestamp: "2026-11-20T10:00:00Z", labels: ["app": "db"],
            annotations: ["spillway.kroy.io/replicate-to": "team-*"], finalizers: ["f"]))
    }

    func testWhatTheParserRejectsTheScannerRejectsTheSameWay() {
        let malformed = [
            "", " ", "{", "}", #"{"metadata""#, #"{"metadata":"#, #"{"metadata":{"name":"a"}"#,
            #"{"metadata":{"name":"a"}} x"#, #"{"metadata":{"name":"a",}}"#, #"{"a":1,}"#, #"{,}"#,
            #"{"a" 1}"#, #"{"a":1 "b":2}"#, "[1,]", "[1 2]", #"{"data":{"k":"\x"}}"#,
            #"{"data":{"k":"\u12G4"}}"#, "{\"data\":{\"k\":\"a\u{1}b\"}}", #"{"data":"unterminated}"#,
            #"{"n":01}"#, #"{"n":-}"#, #"{"n":1.}"#, #"{"n":1e}"#, #"{"n":1e400}"#, #"{"n":-1e400}"#,
            #"{"metadata":{"generation":1e999}}"#, #"{"b":tru}"#, #"{"b":nul}"#, #"{"b":falsy}"#,
            #"{"metadata":{"name":"a","labels":{"k":"v"]}}"#, #"{"metadata":{"name":"a","finalizers":["f"}}"#,
            String(repeating: "[", count: 600) + String(repeating: "]", count: 600),
            #"{"metadata":"# + String(repeating: #"{"a":"#, count: 600) + "1" + String(repeating: "}", count: 601),
            #"{"metadata":{"name":"a"}}{"metadata":{"name":"b"}}"#, "\u{feff}{}",
        ]
        for text in malformed {
            let (scanned, parsed) = bothReads(Array(text.utf8))
            XCTAssertNil(scanned, text)
            XCTAssertNil(parsed, text)
            XCTAssertNil(Array(text.utf8).withUnsafeBytes { ObjectMeta(jsonObject: $0) }, text)
        }
    }

    func testMetadataListPagesReadAsListPagesDo() throws {
        let text = #"""
            {"kind":"PartialObjectMetadataList","apiVersion":"meta.k8s.io/v1",
             "metadata":{"resourceVersion":"812","continue":"tok","remainingItemCount":3},
             "items":[{"metadata":{"name":"a","namespace":"n"}},{"metadata":{"namespace":"unnamed"}},7,null,
                      {"kind":"PartialObjectMetadata","metadata":{"name":"b","labels":{"x":"y"}}}]}
            """#
        let page = try MetadataListPage.decode(Array(text.utf8))
        XCTAssertEqual(page.items.map(\.name), ["a", "b"])
        XCTAssertEqual(page.resourceVersion, "812")
        XCTAssertEqual(page.continueToken, "tok")
        XCTAssertEqual(page.remainingItemCount, 3)
        let last = try MetadataListPage.decode(Array(#"{"metadata":{"resourceVersion":"9","continue":""},"items":null}"#.utf8))
        XCTAssertEqual(last.items, [])
        XCTAssertNil(last.continueToken)
        for notAList in [#"{"metadata":{}}"#, #"{"items":{}}"#, #"[]"#, #"{"items":[]"#] {
            XCTAssertThrowsError(try MetadataListPage.decode(Array(notAList.utf8)), notAList)
            XCTAssertThrowsError(try ListPage.decode(Array(notAList.utf8)), notAList)
        }
    }
}
