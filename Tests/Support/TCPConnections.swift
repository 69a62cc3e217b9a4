import Foundation

/// TCP connections as `/proc` shows them: which of a process's sockets are established to a
/// loopback port (the client side of connections to an API server under test).
public enum TCPConnections {
    /// Established connections from process `pid` (this process when nil) to `port` on the
    /// loopback, IPv4 or IPv6.
    public static func established(from pid: Int32? = nil, toLoopbackPort port: Int) throws -> Int {
        let process = pid.map(String.init) ?? "self"
        let inodes = Set(try FileManager.default.contentsOfDirectory(atPath: "/proc/\(process)/fd").compactMap { fd -> String? in
            guard let target = try? FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(process)/fd/\(fd)"),
                  target.hasPrefix("socket:[") else { return nil }
            return String(target.dropFirst("socket:[".count).dropLast())
        })
        let portHex = String(format: ":%04X", port)
        var count = 0
        for table in ["/proc/\(process)/net/tcp", "/proc/\(process)/net/tcp6"] {
            // Read to the end: a /proc file says its size is 0, and a reader trusting that can stop
            // after the first page of a table that holds every socket of the host.
            guard let data = FileHandle(forReadingAtPath: table)?.readDataToEndOfFile() else { continue }
            let text = String(decoding: data, as: UTF8.self)
            for line in text.split(separator: "\n").dropFirst() {
                // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
                let fields = line.split(separator: " ")
                guard fields.count > 9, fields[3] == "01", fields[2].hasSuffix(portHex), inodes.contains(String(fields[9]))
                else { continue }
                count += 1
            }
        }
        return count
    }
}
