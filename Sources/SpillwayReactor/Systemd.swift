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
        // One contiguous buffer of "NAME=value" fields, allocated once (an entry per replica write).
        var storage: [UInt8] = []
        storage.reserveCapacity(fields.reduce(0) { $0 + $1.name.utf8.count + 1 + $1.value.utf8.count })
        var offsets: [Int] = []
        offsets.reserveCapacity(fields.count)
        var lengths: [Int] = []
        lengths.reserveCapacity(fields.count)
        for (name, value) in fields {
            offsets.append(storage.count)
            storage.append(contentsOf: name.utf8)
            storage.append(UInt8(ascii: "="))
            storage.append(contentsOf: value.utf8)
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
