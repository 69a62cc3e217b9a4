import CSpillwayShims

/// sd_notify(3): the service manager's notification socket.
public enum SystemdNotify {
    /// Sends newline-separated `KEY=VALUE` lines (`READY=1`, `STATUS=…`) in one datagram.
    /// Returns false when it could not be sent; without `$NOTIFY_SOCKET` it does nothing and
    /// returns true.
    @discardableResult
    public static func send(_ lines: [String]) -> Bool {
        spw_sd_notify(lines.joined(separator: "\n")) >= 0
    }
}

/// sd_journal_sendv(3): native journal entries with structured fields.
public enum SystemdJournal {
    /// Sends one entry of `NAME=value` fields (values may hold any bytes, newlines too).
    /// Returns false if the journal did not take it.
    public static func send(_ fields: [(name: String, value: String)]) -> Bool {
        // One contiguous buffer of "NAME=value" fields.
        var storage: [UInt8] = []
        var offsets: [Int] = []
        var lengths: [Int] = []
        for (name, value) in fields {
            offsets.append(storage.count)
            storage += Array("\(name)=\(value)".utf8)
            lengths.append(storage.count - offsets.last!)
        }
        return storage.withUnsafeBytes { bytes in
            let pointers: [UnsafePointer<CChar>?] = offsets.map {
                (bytes.baseAddress! + $0).assumingMemoryBound(to: CChar.self)
            }
            return spw_sd_journal_sendv(pointers, lengths, Int32(lengths.count)) >= 0
        }
    }
}
