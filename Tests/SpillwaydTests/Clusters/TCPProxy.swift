import Foundation

/// A loopback TCP proxy between one daemon and the API server, so that a test can cut that
/// daemon's link alone: `cut` resets every connection through it and refuses new ones until
/// `restore`. TLS passes through untouched (the server certificate names 127.0.0.1).
final class TCPProxy: @unchecked Sendable {
    let port: Int
    private let upstreamPort: Int
    private let listener: Int32
    private let lock = NSLock()
    private var links: [Link] = []
    private var refusing = false
    private var closed = false

    /// One client connection and its upstream connection; whichever side ends first ends both.
    private final class Link: @unchecked Sendable {
        let client: Int32
        let server: Int32
        private let lock = NSLock()
        private var pumpsRunning = 2
        private var descriptorsClosed = false

        init(client: Int32, server: Int32) {
            self.client = client
            self.server = server
        }

        /// Unblocks both pumps (a reset for the peers). Never touches descriptors already
        /// closed, which the process may have reused.
        func shutDown() {
            lock.withLock {
                guard !descriptorsClosed else { return }
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(server, Int32(SHUT_RDWR))
            }
        }

        /// The last pump to finish closes both descriptors; returns whether this was it.
        func pumpFinished() -> Bool {
            lock.withLock {
                pumpsRunning -= 1
                shutdown(client, Int32(SHUT_RDWR))
                shutdown(server, Int32(SHUT_RDWR))
                guard pumpsRunning == 0 else { return false }
                descriptorsClosed = true
                close(client)
                close(server)
                return true
            }
        }
    }

    init(to upstreamPort: Int) throws {
        self.upstreamPort = upstreamPort
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw POSIXError(.init(rawValue: errno) ?? .EIO) }
        var address = Self.loopback(port: 0)
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard bound == 0, listen(fd, 64) == 0 else {
            close(fd)
            throw POSIXError(.init(rawValue: errno) ?? .EIO)
        }
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        _ = withUnsafeMutablePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        listener = fd
        port = Int(UInt16(bigEndian: address.sin_port))
        Thread.detachNewThread { [self] in acceptLoop() }
    }

    deinit { stop() }

    /// Resets every connection and refuses new ones (a link cut off).
    func cut() {
        let current = lock.withLock {
            refusing = true
            let current = links
            links = []
            return current
        }
        for link in current { link.shutDown() }
    }

    /// Accepts and forwards again.
    func restore() {
        lock.withLock { refusing = false }
    }

    func stop() {
        let already = lock.withLock {
            let was = closed
            closed = true
            return was
        }
        guard !already else { return }
        cut()
        shutdown(listener, Int32(SHUT_RDWR))
        close(listener)
    }

    private static func loopback(port: UInt16) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = port.bigEndian
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        return address
    }

    private func acceptLoop() {
        while true {
            let client = accept(listener, nil, nil)
            if client < 0 {
                if errno == EINTR || errno == ECONNABORTED { continue }
                return
            }
            // Not inherited by the daemons the test starts.
            _ = fcntl(client, F_SETFD, FD_CLOEXEC)
            let refuse = lock.withLock { refusing || closed }
            guard !refuse, let server = connectUpstream() else {
                // A reset rather than a graceful close, as a broken path looks to the client.
                var lingerOff = linger(l_onoff: 1, l_linger: 0)
                setsockopt(client, SOL_SOCKET, SO_LINGER, &lingerOff, socklen_t(MemoryLayout<linger>.size))
                close(client)
                continue
            }
            let link = Link(client: client, server: server)
            lock.withLock { links.append(link) }
            for (from, to) in [(client, server), (server, client)] {
                Thread.detachNewThread { [weak self] in
                    Self.pump(from: from, to: to)
                    if link.pumpFinished() { self?.forget(link) }
                }
            }
        }
    }

    private func connectUpstream() -> Int32? {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { return nil }
        var address = Self.loopback(port: UInt16(upstreamPort))
        let connected = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        guard connected == 0 else {
            close(fd)
            return nil
        }
        return fd
    }

    private func forget(_ link: Link) {
        lock.withLock { links.removeAll { $0 === link } }
    }

    private static func pump(from source: Int32, to destination: Int32) {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        loop: while true {
            let count = read(source, &buffer, buffer.count)
            if count < 0 && errno == EINTR { continue }
            guard count > 0 else { break }
            var sent = 0
            while sent < count {
                // MSG_NOSIGNAL: a peer that went away must not SIGPIPE the test process.
                let n = buffer.withUnsafeBytes { send(destination, $0.baseAddress! + sent, count - sent, Int32(MSG_NOSIGNAL)) }
                if n < 0 && errno == EINTR { continue }
                guard n > 0 else { break loop }
                sent += n
            }
        }
    }
}
