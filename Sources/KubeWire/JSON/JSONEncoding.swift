extension JSONValue {
    /// Compact JSON bytes, as Go's encoding/json writes them: object members in sorted key
    /// order (so equal values encode to equal bytes), `<`, `>` and `&` escaped, whole doubles
    /// without a fraction.
    public func encoded() -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(256)
        encode(into: &out)
        return out
    }

    /// Compact JSON text (see `encoded()`).
    public var jsonString: String { String(decoding: encoded(), as: UTF8.self) }

    public func encode(into out: inout [UInt8]) {
        switch self {
        case .null: out.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c])
        case .bool(true): out.append(contentsOf: [0x74, 0x72, 0x75, 0x65])
        case .bool(false): out.append(contentsOf: [0x66, 0x61, 0x6c, 0x73, 0x65])
        case .int(let v): out.append(contentsOf: String(v).utf8)
        case .double(let v):
            if v.isFinite {
                if v == 0 && v.sign == .minus {
                    out.append(contentsOf: [UInt8(ascii: "-"), UInt8(ascii: "0")])  // as Go writes it
                } else if v == v.rounded() && abs(v) < 1e15 {
                    out.append(contentsOf: String(Int64(v)).utf8)
                } else {
                    out.append(contentsOf: String(v).utf8)
                }
            } else {
                out.append(contentsOf: [0x6e, 0x75, 0x6c, 0x6c])
            }
        case .string(let s): Self.encodeString(s, into: &out)
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
                Self.encodeString(k, into: &out)
                out.append(UInt8(ascii: ":"))
                o[k]!.encode(into: &out)
            }
            out.append(UInt8(ascii: "}"))
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Appends `s` as a JSON string literal.
    public static func encodeString(_ s: String, into out: inout [UInt8]) {
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
