import FoundationEssentials

/// Kubernetes times on the wire. `format`: RFC 3339 as `metav1.Time` and the `expires-at`
/// annotation hold it, UTC, whole seconds (`2026-01-02T15:04:05Z`); `microTime`: `MicroTime`
/// as Events and Leases hold it. Parsing also takes fractional seconds and offsets: users edit
/// the annotation, and exec credential plugins write their expiry as they like.
public enum Timestamp {
    public static func format(_ date: Date) -> String {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)).formatted(.iso8601)
    }

    /// `metav1.MicroTime`: `2006-01-02T15:04:05.000000Z`, UTC.
    public static func microTime(_ date: Date) -> String {
        let fraction = date.timeIntervalSince1970 - date.timeIntervalSince1970.rounded(.down)
        let micros = String(min(Int(fraction * 1e6), 999_999))
        return String(format(date).dropLast()) + "." + String(repeating: "0", count: 6 - micros.count) + micros + "Z"
    }

    public static func parse(_ text: String) -> Date? {
        let trimmed = text.trimmingWhitespace()
        if let date = try? Date.ISO8601FormatStyle().parse(trimmed) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(trimmed)
    }
}
