import FoundationEssentials

/// RFC 3339 timestamps as the `expires-at` annotation holds them: UTC, whole seconds
/// (`2026-01-02T15:04:05Z`). Parsing also takes fractional seconds and offsets, since users
/// may edit the annotation.
public enum Timestamp {
    public static func format(_ date: Date) -> String {
        Date(timeIntervalSince1970: date.timeIntervalSince1970.rounded(.down)).formatted(.iso8601)
    }

    public static func parse(_ text: String) -> Date? {
        let trimmed = text.trimmingWhitespace()
        if let date = try? Date.ISO8601FormatStyle().parse(trimmed) { return date }
        return try? Date.ISO8601FormatStyle(includingFractionalSeconds: true).parse(trimmed)
    }
}
