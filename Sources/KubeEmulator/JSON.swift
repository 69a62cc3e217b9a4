// The emulator's object model: Kubernetes objects are JSON trees. A small enum with its own
// parser and encoder keeps objects cheap to patch, validate and re-encode, and lets the
// store cache each object's bytes so that big lists are mostly memcpy.

/// A JSON value. Object keys are encoded sorted, so that equal objects encode to equal bytes.
public enum JSON: Sendable, Equatable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSON])
    case object([String: JSON])

    public subscript(key: String) -> JSON? {
        get {
            if case .object(let o) = self { return o[key] }
            return nil
        }
        set {
            guard case .object(var o) = self else { return }
            self = .null  // drop our reference so `o` stays uniquely owned while it changes
            o[key] = newValue
            self = .object(o)
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }
    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d == d.rounded() && abs(d) < 9.0e18: return Int64(d)
        default: return nil
        }
    }
    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }
    public var objectValue: [String: JSON]? {
        if case .object(let o) = self { return o }
        return nil
    }
    public var arrayValue: [JSON]? {
        if case .array(let a) = self { return a }
        return nil
    }
    /// A map of strings (labels, annotations, ConfigMap data); nil when absent or not such a map.
    public var stringMap: [String: String]? {
        guard case .object(let o) = self else { return nil }
        var out: [String: String] = [:]
        out.reserveCapacity(o.count)
        for (k, v) in o {
            guard case .string(let s) = v else { return nil }
            out[k] = s
        }
        return out
    }

    /// The type name used in validation messages, as Go's decoder says it.
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}

extension JSON: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByNilLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSON...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSON)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
    public init(nilLiteral: ()) { self = .null }
}

// MARK: - Parsing

/// Where and why a document is not JSON, worded like Go's encoding/json so that messages
/// the emulator returns read like the real API server's.
public struct JSONParseError: Error, CustomStringConvertible, Sendable {
    public let offset: Int
    public let message: String
    public var description: String { message }
}

extension JSON {
    public static func parse(_ bytes: [UInt8]) throws -> JSON {
        try bytes.withUnsafeBufferPointer { buf in
            var p = JSONParser(buf)
            return try p.parseDocument()
        }
    }
    public static func parse(_ string: String) throws -> JSON {
        try parse(Array(string.utf8))
    }
}

private struct JSONParser {
    let b: UnsafeBufferPointer<UInt8>
    var i = 0
    var depth = 0

    init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

    mutating func parseDocument() throws -> JSON {
        skipWS()
        if i >= b.count { throw err("unexpected end of JSON input") }
        let v = try parseValue()
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

    mutating func parseValue() throws -> JSON {
        guard i < b.count else { throw err("unexpected end of JSON input") }
        switch b[i] {
        case UInt8(ascii: "{"): return try parseObject()
        case UInt8(ascii: "["): return try parseArray()
        case UInt8(ascii: "\""): return .string(try parseString())
        case UInt8(ascii: "t"): try literal("true"); return .bool(true)
        case UInt8(ascii: "f"): try literal("false"); return .bool(false)
        case UInt8(ascii: "n"): try literal("null"); return .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): return try parseNumber()
        default: throw err("invalid character \(quoteChar(b[i])) looking for beginning of value")
        }
    }

    mutating func literal(_ word: StaticString) throws {
        let n = word.utf8CodeUnitCount
        guard i + n <= b.count else { throw err("unexpected end of JSON input") }
        let w = word.utf8Start
        for k in 0..<n where b[i + k] != w[k] {
            throw err("invalid character \(quoteChar(b[i + k])) in literal \(word)")
        }
        i += n
    }

    mutating func enter() throws {
        depth += 1
        if depth > 512 { throw err("exceeded max depth") }
    }

    mutating func parseObject() throws -> JSON {
        try enter()
        defer { depth -= 1 }
        i += 1
        var o: [String: JSON] = [:]
        skipWS()
        if i < b.count && b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
        while true {
            skipWS()
            guard i < b.count else { throw err("unexpected end of JSON input") }
            guard b[i] == UInt8(ascii: "\"") else {
                throw err("invalid character \(quoteChar(b[i])) looking for beginning of object key string")
            }
            let k = try parseString()
            skipWS()
            guard i < b.count else { throw err("unexpected end of JSON input") }
            guard b[i] == UInt8(ascii: ":") else { throw err("invalid character \(quoteChar(b[i])) after object key") }
            i += 1
            skipWS()
            o[k] = try parseValue()
            skipWS()
            guard i < b.count else { throw err("unexpected end of JSON input") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "}") { i += 1; return .object(o) }
            throw err("invalid character \(quoteChar(b[i])) after object key:value pair")
        }
    }

    mutating func parseArray() throws -> JSON {
        try enter()
        defer { depth -= 1 }
        i += 1
        var a: [JSON] = []
        skipWS()
        if i < b.count && b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
        while true {
            skipWS()
            a.append(try parseValue())
            skipWS()
            guard i < b.count else { throw err("unexpected end of JSON input") }
            if b[i] == UInt8(ascii: ",") { i += 1; continue }
            if b[i] == UInt8(ascii: "]") { i += 1; return .array(a) }
            throw err("invalid character \(quoteChar(b[i])) after array element")
        }
    }

    mutating func hex4() throws -> UInt32 {
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

    mutating func parseString() throws -> String {
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
                out.append(contentsOf: Array(String(Character(u)).utf8))
            default:
                i -= 1
                throw err("invalid character \(quoteChar(e)) in string escape code")
            }
        }
        throw err("unexpected end of JSON input")
    }

    mutating func parseNumber() throws -> JSON {
        let start = i
        var isInt = true
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count else { throw err("unexpected end of JSON input") }
        guard (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else {
            throw err("invalid character \(quoteChar(b[i])) in numeric literal")
        }
        if b[i] == UInt8(ascii: "0") {
            i += 1
        } else {
            while i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: ".") {
            isInt = false
            i += 1
            guard i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else {
                throw err("invalid character after decimal point in numeric literal")
            }
            while i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) { i += 1 }
        }
        if i < b.count, b[i] == UInt8(ascii: "e") || b[i] == UInt8(ascii: "E") {
            isInt = false
            i += 1
            if i < b.count, b[i] == UInt8(ascii: "+") || b[i] == UInt8(ascii: "-") { i += 1 }
            guard i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) else {
                throw err("invalid character in exponent of numeric literal")
            }
            while i < b.count, (UInt8(ascii: "0")...UInt8(ascii: "9")).contains(b[i]) { i += 1 }
        }
        let text = String(decoding: UnsafeBufferPointer(rebasing: b[start..<i]), as: UTF8.self)
        if isInt, let v = Int64(text) { return .int(v) }
        return .double(Double(text) ?? 0)
    }
}

// MARK: - Encoding

extension JSON {
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        encode(into: &out)
        return out
    }

    public var encodedString: String { String(decoding: encoded(), as: UTF8.self) }

    public func encode(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c])
        case .bool(true): out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        case .bool(false): out.append(contentsOf: [0x66, 0x61, 0x6c, 0x73, 0x65])
        case .int(let v): out.append(contentsOf: String(v).utf8)
        case .double(let v):
            if v.isFinite {
                if v == v.rounded() && abs(v) < 1e15 {
                    out.append(contentsOf: String(Int64(v)).utf8)
                } else {
                    out.append(contentsOf: String(v).utf8)
                }
            } else {
                out.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c])
            }
        case .string(let s): JSON.encodeString(s, into: &out)
        case .array(let a):
            out.append(UInt8(ascii: "["))
            var first = true
            for v in a {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                v.encode(into: &out)
            }
            out.append(UInt8(ascii: "]"))
        case .object(let o):
            out.append(UInt8(ascii: "{"))
            var first = true
            for k in o.keys.sorted() {
                if !first { out.append(UInt8(ascii: ",")) }
                first = false
                JSON.encodeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                o[k]!.encode(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    static func encodeString(_ s: String, into out: inout [UInt8]) {
        out.append(UInt8(ascii: "\""))
        var s = s
        s.withUTF8 { u in
            var runStart = 0
            for (idx, c) in u.enumerated() {
                let escape: [UInt8]?
                switch c {
                case 0x22: escape = [0x5c, 0x22]
                case 0x5c: escape = [0x5c, 0x5c]
                case 0x0a: escape = [0x5c, 0x6e]
                case 0x0d: escape = [0x5c, 0x72]
                case 0x09: escape = [0x5c, 0x74]
                case 0x3c, 0x3e, 0x26, 0..<0x20:
                    // Go escapes <, > and & too (HTML-safe); control characters as \u00XX.
                    escape = [0x5c, UInt8(ascii: "u"), 0x30, 0x30, hexDigits[Int(c >> 4)], hexDigits[Int(c & 0xf)]]
                default: escape = nil
                }
                if let escape {
                    out.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<idx]))
                    out.append(contentsOf: escape)
                    runStart = idx + 1
                }
            }
            out.append(contentsOf: UnsafeBufferPointer(rebasing: u[runStart..<u.count]))
        }
        out.append(UInt8(ascii: "\""))
    }
}
