/// A YAML document as a tree, composed by `YAMLReader` from libyaml's events: aliases are
/// resolved to the node their anchor names, and every node carries where it starts.
public enum YAMLNode: Sendable {
    case scalar(YAMLScalar)
    case mapping(YAMLMapping)
    case sequence(YAMLSequence)

    /// Where the node starts in the text.
    public var mark: YAMLMark {
        switch self {
        case .scalar(let scalar): scalar.mark
        case .mapping(let mapping): mapping.mark
        case .sequence(let sequence): sequence.mark
        }
    }

    /// A scalar's text; nil for a collection.
    public var string: String? {
        if case .scalar(let scalar) = self { return scalar.string }
        return nil
    }
}

/// A position in YAML text, both counted from 1.
public struct YAMLMark: Sendable, Equatable, CustomStringConvertible {
    public var line: Int
    public var column: Int
    public var description: String { "line \(line), column \(column)" }
}

public struct YAMLScalar: Sendable {
    public enum Style: Sendable { case plain, singleQuoted, doubleQuoted, literal, folded }
    public var string: String
    /// The tag as written (`!!str 3`: `tag:yaml.org,2002:str`), `str` for an untagged quoted or
    /// block scalar, nil for an untagged plain one (typed by `YAMLReader.plainScalarTag`).
    public var tag: YAMLTag?
    public var style: Style
    public var mark: YAMLMark
}

/// A mapping's entries in the order written (keys are unique: the reader rejects duplicates).
public struct YAMLMapping: Sendable, RandomAccessCollection {
    public var entries: [(key: YAMLNode, value: YAMLNode)]
    public var mark: YAMLMark
    public var startIndex: Int { entries.startIndex }
    public var endIndex: Int { entries.endIndex }
    public subscript(position: Int) -> (key: YAMLNode, value: YAMLNode) { entries[position] }
}

public struct YAMLSequence: Sendable, RandomAccessCollection {
    public var items: [YAMLNode]
    public var mark: YAMLMark
    public var startIndex: Int { items.startIndex }
    public var endIndex: Int { items.endIndex }
    public subscript(position: Int) -> YAMLNode { items[position] }
}

/// A YAML type, named by its tag URI as YAML 1.1's core types are.
public struct YAMLTag: RawRepresentable, Hashable, Sendable, CustomStringConvertible {
    public var rawValue: String
    public init(rawValue: String) { self.rawValue = rawValue }
    private init(core name: String) { rawValue = "tag:yaml.org,2002:" + name }

    public static let str = YAMLTag(core: "str")
    public static let int = YAMLTag(core: "int")
    public static let float = YAMLTag(core: "float")
    public static let bool = YAMLTag(core: "bool")
    public static let null = YAMLTag(core: "null")
    public static let timestamp = YAMLTag(core: "timestamp")
    public static let merge = YAMLTag(core: "merge")
    public static let value = YAMLTag(core: "value")
    public static let map = YAMLTag(core: "map")
    public static let seq = YAMLTag(core: "seq")

    public var description: String { rawValue }
}

/// Text that is not YAML, or YAML that composes to no tree (an alias to no anchor, a key twice
/// in one mapping): libyaml's words and where: `line 3, column 1: did not find expected '-'
/// indicator`.
public struct YAMLError: Error, Sendable, CustomStringConvertible {
    public var problem: String
    public var mark: YAMLMark?
    public var description: String { mark.map { "\($0): \(problem)" } ?? problem }
}

extension YAMLScalar {
    /// The value of a `bool` scalar (YAML 1.1: `yes`, `on`, `true` in any case).
    public var bool: Bool? {
        switch string.lowercased() {
        case "true", "yes", "on": true
        case "false", "no", "off": false
        default: nil
        }
    }

    /// The value of an `int` scalar: decimal, `0x`, `0o` or leading-0 octal, `0b`, `_` between
    /// digits, and base 60 (`1:30` is 90). Nil for a quoted scalar and for a value beyond `Int`.
    public var int: Int? {
        guard style == .plain else { return nil }
        let text = string.filter { $0 != "_" }
        if text == "0" { return 0 }
        let negative = text.hasPrefix("-")
        let sign = negative ? "-" : ""
        let digits = text.dropFirst(negative || text.hasPrefix("+") ? 1 : 0)
        for (prefix, radix) in [("0x", 16), ("0b", 2), ("0o", 8), ("0", 8)] where digits.hasPrefix(prefix) {
            return Int(sign + digits.dropFirst(prefix.count), radix: radix)
        }
        if digits.contains(":") { return Self.base60Int(text) }
        return Int(text)
    }

    /// The value of a `float` scalar: `.inf`, `-.inf`, `.nan`, `_` between digits, base 60.
    /// Nil for a quoted scalar.
    public var float: Double? {
        guard style == .plain else { return nil }
        switch string.lowercased() {
        case ".inf", "+.inf": return .infinity
        case "-.inf": return -.infinity
        case ".nan": return .nan
        default:
            let text = string.filter { $0 != "_" }
            return text.contains(":") ? Self.base60Double(text) : Double(text)
        }
    }

    /// `[-+]a:b:c` as its sign and its parts, least significant first: `±(a·3600 + b·60 + c)`.
    private static func base60Parts(_ text: String) -> (negative: Bool, parts: ReversedCollection<[Substring]>) {
        var body = Substring(text)
        var negative = false
        if body.hasPrefix("-") { negative = true; body = body.dropFirst() } else if body.hasPrefix("+") { body = body.dropFirst() }
        return (negative, body.split(separator: ":", omittingEmptySubsequences: false).reversed())
    }

    /// A base-60 int; parts that do not parse are left out (as Yams reads them), and a value
    /// beyond `Int` is nil rather than a trap (`10:0:5:0:5:0:0:0:5:0:10:0` in a kubeconfig
    /// stopped the daemon: found by fuzzing).
    private static func base60Int(_ text: String) -> Int? {
        let (negative, parts) = base60Parts(text)
        var value = 0
        var unit = 1
        var unitOverflowed = false
        for part in parts.compactMap({ Int($0) }) {
            if part != 0 {
                guard !unitOverflowed else { return nil }
                let (scaled, overflowed) = part.multipliedReportingOverflow(by: unit)
                let (sum, summedOver) = value.addingReportingOverflow(scaled)
                guard !overflowed, !summedOver else { return nil }
                value = sum
            }
            (unit, unitOverflowed) = unitOverflowed ? (unit, true) : unit.multipliedReportingOverflow(by: 60)
        }
        guard negative else { return value }
        let (negated, overflowed) = 0.subtractingReportingOverflow(value)
        return overflowed ? nil : negated
    }

    /// A base-60 float; parts that do not parse are left out.
    private static func base60Double(_ text: String) -> Double? {
        let (negative, parts) = base60Parts(text)
        var value = 0.0
        var unit = 1.0
        for part in parts.compactMap({ Double($0) }) {
            value += part * unit
            unit *= 60
        }
        return negative ? -value : value
    }
}
