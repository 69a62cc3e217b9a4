import Foundation

/// The line formats: text (`<N>` syslog prefix, which journald turns into PRIORITY when it reads
/// stdout/stderr), logfmt and JSON lines.
enum LogLine {
    static func render(_ record: LogRecord, as format: LogFormat, at time: Date) -> String {
        switch format {
        case .text, .journal:
            var line = "<\(record.syslogPriority)>[\(record.level)] \(record.message.replacingOccurrences(of: "\n", with: "\\n"))"
            for (key, value) in record.metadata { line += " \(key)=\(logfmtValue(value))" }
            return line
        case .logfmt:
            var line = "time=\(timestamp(time)) level=\(record.level) msg=\(logfmtValue(record.message))"
            for (key, value) in record.metadata { line += " \(logfmtKey(key))=\(logfmtValue(value))" }
            return line
        case .json:
            var line = "{\"time\":\(jsonString(timestamp(time))),\"level\":\(jsonString(record.level.rawValue)),\"msg\":\(jsonString(record.message))"
            for (key, value) in record.metadata { line += ",\(jsonString(key)):\(jsonString(value))" }
            return line + "}"
        }
    }

    static func timestamp(_ date: Date) -> String {
        date.formatted(.iso8601.year().month().day().time(includingFractionalSeconds: true).timeZone(separator: .omitted))
    }

    private static func logfmtKey(_ key: String) -> String {
        String(key.map { $0 == " " || $0 == "=" || $0 == "\"" ? "_" : $0 })
    }

    static func logfmtValue(_ value: String) -> String {
        let needsQuotes = value.isEmpty || value.contains { $0 == " " || $0 == "=" || $0 == "\"" || $0 == "\\" || $0.isNewline || $0 == "\t" }
        guard needsQuotes else { return value }
        var quoted = "\""
        for character in value {
            switch character {
            case "\"": quoted += "\\\""
            case "\\": quoted += "\\\\"
            case "\n": quoted += "\\n"
            case "\r": quoted += "\\r"
            case "\t": quoted += "\\t"
            default: quoted.append(character)
            }
        }
        return quoted + "\""
    }

    static func jsonString(_ value: String) -> String {
        var escaped = "\""
        for scalar in value.unicodeScalars {
            switch scalar {
            case "\"": escaped += "\\\""
            case "\\": escaped += "\\\\"
            case "\n": escaped += "\\n"
            case "\r": escaped += "\\r"
            case "\t": escaped += "\\t"
            case _ where scalar.value < 0x20: escaped += String(format: "\\u%04x", scalar.value)
            default: escaped.unicodeScalars.append(scalar)
            }
        }
        return escaped + "\""
    }
}
