/// Where and why a document is not JSON. `message` is worded as Go's encoding/json words it,
/// so the emulator's 400 answers read like the real API server's.
public struct JSONParseError: Error, Sendable, Equatable, CustomStringConvertible {
    /// Byte offset of the problem in the document (or in the stream, for a watch).
    public var offset: Int
    public var message: String

    public init(offset: Int, message: String) {
        self.offset = offset
        self.message = message
    }

    public var description: String { "invalid JSON at byte \(offset): \(message)" }
}

/// An RFC 8259 parser into `JSONValue`, over a contiguous byte buffer.
///
/// Our own rather than Foundation's `JSONSerialization` because it is the hot path of every list
/// and watch (100k objects), it yields `JSONValue` without an `Any` detour, and it keeps integers
/// exact. Like Go's decoder (the API server's), it replaces invalid UTF-8 and unpaired
/// surrogates with U+FFFD instead of failing.
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

    /// Parses exactly one document filling `buf` (whitespace around it allowed).
    public static func parseResult(_ buf: UnsafeRawBufferPointer) -> Result<JSONValue, JSONParseError> {
        var p = Cursor(buf.bindMemory(to: UInt8.self))
        do throws(JSONParseError) {
            return .success(try p.document())
        } catch {
            return .failure(error)
        }
    }

    private struct Cursor {
        let b: UnsafeBufferPointer<UInt8>
        var i = 0
        var depth = 0
        static let maxDepth = 512

        init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

        mutating func document() throws(JSONParseError) -> JSONValue {
            skipWS()
            if i >= b.count { throw err("unexpected end of JSON input") }
            let v = try value()
            skipWS()
            if i < b.count { throw err("invalid character \(quoteChar(b[i])) after top-level value") }
            return v
        }

        func err(_ m: String) -> JSONParseError { JSONParseError(offset: i, message: m) }

        func quoteChar(_ c: UInt8) -> String {
            if c >= 0x20 && c < 0x7f { return "'\(Character(Unicode.Scalar(c)))'" }
            return "'\\x\(String(c, radix: 16))'"
        }

        mutating func skipWS() {
            while i < b.count {
                switch b[i] {
                case 0x20, 0x0a, 0x0d, 0x09: i += 1
                default: return
                }
            }
        }

        mutating func value() throws(JSONParseError) -> JSONValue {
            guard i < b.count else { throw err("unexpected end of JSON input") }
            switch b[i] {
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "\""): return .string(try string())
            case UInt8(ascii: "t"): try literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try number()
            default: throw err("invalid character \(quoteChar(b[i])) looking for beginning of value")
            }
        }

        mutating func literal(_ word: StaticString) throws(JSONParseError) {
            let n = word.utf8CodeUnitCount
            let w = word.utf8Start
            for k in 0..<n {
                guard i + k < b.count else { throw err("unexpected end of JSON input") }
                if b[i + k] != w[k] {
                    throw JSONParseError(offset: i,
                        message: "invalid character \(quoteChar(b[i + k])) in literal \(word) (expecting '\(Character(Unicode.Scalar(w[k])))')")
                }
            }
            i += n
        }

        mutating func enter() throws(JSONParseError) {
            depth += 1
            if depth > Self.maxDepth { throw err("exceeded max depth") }
        }

        mutating func object() throws(JSONParseError) -> JSONValue {
            try enter()
            defer { depth -= 1 }
            i += 1
            var o: [String: JSONValue] = [:]
            skipWS()
            if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
            while true {
                skipWS()
                guard i < b.count else { throw err("unexpected end of JSON input") }
                guard b[i] == UInt8(ascii: "\"") else {
                    throw err("invalid character \(quoteChar(b[i])) looking for beginning of object key string")
                }
                let k = try string()
                skipWS()
                guard i < b.count else { throw err("unexpected end of JSON input") }
                guard b[i] == UInt8(ascii: ":") else { throw err("invalid character \(quoteChar(b[i])) after object key") }
                i += 1
                skipWS()
                o[k] = try value()
                skipWS()
                guard i < b.count else { throw err("unexpected end of JSON input") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
                throw err("invalid character \(quoteChar(b[i])) after object key:value pair")
            }
        }

        mutating func array() throws(JSONParseError) -> JSONValue {
            try enter()
            defer { depth -= 1 }
            i += 1
            var a: [JSONValue] = []
            skipWS()
            if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            while true {
                skipWS()
                a.append(try value())
                skipWS()
                guard i < b.count else { throw err("unexpected end of JSON input") }
                if b[i] == UInt8(ascii: ",") { i += 1; continue }
                if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
                throw err("invalid character \(quoteChar(b[i])) after array element")
            }
        }

        mutating func hex4() throws(JSONParseError) -> UInt32 {
            guard i + 4 <= b.count else { throw err("unexpected end of JSON input") }
            var v: UInt32 = 0
            for _ in 0..<4 {
                let c = b[i]
                let d: UInt32
                switch c {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): d = UInt32(c - UInt8(ascii: "0"))
                case UInt8(ascii: "a")...UInt8(ascii: "f"): d = UInt32(c - UInt8(ascii: "a") + 10)
                case UInt8(ascii: "A")...UInt8(ascii: "F"): d = UInt32(c - UInt8(ascii: "A") + 10)
                default: throw err("invalid character \(quoteChar(c)) in \\u hexadecimal character escape")
                }
                v = v << 4 | d
                i += 1
            }
            return v
        }

        mutating func string() throws(JSONParseError) -> String {
            i += 1
            let start = i
            // Fast path: no escapes.
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    let s = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
                    i += 1
                    return s
                }
                if c == UInt8(ascii: "\\") || c < 0x20 { break }
                i += 1
            }
            var out = Array(b[start..<i])
            while i < b.count {
                let c = b[i]
                if c == UInt8(ascii: "\"") {
                    i += 1
                    return String(decoding: out, as: UTF8.self)
                }
                if c < 0x20 { throw err("invalid character \(quoteChar(c)) in string literal") }
                if c != UInt8(ascii: "\\") { out.append(c); i += 1; continue }
                i += 1
                guard i < b.count else { break }
                let e = b[i]
                i += 1
                switch e {
                case UInt8(ascii: "\""): out.append(0x22)
                case UInt8(ascii: "\\"): out.append(0x5c)
                case UInt8(ascii: "/"): out.append(0x2f)
                case UInt8(ascii: "b"): out.append(0x08)
                case UInt8(ascii: "f"): out.append(0x0c)
                case UInt8(ascii: "n"): out.append(0x0a)
                case UInt8(ascii: "r"): out.append(0x0d)
                case UInt8(ascii: "t"): out.append(0x09)
                case UInt8(ascii: "u"):
                    var scalar = try hex4()
                    if (0xD800..<0xDC00).contains(scalar), i + 6 <= b.count, b[i] == UInt8(ascii: "\\"),
                        b[i + 1] == UInt8(ascii: "u")
                    {
                        let save = i
                        i += 2
                        let low = try hex4()
                        if (0xDC00..<0xE000).contains(low) {
                            scalar = 0x10000 + ((scalar - 0xD800) << 10) + (low - 0xDC00)
                        } else {
                            i = save
                        }
                    }
                    let u = Unicode.Scalar(scalar) ?? "\u{FFFD}"
                    out.append(contentsOf: String(Character(u)).utf8)
                default:
                    i -= 1
                    throw err("invalid character \(quoteChar(e)) in string escape code")
                }
            }
            throw err("unexpected end of JSON input")
        }

        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

        mutating func number() throws(JSONParseError) -> JSONValue {
            let start = i
            var isInt = true
            if b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count else { throw err("unexpected end of JSON input") }
            guard isDigit(b[i]) else { throw err("invalid character \(quoteChar(b[i])) in numeric literal") }
            if b[i] == UInt8(ascii: "0") {
                i += 1
            } else {
                while i < b.count, isDigit(b[i]) { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: ".") {
                isInt = false
                i += 1
                guard i < b.count, isDigit(b[i]) else { throw err("invalid character after decimal point in numeric literal") }
                while i < b.count, isDigit(b[i]) { i += 1 }
            }
            if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
                isInt = false
                i += 1
                if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
                guard i < b.count, isDigit(b[i]) else { throw err("invalid character in exponent of numeric literal") }
                while i < b.count, isDigit(b[i]) { i += 1 }
            }
            let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
            if isInt, let v = Int64(text) {
                // `-0` is a negative zero, as Go reads it into a float64; no Int64 holds it.
                return v == 0 && b[start] == UInt8(ascii: "-") ? .double(-0.0) : .int(v)
            }
            // As Go's encoding/json: a number beyond a double's range is an error, not infinity
            // (which no JSON text can carry: it would come back as null).
            guard let d = Double(text), d.isFinite else {
                throw JSONParseError(offset: start, message: "json: cannot unmarshal number \(text) into a float64: value out of range")
            }
            return .double(d)
        }
    }
}
