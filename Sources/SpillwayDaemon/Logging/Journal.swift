import FoundationEssentials
import Glibc
import SpillwayReactor

/// Native journald logging: structured fields over sd_journal_sendv, so operators can filter with
/// `journalctl -u spillwayd SPILLWAY_SOURCE=ns/name`.
enum Journal {
    static let syslogIdentifier = "spillwayd"

    /// The fields of one record. Metadata key `k` becomes `SPILLWAY_K` (`source` →
    /// SPILLWAY_SOURCE, `target_namespace` → SPILLWAY_TARGET_NAMESPACE, …).
    static func fields(_ record: LogRecord) -> [(name: String, value: String)] {
        var fields: [(String, String)] = []
        fields.reserveCapacity(6 + record.metadata.count)
        fields += [
            ("MESSAGE", record.message),
            ("PRIORITY", String(record.syslogPriority)),
            ("SYSLOG_IDENTIFIER", syslogIdentifier),
            ("CODE_FILE", record.file),
            ("CODE_LINE", String(record.line)),
            ("CODE_FUNC", record.function),
        ]
        for (key, value) in record.metadata {
            fields.append((fieldNames.name(forMetadataKey: key), value))
        }
        return fields
    }

    /// Journal field names are upper-case letters, digits and '_', not starting with '_' or a
    /// digit, at most 64 characters.
    static func fieldName(forMetadataKey key: String) -> String {
        let cleaned = key.uppercased().map { $0.isASCII && ($0.isLetter || $0.isNumber) ? $0 : "_" }
        return String(("SPILLWAY_" + String(cleaned)).prefix(64))
    }

    /// The field names of the metadata keys seen so far: a handful of keys (`source`, `kind`,
    /// `action`, …), each on every line.
    private static let fieldNames = FieldNames()

    private final class FieldNames: @unchecked Sendable {
        private let lock = Lock()
        private var names: [String: String] = [:]

        func name(forMetadataKey key: String) -> String {
            lock.withLock {
                if let name = names[key] { return name }
                let name = Journal.fieldName(forMetadataKey: key)
                // Bounded, should a caller ever put data in a key.
                if names.count < 256 { names[key] = name }
                return name
            }
        }
    }

    /// Sends one record; false if the journal did not take it.
    static func send(_ record: LogRecord) -> Bool {
        SystemdJournal.send(fields(record))
    }

    /// systemd sets JOURNAL_STREAM=dev:ino when stdout/stderr are connected to the journal; it is
    /// only trustworthy if it still names our stderr (a child may inherit the variable with its
    /// stderr redirected elsewhere).
    static func stderrIsJournal(environment: [String: String]) -> Bool {
        guard let stream = environment["JOURNAL_STREAM"] else { return false }
        let parts = stream.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var status = stat()
        guard fstat(STDERR_FILENO, &status) == 0 else { return false }
        return UInt64(status.st_dev) == device && UInt64(status.st_ino) == inode
    }
}
