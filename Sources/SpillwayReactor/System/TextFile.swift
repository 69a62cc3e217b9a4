import Glibc

/// Files read whole with open(2) and read(2), and what went wrong in the system's words
/// (`No such file or directory`), for the configuration the daemon reads at start.
public enum TextFile {
    /// A file that could not be read: `reason` is strerror's text for the errno.
    public struct ReadError: Error, Sendable, CustomStringConvertible {
        public var path: String
        public var reason: String
        public var description: String { "\(path): \(reason)" }
    }

    /// The file's bytes.
    public static func bytes(_ path: String) throws(ReadError) -> [UInt8] {
        let fd = open(path, O_RDONLY | O_CLOEXEC)
        guard fd >= 0 else { throw failure(path) }
        defer { close(fd) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 64 << 10)
        while true {
            let count = chunk.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                bytes.append(contentsOf: chunk[0..<count])
            } else if count == 0 {
                return bytes
            } else if errno != EINTR {
                throw failure(path)
            }
        }
    }

    /// The file's text, as UTF-8.
    public static func text(_ path: String) throws(ReadError) -> String {
        String(decoding: try bytes(path), as: UTF8.self)
    }

    /// True when the file exists and this process may read it.
    public static func isReadable(_ path: String) -> Bool {
        access(path, R_OK) == 0
    }

    /// True when something exists at `path`.
    public static func exists(_ path: String) -> Bool {
        access(path, F_OK) == 0
    }

    private static func failure(_ path: String) -> ReadError {
        ReadError(path: path, reason: String(cString: strerror(errno)))
    }
}
