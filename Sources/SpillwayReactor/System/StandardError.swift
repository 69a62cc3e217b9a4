import Glibc

/// Bytes written whole to a file descriptor with write(2), as many calls as the descriptor
/// takes (a pipe or a terminal may take part of a line), retried on EINTR. A failure gives up
/// quietly: a lost line must not stop the daemon. Returns whether every byte went out.
@discardableResult
public func writeAll(_ fd: Int32, _ bytes: UnsafeBufferPointer<UInt8>) -> Bool {
    var offset = 0
    while offset < bytes.count {
        let written = Glibc.write(fd, bytes.baseAddress! + offset, bytes.count - offset)
        if written > 0 {
            offset += written
        } else if written < 0 && errno == EINTR {
            continue
        } else {
            return false
        }
    }
    return true
}

/// Text written straight to standard error (fd 2): messages before or instead of the log.
public enum StandardError {
    public static func write(_ text: String) {
        var text = text
        _ = text.withUTF8 { writeAll(STDERR_FILENO, $0) }
    }
}
