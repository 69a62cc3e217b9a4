/// A duration in Go's `time.Duration` syntax, as Kubernetes and every peer controller write
/// them (`30s`, `5m`, `1h30m`, `1.5h`, `250ms`, `168h`): a signed sequence of decimal numbers,
/// each with an optional fraction and a unit — `ns`, `us` (or `µs`), `ms`, `s`, `m`, `h`. Days
/// are not a unit. Parsing and printing follow Go's `time.ParseDuration` and
/// `Duration.String` exactly, so a value copied from a chart, a unit file or `kubectl` means
/// the same thing here.
public struct GoDuration: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public init(_ duration: Duration) {
        let (seconds, attoseconds) = duration.components
        nanoseconds = seconds &* 1_000_000_000 &+ attoseconds / 1_000_000_000
    }

    public var duration: Duration { .nanoseconds(nanoseconds) }
    public var seconds: Double { Double(nanoseconds) / 1e9 }

    public static func < (a: GoDuration, b: GoDuration) -> Bool { a.nanoseconds < b.nanoseconds }

    /// Go's `time.ParseDuration`.
    public init(parsing text: String) throws(GoDurationError) {
        let original = text
        func invalid() -> GoDurationError { GoDurationError(problem: .invalid, text: original) }
        var s = Substring(text).utf8[...]
        var negative = false
        if let c = s.first, c == UInt8(ascii: "-") || c == UInt8(ascii: "+") {
            negative = c == UInt8(ascii: "-")
            s = s.dropFirst()
        }
        if s.elementsEqual("0".utf8) {
            nanoseconds = 0
            return
        }
        if s.isEmpty { throw invalid() }
        func isDigit(_ c: UInt8) -> Bool { c >= UInt8(ascii: "0") && c <= UInt8(ascii: "9") }
        var total: UInt64 = 0
        while let first = s.first {
            guard first == UInt8(ascii: ".") || isDigit(first) else { throw invalid() }
            // The whole part; more than 2^63 is out of range.
            var whole: UInt64 = 0
            let wholeDigits = s.prefix(while: isDigit)
            for d in wholeDigits {
                guard whole <= (1 << 63) / 10 else { throw invalid() }
                whole = whole * 10 + UInt64(d - UInt8(ascii: "0"))
                guard whole <= 1 << 63 else { throw invalid() }
            }
            s = s.dropFirst(wholeDigits.count)
            // The fraction: digits beyond what fits are dropped, as Go does.
            var fraction: UInt64 = 0
            var scale = 1.0
            var fractionDigits = 0
            if s.first == UInt8(ascii: ".") {
                s = s.dropFirst()
                var overflowed = false
                while let d = s.first, isDigit(d) {
                    s = s.dropFirst()
                    fractionDigits += 1
                    if overflowed { continue }
                    if fraction > (1 << 63 - 1) / 10 {
                        overflowed = true
                        continue
                    }
                    let next = fraction * 10 + UInt64(d - UInt8(ascii: "0"))
                    if next > 1 << 63 {
                        overflowed = true
                        continue
                    }
                    fraction = next
                    scale *= 10
                }
            }
            if wholeDigits.isEmpty && fractionDigits == 0 { throw invalid() }
            let unitBytes = s.prefix { $0 != UInt8(ascii: ".") && !isDigit($0) }
            if unitBytes.isEmpty { throw GoDurationError(problem: .missingUnit, text: original) }
            s = s.dropFirst(unitBytes.count)
            let unitText = String(decoding: unitBytes, as: UTF8.self)
            guard let unit = Self.units[unitText] else {
                throw GoDurationError(problem: .unknownUnit(unitText), text: original)
            }
            guard whole <= (1 << 63) / unit else { throw invalid() }
            var value = whole * unit
            if fraction > 0 {
                value += UInt64(Double(fraction) * (Double(unit) / scale))
                guard value <= 1 << 63 else { throw invalid() }
            }
            total += value
            guard total <= 1 << 63 else { throw invalid() }
        }
        if negative {
            nanoseconds = total == 1 << 63 ? Int64.min : -Int64(total)
        } else {
            guard total <= UInt64(Int64.max) else { throw invalid() }
            nanoseconds = Int64(total)
        }
    }

    private static let units: [String: UInt64] = [
        "ns": 1, "us": 1_000, "µs": 1_000, "μs": 1_000, "ms": 1_000_000,
        "s": 1_000_000_000, "m": 60_000_000_000, "h": 3_600_000_000_000,
    ]

    /// Go's `Duration.String`: `1h30m0s`, `1m30s`, `1.5s`, `250ms`, `3µs`, `0s`.
    public var description: String {
        var u = nanoseconds == Int64.min ? UInt64(1) << 63 : UInt64(abs(nanoseconds))
        let sign = nanoseconds < 0 ? "-" : ""
        if u < 1_000_000_000 {
            switch u {
            case 0: return "0s"
            case ..<1_000: return "\(sign)\(u)ns"
            case ..<1_000_000: return sign + Self.decimal(u, precision: 3) + "µs"
            default: return sign + Self.decimal(u, precision: 6) + "ms"
            }
        }
        let seconds = Self.decimal(u % 60_000_000_000, precision: 9)
        u /= 60_000_000_000
        guard u > 0 else { return "\(sign)\(seconds)s" }
        let minutes = u % 60
        u /= 60
        guard u > 0 else { return "\(sign)\(minutes)m\(seconds)s" }
        return "\(sign)\(u)h\(minutes)m\(seconds)s"
    }

    /// `v / 10^precision` with the fraction's trailing zeros (and a bare point) left out.
    private static func decimal(_ v: UInt64, precision: Int) -> String {
        var divisor: UInt64 = 1
        for _ in 0..<precision { divisor *= 10 }
        var fraction = String(v % divisor)
        fraction = String(repeating: "0", count: precision - fraction.count) + fraction
        while fraction.last == "0" { fraction.removeLast() }
        return fraction.isEmpty ? String(v / divisor) : "\(v / divisor).\(fraction)"
    }

    /// `text` as a `Duration`, or nil when it is not a Go duration.
    public static func parse(_ text: String) -> Duration? {
        (try? GoDuration(parsing: text))?.duration
    }

    /// `duration` the way Go prints it, for help texts and logs.
    public static func format(_ duration: Duration) -> String {
        GoDuration(duration).description
    }
}

/// A string that is not a Go duration; `description` is Go's own text,
/// `time: unknown unit "d" in duration "1d"`.
public struct GoDurationError: Error, Sendable, Equatable, CustomStringConvertible {
    public enum Problem: Sendable, Equatable {
        /// Not the syntax at all, or out of range (more than about 292 years).
        case invalid
        /// A number without its unit (`10`).
        case missingUnit
        /// A unit Go does not know (`d`, `w`).
        case unknownUnit(String)
    }

    public var problem: Problem
    public var text: String

    /// What is wrong, for a person: `unknown unit "d" (use ns, us, ms, s, m or h)`.
    public var reason: String {
        switch problem {
        case .invalid: "not a duration, or out of range"
        case .missingUnit: "a number without its unit (ns, us, ms, s, m or h)"
        case .unknownUnit(let unit): "unknown unit \"\(unit)\" (use ns, us, ms, s, m or h)"
        }
    }

    public var description: String {
        switch problem {
        case .invalid: "time: invalid duration \"\(text)\""
        case .missingUnit: "time: missing unit in duration \"\(text)\""
        case .unknownUnit(let unit): "time: unknown unit \"\(unit)\" in duration \"\(text)\""
        }
    }
}
