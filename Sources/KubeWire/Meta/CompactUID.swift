/// An object's `metadata.uid` held in 16 bytes when it is the lowercase UUID the API server
/// generates, and as its text otherwise.
///
/// The caches keep one per replica, and as a 36-character String each was an allocation of its
/// own (a String holds at most 15 bytes inline): about 100 bytes of heap per replica, 1 MB of the
/// 9 MB a daemon with 10,000 replicas holds (BENCHMARKS.md, "Memory per replica"). The value form
/// allocates nothing and gives back exactly the text it was made from.
public enum CompactUID: Sendable, Hashable {
    case uuid(high: UInt64, low: UInt64)
    case text(String)

    public init(_ text: String) {
        self = Self.parse(text).map { .uuid(high: $0.high, low: $0.low) } ?? .text(text)
    }

    /// The uid as the API server wrote it.
    public var text: String {
        switch self {
        case .text(let text):
            return text
        case .uuid(let high, let low):
            return String(unsafeUninitializedCapacity: 36) { buffer in
                var at = 0
                func put(_ value: UInt64, nibbles: Int) {
                    for shift in stride(from: (nibbles - 1) * 4, through: 0, by: -4) {
                        if Self.isDash(at) {
                            buffer[at] = UInt8(ascii: "-")
                            at += 1
                        }
                        buffer[at] = Self.hexDigits[Int((value >> UInt64(shift)) & 0xF)]
                        at += 1
                    }
                }
                put(high, nibbles: 16)
                put(low, nibbles: 16)
                return at
            }
        }
    }

    private static let hexDigits: [UInt8] = Array("0123456789abcdef".utf8)

    /// Whether the UUID's text holds a dash at this position (8-4-4-4-12 hex digits).
    private static func isDash(_ position: Int) -> Bool {
        position == 8 || position == 13 || position == 18 || position == 23
    }

    /// The 128 bits of `xxxxxxxx-xxxx-xxxx-xxxx-xxxxxxxxxxxx` in lowercase hex; nil for any other
    /// text (uppercase included, so that the text comes back as it was).
    private static func parse(_ text: String) -> (high: UInt64, low: UInt64)? {
        var text = text
        return text.withUTF8 { bytes -> (high: UInt64, low: UInt64)? in
            guard bytes.count == 36 else { return nil }
            var high: UInt64 = 0
            var low: UInt64 = 0
            var nibbles = 0
            for (index, byte) in bytes.enumerated() {
                if Self.isDash(index) {
                    guard byte == UInt8(ascii: "-") else { return nil }
                    continue
                }
                let value: UInt8
                switch byte {
                case UInt8(ascii: "0")...UInt8(ascii: "9"): value = byte - UInt8(ascii: "0")
                case UInt8(ascii: "a")...UInt8(ascii: "f"): value = byte - UInt8(ascii: "a") + 10
                default: return nil
                }
                if nibbles < 16 {
                    high = high << 4 | UInt64(value)
                } else {
                    low = low << 4 | UInt64(value)
                }
                nibbles += 1
            }
            return (high, low)
        }
    }
}
