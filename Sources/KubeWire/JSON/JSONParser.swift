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

    /// Builds the values on the shared lexer.
    private struct Cursor {
        var c: JSONCursor

        init(_ b: UnsafeBufferPointer<UInt8>) { c = JSONCursor(b) }

        mutating func document() throws(JSONParseError) -> JSONValue {
            try c.begin()
            let v = try value()
            try c.end()
            return v
        }

        mutating func value() throws(JSONParseError) -> JSONValue {
            guard c.i < c.b.count else { throw c.endOfInput }
            switch c.b[c.i] {
            case UInt8(ascii: "{"): return try object()
            case UInt8(ascii: "["): return try array()
            case UInt8(ascii: "\""): return .string(try c.string())
            case UInt8(ascii: "t"): try c.literal("true"); return .bool(true)
            case UInt8(ascii: "f"): try c.literal("false"); return .bool(false)
            case UInt8(ascii: "n"): try c.literal("null"); return .null
            case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try c.number()
            default: throw c.beginningOfValueError()
            }
        }

        mutating func object() throws(JSONParseError) -> JSONValue {
            try c.open()
            var o: [String: JSONValue] = [:]
            var first = true
            while try c.nextMember(first: &first) {
                let k = try c.string()
                try c.colon()
                o[k] = try value()
            }
            return .object(o)
        }

        mutating func array() throws(JSONParseError) -> JSONValue {
            try c.open()
            var a: [JSONValue] = []
            var first = true
            while try c.nextElement(first: &first) {
                a.append(try value())
            }
            return .array(a)
        }
    }
}
