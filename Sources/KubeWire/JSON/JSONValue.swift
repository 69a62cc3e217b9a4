/// A JSON document as the API server sends it.
///
/// JSON's `null` is `.null`, never the `nil` literal: `JSONValue?` is everywhere (a missing
/// member), and a `nil` that silently became `.null` would be a present member.
///
/// Objects are kept in this form rather than in generated structs: the engine reads a few
/// fields (`data`, `type`, `metadata`) and must round-trip everything else untouched, and the
/// emulator patches, validates and re-encodes whole objects. Integers are kept apart from
/// doubles so `generation`, `resourceVersion`-like counters and `gracePeriodSeconds` survive a
/// round trip exactly. Secret `data` values stay base64 strings.
public enum JSONValue: Sendable, Hashable {
    case null
    case bool(Bool)
    case int(Int64)
    case double(Double)
    case string(String)
    case array([JSONValue])
    case object([String: JSONValue])

    /// The member `key` of an object, or `nil` for a missing key or a non-object. Setting a
    /// member of a non-object does nothing; setting `nil` removes it.
    public subscript(key: String) -> JSONValue? {
        get {
            if case .object(let members) = self { return members[key] }
            return nil
        }
        set {
            guard case .object(var members) = self else { return }
            self = .null  // drop our reference so `members` stays uniquely owned while it changes
            members[key] = newValue
            self = .object(members)
        }
    }

    public var stringValue: String? {
        if case .string(let s) = self { return s }
        return nil
    }

    public var intValue: Int64? {
        switch self {
        case .int(let i): return i
        case .double(let d) where d.rounded() == d && abs(d) < 9.0e18: return Int64(d)
        default: return nil
        }
    }

    public var boolValue: Bool? {
        if case .bool(let b) = self { return b }
        return nil
    }

    public var objectValue: [String: JSONValue]? {
        if case .object(let o) = self { return o }
        return nil
    }

    public var arrayValue: [JSONValue]? {
        if case .array(let a) = self { return a }
        return nil
    }

    /// A `[String: String]` map such as `labels`, `annotations` or ConfigMap `data`;
    /// non-string members are skipped.
    public var stringMap: [String: String]? {
        guard case .object(let o) = self else { return nil }
        var out: [String: String] = [:]
        out.reserveCapacity(o.count)
        for (k, v) in o {
            if case .string(let s) = v { out[k] = s }
        }
        return out
    }

    /// Builds a JSON object from a string map (labels, annotations, data).
    public static func stringMap(_ map: [String: String]) -> JSONValue {
        .object(map.mapValues { .string($0) })
    }
}

extension JSONValue: ExpressibleByStringLiteral, ExpressibleByIntegerLiteral, ExpressibleByBooleanLiteral,
    ExpressibleByArrayLiteral, ExpressibleByDictionaryLiteral, ExpressibleByFloatLiteral
{
    public init(stringLiteral value: String) { self = .string(value) }
    public init(integerLiteral value: Int64) { self = .int(value) }
    public init(floatLiteral value: Double) { self = .double(value) }
    public init(booleanLiteral value: Bool) { self = .bool(value) }
    public init(arrayLiteral elements: JSONValue...) { self = .array(elements) }
    public init(dictionaryLiteral elements: (String, JSONValue)...) {
        self = .object(Dictionary(elements, uniquingKeysWith: { $1 }))
    }
}
