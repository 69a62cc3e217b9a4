/// The lexical layer shared by ``JSONParser`` (which builds a `JSONValue`) and ``JSONScanner``
/// (which reads a few members and skips the rest): one position in a contiguous byte buffer,
/// and the rules for whitespace, structure, literals, strings and numbers with Go's error
/// wording. Both readers go through the same checks, so the scanner rejects exactly what the
/// parser rejects, at the same offset, with the same message.
struct JSONCursor {
    let b: UnsafeBufferPointer<UInt8>
    var i = 0
    var depth = 0
    static let maxDepth = 512

    init(_ b: UnsafeBufferPointer<UInt8>) { self.b = b }

    func err(_ m: String) -> JSONParseError { JSONParseError(offset: i, message: m) }

    func quoteChar(_ c: UInt8) -> String {
        if c >= 0x20 && c < 0x7f { return "'\(Character(Unicode.Scalar(c)))'" }
        return "'\\x\(String(c, radix: 16))'"
    }

    var endOfInput: JSONParseError { err("unexpected end of JSON input") }

    mutating func skipWS() {
        while i < b.count {
            switch b[i] {
            case 0x20, 0x0a, 0x0d, 0x09: i += 1
            default: return
            }
        }
    }

    /// Whitespace, then the byte there (nil at the end).
    mutating func peek() -> UInt8? {
        skipWS()
        return i < b.count ? b[i] : nil
    }

    /// Before the one top-level value: there must be one.
    mutating func begin() throws(JSONParseError) {
        skipWS()
        if i >= b.count { throw endOfInput }
    }

    /// After the top-level value: only whitespace may follow.
    mutating func end() throws(JSONParseError) {
        skipWS()
        if i < b.count { throw err("invalid character \(quoteChar(b[i])) after top-level value") }
    }

    func beginningOfValueError() -> JSONParseError {
        i < b.count ? err("invalid character \(quoteChar(b[i])) looking for beginning of value") : endOfInput
    }

    mutating func literal(_ word: StaticString) throws(JSONParseError) {
        let n = word.utf8CodeUnitCount
        let w = word.utf8Start
        for k in 0..<n {
            guard i + k < b.count else { throw endOfInput }
            if b[i + k] != w[k] {
                throw JSONParseError(offset: i,
                    message: "invalid character \(quoteChar(b[i + k])) in literal \(word) (expecting '\(Character(Unicode.Scalar(w[k])))')")
            }
        }
        i += n
    }

    // MARK: structure

    /// At `{` or `[`: one level deeper.
    mutating func open() throws(JSONParseError) {
        depth += 1
        if depth > Self.maxDepth { throw err("exceeded max depth") }
        i += 1
    }

    /// Inside an object: true when a member follows (the cursor is at its key's opening quote),
    /// false after the closing `}` (the level is left). `first` is true right after the `{`.
    mutating func nextMember(first: inout Bool) throws(JSONParseError) -> Bool {
        skipWS()
        guard i < b.count else { throw endOfInput }
        if b[i] == UInt8(ascii: "}") {
            i += 1
            depth -= 1
            return false
        }
        if first {
            first = false
        } else {
            guard b[i] == UInt8(ascii: ",") else { throw err("invalid character \(quoteChar(b[i])) after object key:value pair") }
            i += 1
            skipWS()
            guard i < b.count else { throw endOfInput }
        }
        guard b[i] == UInt8(ascii: "\"") else {
            throw err("invalid character \(quoteChar(b[i])) looking for beginning of object key string")
        }
        return true
    }

    /// After a member's key: the colon, and the cursor at the value.
    mutating func colon() throws(JSONParseError) {
        skipWS()
        guard i < b.count else { throw endOfInput }
        guard b[i] == UInt8(ascii: ":") else { throw err("invalid character \(quoteChar(b[i])) after object key") }
        i += 1
        skipWS()
    }

    /// Inside an array: true when an element follows (the cursor is at it), false after the
    /// closing `]` (the level is left). `first` is true right after the `[`.
    mutating func nextElement(first: inout Bool) throws(JSONParseError) -> Bool {
        skipWS()
        guard i < b.count else { throw endOfInput }
        if first {
            first = false
            if b[i] == UInt8(ascii: "]") {
                i += 1
                depth -= 1
                return false
            }
            return true
        }
        if b[i] == UInt8(ascii: "]") {
            i += 1
            depth -= 1
            return false
        }
        guard b[i] == UInt8(ascii: ",") else { throw err("invalid character \(quoteChar(b[i])) after array element") }
        i += 1
        skipWS()
        return true
    }

    /// Skips one value of any type, checking it as the parser would, and builds nothing.
    mutating func skipValue() throws(JSONParseError) {
        guard i < b.count else { throw endOfInput }
        switch b[i] {
        case UInt8(ascii: "{"):
            try open()
            var first = true
            while try nextMember(first: &first) {
                try skipString()
                try colon()
                try skipValue()
            }
        case UInt8(ascii: "["):
            try open()
            var first = true
            while try nextElement(first: &first) { try skipValue() }
        case UInt8(ascii: "\""): try skipString()
        case UInt8(ascii: "t"): try literal("true")
        case UInt8(ascii: "f"): try literal("false")
        case UInt8(ascii: "n"): try literal("null")
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): _ = try number()
        default: throw beginningOfValueError()
        }
    }

    // MARK: strings

    mutating func hex4() throws(JSONParseError) -> UInt32 {
        guard i + 4 <= b.count else { throw endOfInput }
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

    /// Skips a string literal (at its opening quote), checking its escapes; builds nothing.
    /// Returns whether it held an escape.
    @discardableResult
    mutating func skipString() throws(JSONParseError) -> Bool {
        i += 1
        var escapes = false
        while i < b.count {
            let c = b[i]
            if c == UInt8(ascii: "\"") {
                i += 1
                return escapes
            }
            if c < 0x20 { throw err("invalid character \(quoteChar(c)) in string literal") }
            guard c == UInt8(ascii: "\\") else {
                i += 1
                continue
            }
            escapes = true
            i += 1
            guard i < b.count else { break }
            let e = b[i]
            i += 1
            switch e {
            case UInt8(ascii: "\""), UInt8(ascii: "\\"), UInt8(ascii: "/"), UInt8(ascii: "b"), UInt8(ascii: "f"),
                 UInt8(ascii: "n"), UInt8(ascii: "r"), UInt8(ascii: "t"):
                continue
            case UInt8(ascii: "u"):
                _ = try hex4()
            default:
                i -= 1
                throw err("invalid character \(quoteChar(e)) in string escape code")
            }
        }
        throw endOfInput
    }

    /// Reads a string literal (at its opening quote). Invalid UTF-8 and unpaired surrogates
    /// become U+FFFD, as Go's decoder reads them.
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
        throw endOfInput
    }

    // MARK: numbers

    func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }

    /// Reads a number literal: an `.int` when it is written as one and fits, else a `.double`.
    mutating func number() throws(JSONParseError) -> JSONValue {
        let start = i
        var isInt = true
        if b[i] == UInt8(ascii: "-") { i += 1 }
        guard i < b.count else { throw endOfInput }
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
