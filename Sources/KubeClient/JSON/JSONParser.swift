/// A malformed JSON document: where it went wrong and what was expected.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    public var offset: Int
    public var reason: String
    public var description: String { "invalid JSON at byte \(offset): \(reason)" }
}

/// A strict RFC 8259 parser into `JSONValue`, over a contiguous byte buffer.
///
/// Our own rather than Foundation's `JSONSerialization` because it is the hot path of every list
/// and watch (100k objects), it yields `JSONValue` without an `Any` detour, and it keeps integers
/// exact.
public enum JSONParser {
    public static func parse(_ bytes: some Collection<UInt8>) throws(JSONParseError) -> JSONValue {
        let result: Result<JSONValue, JSONParseError>? = bytes.withContiguousStorageIfAvailable { buf in
            parseResult(UnsafeRawBufferPointer(buf))
        }
        if let result { return try result.get() }
        return try Array(bytes).withUnsafeBytes { parseResult($0) }.get()
    }

    public static func parse(_ string: String) throws(JSONParseError) -> JSONValue {
        try parse(Array(string.utf8))
    }

    static func parseResult(_ buf: UnsafeRawBufferPointer) -> Result<JSONValue, JSONParseError> {
        var p = Cursor(buf: buf)
        do throws(JSONParseError) {
            p.skipWhitespace()
            let v = try p.value(depth: 0)
            p.skipWhitespace()
            if p.pos != buf.count { throw p.fail("unexpected \(p.describeCurrent()) after the document") }
            return .success(v)
        } catch {
            return .failure(error)
        }
    }

    struct Cursor {
        let buf: UnsafeRawBufferPointer
        var pos = 0
        static let maxDepth = 512

        func fail(_ reason: String) -> JSONParseError { JSONParseError(offset: pos, reason: reason) }

        func describeCurrent() -> String {
            guard pos < buf.count else { return "end of input" }
            let b = buf[pos]
            if b >= 0x20 && b < 0x7f { return "'\(Character(Unicode.Scalar(b)))'" }
            return "byte 0x\(String(b, radix: 16))"
        }

        mutating func skipWhitespace() {
            while pos < buf.count {
                switch buf[pos] {
                case 0x20, 0x0a, 0x0d, 0x09: pos += 1
                default: return
                }
            }
        }

        mutating func expect(_ literal: StaticString, _ v: JSONValue) throws(JSONParseError) -> JSONValue {
            let n = literal.utf8CodeUnitCount
            guard pos + n <= buf.count else { throw fail("truncated literal") }
            let lit = UnsafeRawBufferPointer(start: literal.utf8Start, count: n)
            for i in 0..<n where buf[pos + i] != lit[i] {
                throw fail("unexpected \(describeCurrent())")
            }
            pos += n
            return v
        }

        mutating func value(depth: Int) throws(JSONParseError) -> JSONValue {
            guard pos < buf.count else { throw fail("unexpected end of input") }
            switch buf[pos] {
            case UInt8(ascii: "{"): return try object(depth: depth + 1)
            case UInt8(ascii: "["): return try array(depth: depth + 1)
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): return try expect("true", .bool(true))
            case UInt8(ascii: "f"): return try expect("false", .bool(false))
            case UInt8(ascii: "n"): return try expect("null", .null)
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw fail("unexpected \(describeCurrent())")
            }
        }

        mutating func object(depth: Int) throws(JSONParseError) -> JSONValue {
            if depth > Self.maxDepth { throw fail("nesting deeper than \(Self.maxDepth)") }
            pos += 1
            var members: [String: JSONValue] = [:]
            skipWhitespace()
            if pos < buf.count && buf[pos] == UInt8(ascii: "}") {
                pos += 1
                return .object(members)
            }
            while true {
                skipWhitespace()
                guard pos < buf.count, buf[pos] == UInt8(ascii: "\"") else {
                    throw fail("expected a member name, found \(describeCurrent())")
                }
                let key = try string()
                skipWhitespace()
                guard pos < buf.count, buf[pos] == UInt8(ascii: ":") else {
                    throw fail("expected ':', found \(describeCurrent())")
                }
                pos += 1
                skipWhitespace()
                members[key] = try value(depth: depth)
                skipWhitespace()
                guard pos < buf.count else { throw fail("unexpected end of input in an object") }
                if buf[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if buf[pos] == UInt8(ascii: "}") { pos += 1; return .object(members) }
                throw fail("expected ',' or '}', found \(describeCurrent())")
            }
        }

        mutating func array(depth: Int) throws(JSONParseError) -> JSONValue {
            if depth > Self.maxDepth { throw fail("nesting deeper than \(Self.maxDepth)") }
            pos += 1
            var items: [JSONValue] = []
            skipWhitespace()
            if pos < buf.count && buf[pos] == UInt8(ascii: "]") {
                pos += 1
                return .array(items)
            }
            while true {
                skipWhitespace()
                items.append(try value(depth: depth))
                skipWhitespace()
                guard pos < buf.count else { throw fail("unexpected end of input in an array") }
                if buf[pos] == UInt8(ascii: ",") { pos += 1; continue }
                if buf[pos] == UInt8(ascii: "]") { pos += 1; return .array(items) }
                throw fail("expected ',' or ']', found \(describeCurrent())")
            }
        }

        mutating func number() throws(JSONParseError) -> JSONValue {
            let start = pos
            var isInteger = true
            if buf[pos] == UInt8(ascii: "-") { pos += 1 }
            guard pos < buf.count, isDigit(buf[pos]) else { throw fail("malformed number") }
            if buf[pos] == UInt8(ascii: "0") {
                pos += 1
            } else {
                while pos < buf.count && isDigit(buf[pos]) { pos += 1 }
            }
            if pos < buf.count && buf[pos] == UInt8(ascii: ".") {
                isInteger = false
                pos += 1
                guard pos < buf.count, isDigit(buf[pos]) else { throw fail("malformed number") }
                while pos < buf.count && isDigit(buf[pos]) { pos += 1 }
            }
            if pos < buf.count && (buf[pos] == UInt8(ascii: "e") || buf[pos] == UInt8(ascii: "E")) {
                isInteger = false
                pos += 1
                if pos < buf.count && (buf[pos] == UInt8(ascii: "+") || buf[pos] == UInt8(ascii: "-")) { pos += 1 }
                guard pos < buf.count, isDigit(buf[pos]) else { throw fail("malformed number") }
                while pos < buf.count && isDigit(buf[pos]) { pos += 1 }
            }
            let text = String(decoding: UnsafeRawBufferPointer(rebasing: buf[start..<pos]), as: UTF8.self)
            if isInteger, let i = Int64(text) { return .int(i) }
            guard let d = Double(text) else { throw JSONParseError(offset: start, reason: "malformed number") }
            // As Go's encoding/json: a number beyond a double's range is an error, not infinity
            // (which no JSON text can carry: it would come back as null).
            guard d.isFinite else { throw JSONParseError(offset: start, reason: "number out of range") }
            return .double(d)
        }

        func isDigit(_ b: UInt8) -> Bool { b >= UInt8(ascii: "0") && b <= UInt8(ascii: "9") }

        mutating func string() throws(JSONParseError) -> String {
            pos += 1
            let start = pos
            // Fast path: no escapes.
            while pos < buf.count {
                let b = buf[pos]
                if b == UInt8(ascii: "\"") {
                    let raw = UnsafeRawBufferPointer(rebasing: buf[start..<pos])
                    pos += 1
                    guard let s = String(validating: raw, as: UTF8.self) else {
                        throw JSONParseError(offset: start, reason: "string is not valid UTF-8")
                    }
                    return s
                }
                if b == UInt8(ascii: "\\") { break }
                if b < 0x20 { throw fail("control character in a string") }
                pos += 1
            }
            var bytes = Array(UnsafeRawBufferPointer(rebasing: buf[start..<pos]))
            while pos < buf.count {
                let b = buf[pos]
                if b == UInt8(ascii: "\"") {
                    pos += 1
                    guard let s = String(validating: bytes, as: UTF8.self) else {
                        throw JSONParseError(offset: start, reason: "string is not valid UTF-8")
                    }
                    return s
                }
                if b < 0x20 { throw fail("control character in a string") }
                if b != UInt8(ascii: "\\") {
                    bytes.append(b)
                    pos += 1
                    continue
                }
                pos += 1
                guard pos < buf.count else { break }
                let e = buf[pos]
                pos += 1
                switch e {
                case UInt8(ascii: "\""): bytes.append(0x22)
                case UInt8(ascii: "\\"): bytes.append(0x5c)
                case UInt8(ascii: "/"): bytes.append(0x2f)
                case UInt8(ascii: "b"): bytes.append(0x08)
                case UInt8(ascii: "f"): bytes.append(0x0c)
                case UInt8(ascii: "n"): bytes.append(0x0a)
                case UInt8(ascii: "r"): bytes.append(0x0d)
                case UInt8(ascii: "t"): bytes.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar) {
                        guard pos + 1 < buf.count, buf[pos] == UInt8(ascii: "\\"), buf[pos + 1] == UInt8(ascii: "u")
                        else { throw fail("unpaired surrogate") }
                        pos += 2
                        let low = try hex4()
                        guard (0xDC00..<0xE000).contains(low) else { throw fail("unpaired surrogate") }
                        scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                    } else if (0xDC00..<0xE000).contains(scalar) {
                        throw fail("unpaired surrogate")
                    }
                    guard let u = Unicode.Scalar(scalar) else { throw fail("invalid \\u escape") }
                    bytes.append(contentsOf: String(Character(u)).utf8)
                default:
                    pos -= 1
                    throw fail("invalid escape \(describeCurrent())")
                }
            }
            throw fail("unterminated string")
        }

        mutating func hex4() throws(JSONParseError) -> UInt32 {
            guard pos + 4 <= buf.count else { throw fail("truncated \\u escape") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let b = buf[pos]
                let d: UInt32
                switch b {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(b - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(b - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(b - UInt8(ascii: "A") + 10)
                default: throw fail("invalid \\u escape")
                }
                v = v << 4 | d
                pos += 1
            }
            return v
        }
    }
}
