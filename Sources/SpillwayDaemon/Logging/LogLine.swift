import FoundationEssentials
import Glibc

/// The line formats: text (`<N>` syslog prefix, which journald turns into PRIORITY when it reads
/// stdout/stderr), logfmt and JSON lines.
enum LogLine {
    /// Every line feed as `\n`, so that a message stays one line (a CR LF's LF too).
    private static func escapingLineBreaks(_ text: String) -> String {
        var out = ""
        for scalar in text.unicodeScalars {
            if scalar == "\n" { out += "\\n" } else { out.unicodeScalars.append(scalar) }
        }
        return out
    }

    static func render(_ record: LogRecord, as format: LogFormat, at time: Date) -> String {
        switch format {
        case .text, .journal:
            let message = record.message.utf8.contains(UInt8(ascii: "\n"))
                ? escapingLineBreaks(record.message) : record.message
            // One buffer, the pieces appended to it: a line per replica write is logged, and an
            // interpolation per piece grew the line (and made a string) each time.
            var line = ""
            line.reserveCapacity(capacity(record, message))
            line += "<"
            line += String(record.syslogPriority)
            line += ">["
            line += record.level.rawValue
            line += "] "
            line += message
            for (key, value) in record.metadata {
                line += " "
                line += key
                line += "="
                appendLogfmtValue(value, to: &line)
            }
            return line
        case .logfmt:
            var line = ""
            line.reserveCapacity(capacity(record, record.message) + 30)
            line += "time="
            line += timestamp(time)
            line += " level="
            line += record.level.rawValue
            line += " msg="
            appendLogfmtValue(record.message, to: &line)
            for (key, value) in record.metadata {
                line += " "
                line += logfmtKey(key)
                line += "="
                appendLogfmtValue(value, to: &line)
            }
            return line
        case .json:
            var line = ""
            line.reserveCapacity(capacity(record, record.message) + 60)
            line += "{\"time\":"
            appendJSONString(timestamp(time), to: &line)
            line += ",\"level\":"
            appendJSONString(record.level.rawValue, to: &line)
            line += ",\"msg\":"
            appendJSONString(record.message, to: &line)
            for (key, value) in record.metadata {
                line += ","
                appendJSONString(key, to: &line)
                line += ":"
                appendJSONString(value, to: &line)
            }
            line += "}"
            return line
        }
    }

    /// Room for a line of `record` and its line feed, with a little to spare for quotes (the
    /// logfmt and JSON lines add room for their timestamp and keys), so that it is allocated once.
    private static func capacity(_ record: LogRecord, _ message: String) -> Int {
        record.metadata.reduce(24 + message.utf8.count) { $0 + $1.key.utf8.count + $1.value.utf8.count + 4 }
    }

    /// RFC 3339 in UTC with milliseconds (`2026-11-26T01:47:27.123Z`). Built from `gmtime_r`
    /// into 24 bytes: a line per replica write is logged, and Foundation's ISO 8601 format style
    /// (or a String per field) costs more than the rest of the line.
    static func timestamp(_ date: Date) -> String {
        let since1970 = date.timeIntervalSince1970
        var seconds = time_t(since1970.rounded(.down))
        let millis = Int32((since1970 - Double(seconds)) * 1000)
        var parts = tm()
        gmtime_r(&seconds, &parts)
        return String(unsafeUninitializedCapacity: 24) { bytes in
            var at = 0
            func put(_ value: Int32, _ width: Int, then separator: UInt8) {
                var rest = value
                for position in stride(from: at + width - 1, through: at, by: -1) {
                    bytes[position] = UInt8(ascii: "0") + UInt8(rest % 10)
                    rest /= 10
                }
                bytes[at + width] = separator
                at += width + 1
            }
            put(parts.tm_year + 1900, 4, then: UInt8(ascii: "-"))
            put(parts.tm_mon + 1, 2, then: UInt8(ascii: "-"))
            put(parts.tm_mday, 2, then: UInt8(ascii: "T"))
            put(parts.tm_hour, 2, then: UInt8(ascii: ":"))
            put(parts.tm_min, 2, then: UInt8(ascii: ":"))
            put(parts.tm_sec, 2, then: UInt8(ascii: "."))
            put(millis, 3, then: UInt8(ascii: "Z"))
            return at
        }
    }

    private static func logfmtKey(_ key: String) -> String {
        guard key.utf8.contains(where: { $0 == UInt8(ascii: " ") || $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\"") }) else {
            return key
        }
        return String(key.map { $0 == " " || $0 == "=" || $0 == "\"" ? "_" : $0 })
    }

    static func logfmtValue(_ value: String) -> String {
        var out = ""
        appendLogfmtValue(value, to: &out)
        return out
    }

    /// Appends `value` as logfmt writes it: as it is, or quoted, with `"`, `\`, CR, LF and tab
    /// escaped, when it holds a character that needs quoting.
    static func appendLogfmtValue(_ value: String, to line: inout String) {
        // Bytes, not Characters: every character that needs quoting is ASCII, and a line per
        // replica write makes grapheme breaking show in a profile (a quoted message, in logfmt,
        // was a third of its line's cost). CR LF is escaped as its two bytes, so a record stays
        // one line.
        // Quoted: spaces and control characters, `=`, `"`, `\`, and (by their lead bytes 0xC2,
        // 0xE2, erring on the side of quotes) the Unicode line breaks U+0085, U+2028, U+2029.
        let utf8 = value.utf8
        let needsQuotes = value.isEmpty || utf8.contains { byte in
            byte <= 0x20 || byte == UInt8(ascii: "=") || byte == UInt8(ascii: "\"") || byte == UInt8(ascii: "\\")
                || byte == 0xC2 || byte == 0xE2
        }
        guard needsQuotes else {
            line += value
            return
        }
        line += "\""
        // Runs of bytes that need no escape are appended as slices of `value`; an escaped byte is
        // ASCII, so every slice starts and ends on a Unicode scalar boundary.
        var run = utf8.startIndex
        var at = run
        while at < utf8.endIndex {
            let escape: String? =
                switch utf8[at] {
                case UInt8(ascii: "\""): #"\""#
                case UInt8(ascii: "\\"): #"\\"#
                case UInt8(ascii: "\n"): #"\n"#
                case UInt8(ascii: "\r"): #"\r"#
                case UInt8(ascii: "\t"): #"\t"#
                default: nil
                }
            let next = utf8.index(after: at)
            if let escape {
                line += value[run..<at]
                line += escape
                run = next
            }
            at = next
        }
        line += value[run...]
        line += "\""
    }

    static func jsonString(_ value: String) -> String {
        var quoted = ""
        appendJSONString(value, to: &quoted)
        return quoted
    }

    /// Appends `value` as a JSON string, quoted and escaped.
    static func appendJSONString(_ value: String, to line: inout String) {
        // Most values (names, kinds, actions) need no escape: copied between quotes.
        line += "\""
        defer { line += "\"" }
        let plain = !value.utf8.contains { $0 < 0x20 || $0 == UInt8(ascii: "\"") || $0 == UInt8(ascii: "\\") }
        if plain {
            line += value
            return
        }
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": line += "\\\""
            case "\\": line += "\\\\"
            case "\n": line += "\\n"
            case "\r": line += "\\r"
            case "\t": line += "\\t"
            case _ where scalar.value < 0x20:
                let hex = String(scalar.value, radix: 16)
                line += "\\u" + String(repeating: "0", count: 4 - hex.count) + hex
            default: line.unicodeScalars.append(scalar)
            }
        }
    }
}
