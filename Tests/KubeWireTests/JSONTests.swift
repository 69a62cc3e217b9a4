@testable import KubeWire
import XCTest
import SpillwayTestSupport

final class JSONTests: XCTestCase {
    func testParsesKubernetesObjectAndKeepsIntegersExact() throws {
        let v = try JSONParser.parse(#"{"metadata":{"name":"a","generation":9007199254740993,"labels":{"x":"y"}},"data":{"k":"dg=="},"f":1.5,"n":null,"t":[true,false]}"#)
        XCTAssertEqual(v["metadata"]?["generation"], .int(9007199254740993))
        XCTAssertEqual(v["data"]?["k"]?.stringValue, "dg==")
        XCTAssertEqual(v["f"], .double(1.5))
        XCTAssertEqual(v["n"], .null)
        XCTAssertEqual(v["t"], [true, false])
    }

    func testDecodesEscapesAndSurrogatePairs() throws {
        let v = try JSONParser.parse(#""a\"b\\c\n\u00e9\ud83d\ude00""#)
        XCTAssertEqual(v.stringValue, "a\"b\\c\né😀")
    }

    func testEncodeParseRoundTrip() throws {
        let v: JSONValue = ["s": "quote\" back\\ nl\n ctl\u{01} é", "i": -42, "a": [1, 2.5, .null, ["x": false]]]
        XCTAssertEqual(try JSONParser.parse(v.encoded()), v)
    }

    /// Found by the json fuzz target: a negative zero came back as the integer 0.
    func testANegativeZeroSurvivesARoundTripAsGoWritesIt() throws {
        let v = try JSONParser.parse("[-0.0,-0,0]")
        XCTAssertEqual(String(decoding: v.encoded(), as: UTF8.self), "[-0,-0,0]")
        XCTAssertEqual(try JSONParser.parse(v.encoded()), v)
        guard case .double(let zero)? = v.arrayValue?.first else { return XCTFail("not a double: \(v)") }
        XCTAssertEqual(zero.sign, .minus)
    }

    /// Found by the json fuzz target: "1.5e0167416" became infinity, encoded as null.
    func testANumberBeyondADoublesRangeIsRefusedNotMadeInfinite() {
        XCTAssertThrowsError(try JSONParser.parse("[0,1.5e0167416]")) { error in
            XCTAssertEqual((error as? JSONParseError)?.message, "json: cannot unmarshal number 1.5e0167416 into a float64: value out of range")
            XCTAssertEqual((error as? JSONParseError)?.offset, 3)
        }
        XCTAssertEqual(try JSONParser.parse("1e308"), .double(1e308))
        XCTAssertEqual(try JSONParser.parse("123456789012345678901234567890"), .double(1.2345678901234568e29))
    }

    func testRejectsGarbageWithOffset() {
        XCTAssertThrowsError(try JSONParser.parse(#"{"a": tru}"#)) { e in
            XCTAssertEqual((e as? JSONParseError)?.offset, 6)
        }
        XCTAssertThrowsError(try JSONParser.parse(#"{"a":1} x"#))
        XCTAssertThrowsError(try JSONParser.parse(#"{"a":"unterminated}"#))
        XCTAssertThrowsError(try JSONParser.parse(#"[01]"#))
    }

    func testStreamDecoderSplitsSeveralEventsInOneChunk() throws {
        var d = JSONStreamDecoder()
        let out = try d.feed(Array(#"{"type":"ADDED","object":{"a":"}{"}}"#.utf8) + [10] + Array(#"{"type":"DELETED","object":{}}"#.utf8) + [10])
        XCTAssertEqual(out.count, 2)
        XCTAssertEqual(out[0]["object"]?["a"]?.stringValue, "}{")
        XCTAssertEqual(out[1]["type"]?.stringValue, "DELETED")
        XCTAssertEqual(d.bufferedBytes, 0)
    }

    func testStreamDecoderJoinsOneEventAcrossManyChunks() throws {
        var d = JSONStreamDecoder()
        let event = Array(#"{"type":"MODIFIED","object":{"metadata":{"name":"x\"y"},"data":{"k":"v"}}}"#.utf8) + [10]
        var got: [JSONValue] = []
        for b in event { got += try d.feed([b]) }
        XCTAssertEqual(got.count, 1)
        XCTAssertEqual(got[0]["object"]?["metadata"]?["name"]?.stringValue, "x\"y")
        XCTAssertFalse(d.hasPartialEvent)
    }

    /// Strings full of what the splitter must not take for structure (escaped quotes and
    /// backslashes, braces), cut into chunks at random places: the objects and their bytes are
    /// the same as from one chunk, wherever an escape or a string's end falls.
    func testStreamDecoderFindsTheSameObjectsWhereverTheChunksEnd() throws {
        let tricky = [#"a\"b"#, #"\\"#, #"\\\""#, #"}{"#, #"]["#, #"\u0022"#, "plain", #"x\\\\"#, #"\"\"{"#]
        var generator = SeededGenerator(seed: 0x5eed)
        var stream: [UInt8] = []
        var expected: [[UInt8]] = []
        for n in 0..<200 {
            let a = tricky[Int.random(in: 0..<tricky.count, using: &generator)]
            let b = tricky[Int.random(in: 0..<tricky.count, using: &generator)]
            let event = Array(#"{"type":"ADDED","object":{"metadata":{"name":"n\#(n)","annotations":{"\#(a)":"\#(b)"}},"data":["\#(b)",{"k":"\#(a)"}]}}"#.utf8)
            expected.append(event)
            stream += event + (n % 3 == 0 ? [10] : n % 3 == 1 ? [32, 13, 10] : [])
        }
        for _ in 0..<50 {
            var d = JSONStreamDecoder()
            var got: [[UInt8]] = []
            var offset = 0
            while offset < stream.count {
                let end = min(stream.count, offset + Int.random(in: 1...40, using: &generator))
                got += try d.feed(stream[offset..<end]) { .success(Array($0)) }
                offset = end
            }
            XCTAssertEqual(got, expected)
            XCTAssertFalse(d.hasPartialEvent)
        }
        for event in expected.prefix(20) {
            XCTAssertNoThrow(try JSONParser.parse(event), String(decoding: event, as: UTF8.self))
        }
    }

    func testStreamDecoderHoldsOnlyTheEventInProgress() throws {
        var d = JSONStreamDecoder()
        let event = Array(#"{"type":"ADDED","object":{"metadata":{"name":"n"}}}"#.utf8)
        for _ in 0..<1000 { _ = try d.feed(event + [10]) }
        _ = try d.feed(event.prefix(10))
        XCTAssertEqual(d.bufferedBytes, 10)
        XCTAssertTrue(d.hasPartialEvent)
    }

    func testStreamDecoderDoesNotKeepTheCapacityOfABurst() throws {
        // The initial list of a streaming watch arrives in chunks of hundreds of KiB; the
        // quiet stream after it must not hold that much for the rest of the daemon's life.
        var d = JSONStreamDecoder()
        let event = #"{"type":"ADDED","object":{"metadata":{"name":"a"}}}"#
        let burst = Array(String(repeating: event, count: 10_000).utf8) + Array(#"{"type":"ADD"#.utf8)
        XCTAssertEqual(try d.feed(burst).count, 10_000)
        XCTAssertEqual(d.bufferedBytes, 12)
        XCTAssertEqual(try d.feed(Array(#"ED","object":{"metadata":{"name":"b"}}}{"ty"#.utf8)).count, 1,
                       "the event that spanned the chunks is whole")
        XCTAssertLessThanOrEqual(d.bufferCapacity, JSONStreamDecoder.keptCapacity,
                                 "after the burst, only the event in progress is kept")
        XCTAssertEqual(d.bufferedBytes, 4)
    }

    func testStreamDecoderRejectsGarbageClearly() {
        var d = JSONStreamDecoder()
        XCTAssertThrowsError(try d.feed(Array("{\"type\":\"ADDED\",\"object\":{}}\nHTTP/1.1 500 oops".utf8))) { e in
            XCTAssertTrue("\(e)".contains("expected '{' to start a watch event, found 'H'"), "\(e)")
        }
        var d2 = JSONStreamDecoder()
        XCTAssertThrowsError(try d2.feed(Array(#"{"type": nope}"#.utf8))) { e in
            XCTAssertTrue("\(e)".contains("invalid JSON"), "\(e)")
        }
        var d3 = JSONStreamDecoder(maxEventBytes: 100)
        XCTAssertThrowsError(try d3.feed(Array(("{\"a\":\"" + String(repeating: "x", count: 200)).utf8)))
    }
}
