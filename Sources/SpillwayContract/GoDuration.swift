import Foundation

/// A duration in Go's `time.ParseDuration` syntax, as `replica-ttl` takes it: a sequence of
/// decimal numbers, each with an optional fraction and a unit — `ns`, `us` (or `µs`), `ms`, `s`,
/// `m`, `h` — such as `30m`, `24h`, `168h`, `1h30m`, `1.5h`, `90s`. Days are not a unit (write
/// `168h` for a week). spillway accepts only durations greater than zero.
public struct GoDuration: Sendable, Equatable, Hashable, Comparable, CustomStringConvertible {
    public var nanoseconds: Int64

    public init(nanoseconds: Int64) { self.nanoseconds = nanoseconds }

    public var seconds: Double { Double(nanoseconds) / 1e9 }

    private static let units: [(suffix: String, nanoseconds: Int64)] = [
        ("ns", 1), ("us", 1_000), ("µs", 1_000), ("μs", 1_000), ("ms", 1_000_000),
        ("s", 1_000_000_000), ("m", 60_000_000_000), ("h", 3_600_000_000_000),
    ]

    /// Parses a positive Go duration; surrounding whitespace is ignored.
    public init(parsing raw: String) throws(SyntaxError) {
        let text = raw.trimmingCharacters(in: .whitespacesAndNewlines)
        func fail(_ problem: String) -> SyntaxError {
            SyntaxError("duration \"\(text)\": \(problem) (examples: 30m, 24h, 168h, 1h30m)")
        }
        var rest = Substring(text)
        if rest.first == "+" { rest.removeFirst() }
        if rest.first == "-" { throw fail("must be greater than zero") }
        guard !rest.isEmpty else { throw fail("empty") }
        var total: Int64 = 0
        while !rest.isEmpty {
            let whole = rest.prefix { $0.isASCII && $0.isNumber }
            rest.removeFirst(whole.count)
            var fraction: Substring = ""
            if rest.first == "." {
                rest.removeFirst()
                fraction = rest.prefix { $0.isASCII && $0.isNumber }
                rest.removeFirst(fraction.count)
            }
            guard !whole.isEmpty || !fraction.isEmpty else { throw fail("expected a number") }
            let unitText = rest.prefix { !($0.isASCII && ($0.isNumber || $0 == ".")) }
            rest.removeFirst(unitText.count)
            guard !unitText.isEmpty else { throw fail("missing unit after \(whole)\(fraction.isEmpty ? "" : "." + fraction)") }
            guard let unit = Self.units.first(where: { $0.suffix == unitText })?.nanoseconds else {
                throw fail("unknown unit \"\(unitText)\" (use ns, us, ms, s, m or h)")
            }
            guard let wholeValue = Int64(whole.isEmpty ? "0" : whole) else { throw fail("out of range") }
            let (scaled, overflow) = wholeValue.multipliedReportingOverflow(by: unit)
            guard !overflow else { throw fail("out of range") }
            let fractionValue = Self.fraction(fraction, of: unit)
            let (sum, overflow2) = total.addingReportingOverflow(scaled)
            guard !overflow2, case let (withFraction, false) = sum.addingReportingOverflow(fractionValue) else {
                throw fail("out of range")
            }
            total = withFraction
        }
        guard total > 0 else { throw fail("must be greater than zero") }
        nanoseconds = total
    }

    public static func < (a: GoDuration, b: GoDuration) -> Bool { a.nanoseconds < b.nanoseconds }

    /// Go's canonical form (`1h30m0s`, `1.5s`, `250ms`, `1.5µs`, `7ns`), for messages; it parses
    /// back to the same duration. Integer arithmetic throughout: a fraction printed through a
    /// Double came out as `1.5e-06s`, which is no Go duration.
    public var description: String {
        let sign = nanoseconds < 0 ? "-" : ""
        let total = nanoseconds.magnitude
        if total == 0 { return "0s" }
        if total < 1_000 { return "\(sign)\(total)ns" }
        if total < 1_000_000 { return sign + Self.decimal(total, unit: 1_000) + "µs" }
        if total < 1_000_000_000 { return sign + Self.decimal(total, unit: 1_000_000) + "ms" }
        let hours = total / 3_600_000_000_000
        let minutes = total % 3_600_000_000_000 / 60_000_000_000
        let seconds = Self.decimal(total % 60_000_000_000, unit: 1_000_000_000) + "s"
        if hours > 0 { return "\(sign)\(hours)h\(minutes)m\(seconds)" }
        if minutes > 0 { return "\(sign)\(minutes)m\(seconds)" }
        return sign + seconds
    }

    /// The nanoseconds of `.digits` of `unit`, truncated as Go truncates, in integer arithmetic
    /// (through a Double, "0.500002s" came out one nanosecond short). Digits past the 18th are
    /// worth less than a nanosecond of the largest unit.
    private static func fraction(_ digits: Substring, of unit: Int64) -> Int64 {
        let kept = digits.prefix(18)
        guard let numerator = Int64(kept), numerator > 0 else { return 0 }
        var scale: Int64 = 1
        for _ in kept { scale *= 10 }
        return scale.dividingFullWidth(numerator.multipliedFullWidth(by: unit)).quotient
    }

    /// `value / unit` in decimal, without trailing zeros: 1500 / 1000 → "1.5".
    private static func decimal(_ value: UInt64, unit: UInt64) -> String {
        let whole = value / unit
        let fraction = value % unit
        guard fraction > 0 else { return String(whole) }
        let width = String(unit).count - 1
        var digits = String(fraction)
        digits = String(repeating: "0", count: width - digits.count) + digits
        while digits.hasSuffix("0") { digits.removeLast() }
        return "\(whole).\(digits)"
    }
}
