/// YAML read with libyaml (the parser Go's YAML reader and PyYAML share the grammar of), composed
/// into `YAMLNode` trees here, and plain scalars typed by hand under YAML 1.1's rules: `yes` is
/// true, `0x1F` an int. The typing rules are those of Yams' default resolver, in its order (the
/// tests hold them to it); the daemon links neither Yams nor Foundation, whose regular
/// expressions (ICU) that resolver compiles.
///
/// Keys that differ only by their type (`1` and `"1"`) are duplicates in one mapping here.
public enum YAMLReader {
    /// The one document in `text` (nil when it holds none).
    public static func compose(_ text: String) throws(YAMLError) -> YAMLNode? {
        let documents = try YAMLComposer(text).documents()
        guard documents.count <= 1 else {
            throw YAMLError(problem: "expected a single document in the stream, found \(documents.count)", mark: documents[1].mark)
        }
        return documents.first
    }

    /// Every document of a `---` separated stream, empty ones left out. A syntax error in any
    /// document throws.
    public static func composeAll(_ text: String) throws(YAMLError) -> [YAMLNode] {
        try YAMLComposer(text).documents()
    }

    /// A value's tag: an explicit one as written (`!!str 3`), a quoted scalar's `str`, a plain
    /// scalar's as `plainScalarTag(_:)` resolves it, and a collection's `map` or `seq`.
    public static func tag(of node: YAMLNode) -> YAMLTag {
        switch node {
        case .scalar(let scalar): scalar.tag ?? plainScalarTag(scalar.string)
        case .mapping: .map
        case .sequence: .seq
        }
    }

    /// A mapping key that merges (`<<: *defaults`): `<<` unquoted.
    public static func isMergeKey(_ key: YAMLNode) -> Bool {
        guard case .scalar(let scalar) = key else { return false }
        return scalar.style == .plain && scalar.tag == nil && scalar.string == "<<"
    }

    /// The type of an untagged, unquoted scalar under YAML 1.1's rules, as Yams' default resolver
    /// names it: the first of bool, int, float, merge (`<<`), null, timestamp, value (`=`) whose
    /// pattern matches the whole text, else str.
    public static func plainScalarTag(_ text: String) -> YAMLTag {
        let t = Array(text.utf8)
        if isBool(t) { return .bool }
        if isInt(t) { return .int }
        if isFloat(t) { return .float }
        if t == Array("<<".utf8) { return .merge }
        if isNull(t) { return .null }
        if isTimestamp(t) { return .timestamp }
        if t == [UInt8(ascii: "=")] { return .value }
        return .str
    }

    // MARK: The rules, each the regular expression of Yams' `Resolver.Rule` of the same name

    private static let bools: Set<[UInt8]> = Set([
        "yes", "Yes", "YES", "no", "No", "NO", "true", "True", "TRUE", "false", "False", "FALSE",
        "on", "On", "ON", "off", "Off", "OFF",
    ].map { Array($0.utf8) })
    private static let nulls: Set<[UInt8]> = Set(["", "~", "null", "Null", "NULL"].map { Array($0.utf8) })

    static func isBool(_ t: [UInt8]) -> Bool { bools.contains(t) }
    static func isNull(_ t: [UInt8]) -> Bool { nulls.contains(t) }

    /// `[-+]?0b[0-1_]+ | [-+]?0o?[0-7_]+ | [-+]?(0|[1-9][0-9_]*) | [-+]?0x[0-9a-fA-F_]+
    /// | [-+]?[1-9][0-9_]*(:[0-5]?[0-9])+`
    static func isInt(_ t: [UInt8]) -> Bool {
        var s = Scan(t)
        s.sign()
        let body = s
        if s.take("0b"), s.many({ $0 == 0x30 || $0 == 0x31 || $0 == underscore }), s.atEnd { return true }
        s = body
        if s.take("0") {
            let afterZero = s
            _ = s.take("o")
            if s.many({ isOctal($0) || $0 == underscore }), s.atEnd { return true }
            s = afterZero
            if s.atEnd { return true }
            if s.take("x"), s.many({ isHex($0) || $0 == underscore }), s.atEnd { return true }
            return false
        }
        guard s.one(isNonZeroDigit) else { return false }
        _ = s.many { isDigit($0) || $0 == underscore }
        if s.atEnd { return true }
        return s.sexagesimalGroups() && s.atEnd
    }

    /// `[-+]?[0-9][0-9_]*(\.[0-9_]*)?([eE][-+]?[0-9]+)? | \.[0-9_]+([eE][-+][0-9]+)?
    /// | [-+]?[0-9][0-9_]*(:[0-5]?[0-9])+\.[0-9_]* | [-+]?\.(inf|Inf|INF) | \.(nan|NaN|NAN)`
    static func isFloat(_ t: [UInt8]) -> Bool {
        var s = Scan(t)
        if s.take(".") {
            if s.take("nan") || s.take("NaN") || s.take("NAN") { return s.atEnd }
            if s.take("inf") || s.take("Inf") || s.take("INF") { return s.atEnd }
            guard s.many({ isDigit($0) || $0 == underscore }) else { return false }
            if s.atEnd { return true }
            guard s.one({ $0 == 0x65 || $0 == 0x45 }), s.one({ $0 == 0x2B || $0 == 0x2D }), s.many(isDigit) else { return false }
            return s.atEnd
        }
        s.sign()
        if s.take(".") { return (s.take("inf") || s.take("Inf") || s.take("INF")) && s.atEnd }
        guard s.one(isDigit) else { return false }
        _ = s.many { isDigit($0) || $0 == underscore }
        let afterDigits = s
        if s.take(".") { _ = s.many { isDigit($0) || $0 == underscore } }
        if s.one({ $0 == 0x65 || $0 == 0x45 }) {
            _ = s.one { $0 == 0x2B || $0 == 0x2D }
            guard s.many(isDigit) else { return false }
        }
        if s.atEnd { return true }
        s = afterDigits
        guard s.sexagesimalGroups(), s.take(".") else { return false }
        _ = s.many { isDigit($0) || $0 == underscore }
        return s.atEnd
    }

    /// `YYYY-MM-DD`, or `YYYY-M?M-D?D` then `T`, `t` or blanks, then `H?H:MM:SS(.fraction)?`
    /// and an optional zone (`Z`, `±H?H(:MM)?`) after optional blanks.
    static func isTimestamp(_ t: [UInt8]) -> Bool {
        var s = Scan(t)
        guard s.digits(4), s.take("-") else { return false }
        let month = s
        if s.digits(2), s.take("-"), s.digits(2), s.atEnd { return true }
        s = month
        guard s.digits(1) else { return false }
        _ = s.digits(1)
        guard s.take("-"), s.digits(1) else { return false }
        _ = s.digits(1)
        if !(s.one { $0 == 0x54 || $0 == 0x74 }) {
            guard s.many(isBlank) else { return false }
        }
        guard s.digits(1) else { return false }
        _ = s.digits(1)
        guard s.take(":"), s.digits(2), s.take(":"), s.digits(2) else { return false }
        if s.take(".") { _ = s.many(isDigit) }
        if s.atEnd { return true }
        _ = s.many(isBlank)
        if s.take("Z") { return s.atEnd }
        guard s.one({ $0 == 0x2B || $0 == 0x2D }), s.digits(1) else { return false }
        _ = s.digits(1)
        if s.take(":") { guard s.digits(2) else { return false } }
        return s.atEnd
    }

    private static let underscore = UInt8(ascii: "_")
    private static func isDigit(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x39 }
    private static func isNonZeroDigit(_ c: UInt8) -> Bool { c >= 0x31 && c <= 0x39 }
    private static func isOctal(_ c: UInt8) -> Bool { c >= 0x30 && c <= 0x37 }
    private static func isHex(_ c: UInt8) -> Bool { isDigit(c) || (c | 0x20) >= 0x61 && (c | 0x20) <= 0x66 }
    private static func isBlank(_ c: UInt8) -> Bool { c == 0x20 || c == 0x09 }

    /// A cursor over the scalar's bytes; each step either consumes what it names or nothing.
    private struct Scan {
        let bytes: [UInt8]
        var at = 0
        init(_ bytes: [UInt8]) { self.bytes = bytes }

        var atEnd: Bool { at == bytes.count }

        mutating func sign() { _ = one { $0 == 0x2B || $0 == 0x2D } }

        mutating func one(_ accept: (UInt8) -> Bool) -> Bool {
            guard at < bytes.count, accept(bytes[at]) else { return false }
            at += 1
            return true
        }

        /// One or more.
        mutating func many(_ accept: (UInt8) -> Bool) -> Bool {
            let start = at
            while at < bytes.count, accept(bytes[at]) { at += 1 }
            return at > start
        }

        mutating func take(_ literal: StaticString) -> Bool {
            let count = literal.utf8CodeUnitCount
            guard bytes.count - at >= count else { return false }
            for i in 0..<count where bytes[at + i] != literal.utf8Start[i] { return false }
            at += count
            return true
        }

        mutating func digits(_ count: Int) -> Bool {
            guard bytes.count - at >= count, bytes[at..<at + count].allSatisfy(isDigit) else { return false }
            at += count
            return true
        }

        /// `(:[0-5]?[0-9])+`
        mutating func sexagesimalGroups() -> Bool {
            var groups = 0
            while at < bytes.count, bytes[at] == UInt8(ascii: ":") {
                let start = at
                at += 1
                if at + 1 < bytes.count, bytes[at] >= 0x30, bytes[at] <= 0x35, isDigit(bytes[at + 1]) {
                    at += 2
                } else if at < bytes.count, isDigit(bytes[at]) {
                    at += 1
                } else {
                    at = start
                    break
                }
                groups += 1
            }
            return groups > 0
        }
    }
}
