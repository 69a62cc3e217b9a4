/// Go-style durations (`time.ParseDuration`): `30s`, `5m`, `1h30m`, `1.5h`, `250ms`.
///
/// The chart, the unit and every peer controller speak this syntax, so a value copied from any of
/// them means the same thing here.
enum GoDuration {
    private static let units: [(suffix: String, seconds: Double)] = [
        // Longest suffixes first so `ms` is not read as `m` followed by junk.
        ("ns", 1e-9), ("us", 1e-6), ("µs", 1e-6), ("μs", 1e-6), ("ms", 1e-3),
        ("h", 3600), ("m", 60), ("s", 1),
    ]

    /// Parses `text`, or returns nil when it is not a Go duration.
    static func parse(_ text: String) -> Duration? {
        if text == "0" { return .zero }
        var rest = Substring(text)
        var negative = false
        if rest.first == "-" || rest.first == "+" {
            negative = rest.first == "-"
            rest = rest.dropFirst()
        }
        guard !rest.isEmpty else { return nil }
        var total = 0.0
        while !rest.isEmpty {
            let number = rest.prefix { $0.isASCII && ($0.isNumber || $0 == ".") }
            guard !number.isEmpty, number != ".", number.filter({ $0 == "." }).count <= 1,
                let value = Double(number.hasPrefix(".") ? "0" + number : String(number))
            else { return nil }
            rest = rest.dropFirst(number.count)
            guard let unit = units.first(where: { rest.hasPrefix($0.suffix) }) else { return nil }
            rest = rest.dropFirst(unit.suffix.count)
            total += value * unit.seconds
        }
        guard total.isFinite, total < Double(Int64.max) / 1e9 else { return nil }
        let duration = Duration.nanoseconds(Int64((total * 1e9).rounded()))
        return negative ? .zero - duration : duration
    }

    /// Formats a duration the way Go prints it (`5m0s`, `1h30m0s`, `250ms`), for help and logs.
    static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if seconds == 0 && attoseconds == 0 { return "0s" }
        if seconds == 0 {
            let nanos = attoseconds / 1_000_000_000
            if nanos % 1_000_000 == 0 { return "\(nanos / 1_000_000)ms" }
            if nanos % 1000 == 0 { return "\(nanos / 1000)µs" }
            return "\(nanos)ns"
        }
        var text = ""
        let hours = seconds / 3600, minutes = (seconds % 3600) / 60, secs = seconds % 60
        if hours > 0 { text += "\(hours)h" }
        if hours > 0 || minutes > 0 { text += "\(minutes)m" }
        let fraction = attoseconds / 1_000_000_000_000_000 // milliseconds
        if fraction == 0 {
            text += "\(secs)s"
        } else {
            let digits = String(String(fraction + 1000).dropFirst()).reversed().drop { $0 == "0" }.reversed()
            text += "\(secs).\(String(digits))s"
        }
        return text
    }
}
