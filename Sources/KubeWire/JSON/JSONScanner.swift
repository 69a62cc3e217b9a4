/// Reads the members of a JSON document that a caller asks for, straight from its bytes, and
/// skips everything else without building anything.
///
/// Most of what the API server sends spillway is thrown away: the data and `managedFields` of
/// 100,000 unrelated Secrets streaming past a metadata watch, the echo of a write.
/// ``JSONParser`` builds a `JSONValue` tree of all of it (every key and value a `String`, every
/// object a dictionary); the scanner walks the same bytes through the same checks (the same
/// errors, in Go's words, at the same offsets) and allocates only for what is read.
///
/// ```swift
/// var s = JSONScanner(bytes)
/// try s.object { s, key throws(JSONParseError) in
///     if key == "kind" { kind = try s.string() }   // members not read are skipped
/// }
/// try s.end()
/// ```
public struct JSONScanner {
    var c: JSONCursor

    /// A scanner at the start of `bytes`, which must stay valid while it is used.
    public init(_ bytes: UnsafeRawBufferPointer) {
        c = JSONCursor(bytes.bindMemory(to: UInt8.self))
    }

    /// The position in the bytes.
    public var offset: Int { c.i }

    /// A member's key, as its bytes in the document.
    public struct Key {
        /// The key with its quotes.
        let quoted: UnsafeBufferPointer<UInt8>
        let escaped: Bool

        /// Compares the key's text with `text`, without building a `String` unless the key is
        /// written with escapes.
        public static func == (key: Key, text: StaticString) -> Bool {
            if key.escaped { return key.string == text.description }
            let n = text.utf8CodeUnitCount
            guard key.quoted.count == n + 2 else { return false }
            let k = key.quoted.baseAddress! + 1
            let t = text.utf8Start
            for j in 0..<n where k[j] != t[j] { return false }
            return true
        }

        /// The key's text.
        public var string: String {
            var cursor = JSONCursor(quoted)
            return (try? cursor.string()) ?? ""
        }
    }

    /// The kind of value at the current position (after whitespace), or nil at the end or at
    /// a byte no value begins with.
    public enum ValueKind: Sendable {
        case object, array, string, number, bool, null
    }

    public mutating func peekKind() -> ValueKind? {
        guard let next = c.peek() else { return nil }
        return switch next {
        case UInt8(ascii: "{"): .object
        case UInt8(ascii: "["): .array
        case UInt8(ascii: "\""): .string
        case UInt8(ascii: "t"), UInt8(ascii: "f"): .bool
        case UInt8(ascii: "n"): .null
        case UInt8(ascii: "-"), UInt8(ascii: "0")...UInt8(ascii: "9"): .number
        default: nil
        }
    }

    /// Calls `member` for each member of the object here, positioned at its value, which it
    /// reads (all of it) or leaves to be skipped. A value that is not an object is an error:
    /// use ``peekKind()`` first where another type is allowed.
    public mutating func object(_ member: (inout JSONScanner, Key) throws(JSONParseError) -> Void) throws(JSONParseError) {
        guard c.peek() == UInt8(ascii: "{") else { throw c.beginningOfValueError() }
        try c.open()
        var first = true
        while try c.nextMember(first: &first) {
            let start = c.i
            let escaped = try c.skipString()
            let key = Key(quoted: UnsafeBufferPointer(rebasing: c.b[start..<c.i]), escaped: escaped)
            try c.colon()
            let before = c.i
            try member(&self, key)
            if c.i == before { try c.skipValue() }
        }
    }

    /// Calls `element` for each element of the array here, positioned at it, which it reads
    /// (all of it) or leaves to be skipped. A value that is not an array is an error.
    public mutating func array(_ element: (inout JSONScanner) throws(JSONParseError) -> Void) throws(JSONParseError) {
        guard c.peek() == UInt8(ascii: "[") else { throw c.beginningOfValueError() }
        try c.open()
        var first = true
        while try c.nextElement(first: &first) {
            let before = c.i
            try element(&self)
            if c.i == before { try c.skipValue() }
        }
    }

    /// Skips the value here, checking it.
    public mutating func skipValue() throws(JSONParseError) {
        c.skipWS()
        try c.skipValue()
    }

    /// The whole value here, parsed (for the rare member that is needed in full).
    public mutating func value() throws(JSONParseError) -> JSONValue {
        c.skipWS()
        let start = c.i
        try c.skipValue()
        // Checked once already: parsing the same bytes cannot fail.
        let slice = UnsafeRawBufferPointer(UnsafeBufferPointer(rebasing: c.b[start..<c.i]))
        return (try? JSONParser.parseResult(slice).get()) ?? .null
    }

    /// The string here; nil (and skipped) when the value is of another type.
    public mutating func string() throws(JSONParseError) -> String? {
        guard c.peek() == UInt8(ascii: "\"") else {
            try skipValue()
            return nil
        }
        return try c.string()
    }

    /// The whole number here as an integer (`5`, `5.0`, `5e0`); nil (and skipped) for
    /// anything else, as ``JSONValue/intValue`` reads the parsed value.
    public mutating func int() throws(JSONParseError) -> Int64? {
        guard let k = c.peek(), k == UInt8(ascii: "-") || c.isDigit(k) else {
            try skipValue()
            return nil
        }
        return try c.number().intValue
    }

    /// The object of strings here (`labels`, `annotations`), members of other types left out;
    /// nil (and skipped) when the value is not an object. As ``JSONValue/stringMap``, a key
    /// given twice counts with its last value.
    public mutating func stringMap() throws(JSONParseError) -> [String: String]? {
        guard c.peek() == UInt8(ascii: "{") else {
            try skipValue()
            return nil
        }
        var map: [String: String] = [:]
        try object { s, key throws(JSONParseError) in
            map[key.string] = try s.string()
        }
        return map
    }

    /// The strings of the array here, elements of other types left out; nil (and skipped)
    /// when the value is not an array.
    public mutating func stringArray() throws(JSONParseError) -> [String]? {
        guard c.peek() == UInt8(ascii: "[") else {
            try skipValue()
            return nil
        }
        var out: [String] = []
        try array { s throws(JSONParseError) in
            if let value = try s.string() { out.append(value) }
        }
        return out
    }

    /// Before the document: there must be a value.
    public mutating func begin() throws(JSONParseError) {
        try c.begin()
    }

    /// After the document: only whitespace may follow.
    public mutating func end() throws(JSONParseError) {
        try c.end()
    }
}
