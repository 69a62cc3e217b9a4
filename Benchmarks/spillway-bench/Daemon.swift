import Foundation

#if canImport(FoundationNetworking)
import FoundationNetworking
#endif

/// Monotonic nanoseconds (CLOCK_MONOTONIC), the clock every interval in the harness is read on.
func now() -> UInt64 { DispatchTime.now().uptimeNanoseconds }

func seconds(_ from: UInt64, _ to: UInt64) -> Double { Double(to &- from) / 1e9 }

/// `spillwayd run` as an operator starts it: a child process with its own kubeconfig, the
/// flags on its command line, an empty config file, logs to a file, and a NOTIFY_SOCKET the
/// harness binds (as systemd would) to learn when it is READY=1.
final class Daemon {
    let process = Process()
    let notify: NotifySocket
    let metricsPort: Int
    /// When `run()` was called (monotonic ns).
    let started: UInt64
    let logPath: String

    var pid: Int32 { process.processIdentifier }

    init(binary: String, kubeconfig: String, directory: URL, name: String, flags: [String] = [], environment: [String: String] = [:]) throws {
        let config = directory.appendingPathComponent("\(name).conf")
        _ = FileManager.default.createFile(atPath: config.path, contents: Data())
        logPath = directory.appendingPathComponent("\(name).log").path
        _ = FileManager.default.createFile(atPath: logPath, contents: Data())
        notify = try NotifySocket(path: directory.appendingPathComponent("\(name).notify").path)
        metricsPort = try freePort()
        var env = ["PATH": "/usr/bin:/bin", "SPILLWAY_CONFIG": config.path, "NOTIFY_SOCKET": notify.path]
        env.merge(environment) { _, new in new }
        process.executableURL = URL(fileURLWithPath: binary)
        process.arguments = ["run", "--kubeconfig", kubeconfig, "--metrics-bind-address", "127.0.0.1:\(metricsPort)",
                             "--health-probe-bind-address", "0", "--log-format", "logfmt"] + flags
        process.environment = env
        let log = try FileHandle(forWritingTo: URL(fileURLWithPath: logPath))
        defer { try? log.close() }
        process.standardOutput = log
        process.standardError = log
        started = now()
        do {
            try process.run()
        } catch {
            notify.close()
            throw error
        }
    }

    /// Waits for READY=1 and returns when it arrived (monotonic ns).
    func waitReady(timeout: Double) throws -> UInt64 {
        let deadline = Date().addingTimeInterval(timeout)
        while Date() < deadline {
            if let ready = notify.readyAt(within: 0.2) { return ready }
            guard process.isRunning else { throw BenchError("spillwayd exited with \(process.terminationStatus) before READY=1; log: \(logPath)") }
        }
        throw BenchError("spillwayd sent no READY=1 within \(Int(timeout)) s; log: \(logPath)")
    }

    /// SIGTERM and wait for the exit (SIGKILL after 30 s); stops reading the notify socket.
    func stop() {
        if process.isRunning {
            kill(pid, SIGTERM)
            let deadline = Date().addingTimeInterval(30)
            while process.isRunning && Date() < deadline { usleep(10_000) }
            if process.isRunning { kill(pid, SIGKILL) }
            process.waitUntilExit()
        }
        notify.close()
    }

    deinit { stop() }

    var sample: ProcSample { ProcSample(pid: pid) }

    /// Sum of the samples of every series of a metric family on /metrics.
    func metric(_ name: String) throws -> Double {
        let text = try httpGet("http://127.0.0.1:\(metricsPort)/metrics")
        var total = 0.0
        for line in text.split(separator: "\n") where line.hasPrefix(name) {
            let rest = line.dropFirst(name.count)
            guard rest.first == " " || rest.first == "{" else { continue }
            if let value = line.split(separator: " ").last.flatMap({ Double($0) }) { total += value }
        }
        return total
    }

    /// Waits until the process has used no CPU for `quiet` seconds (it has digested what it was
    /// shown); returns false at the timeout.
    @discardableResult
    func waitQuiet(_ quiet: Double = 1, timeout: Double) -> Bool {
        let deadline = Date().addingTimeInterval(timeout)
        var last = sample.cpuSeconds
        var stableSince = Date()
        while Date() < deadline {
            usleep(200_000)
            let cpu = sample.cpuSeconds
            if cpu - last > 0.005 {
                stableSince = Date()
                last = cpu
            } else if Date().timeIntervalSince(stableSince) >= quiet {
                return true
            }
        }
        return false
    }
}

/// What /proc says about a process.
struct ProcSample {
    /// user + system CPU of every thread, live or exited (/proc/PID/stat, clock ticks).
    var cpuSeconds = 0.0
    var rssKiB = 0
    /// Peak RSS (VmHWM).
    var peakKiB = 0
    /// Voluntary context switches of the live threads: each is a thread going to sleep, so
    /// over an idle interval they count the wake-ups.
    var voluntarySwitches = 0
    var threads = 0
    /// Time on CPU of the live threads in nanoseconds (/proc/PID/task/*/schedstat): the
    /// scheduler's exact figure, where /stat counts 10 ms ticks.
    var liveThreadsCPUSeconds = 0.0

    init(pid: Int32) {
        let base = "/proc/\(pid)"
        if let stat = try? String(contentsOfFile: base + "/stat", encoding: .utf8), let close = stat.lastIndex(of: ")") {
            // Fields after the command: state is field 3, utime 14, stime 15.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 12, let user = Double(fields[11]), let system = Double(fields[12]) {
                cpuSeconds = (user + system) / Double(sysconf(Int32(_SC_CLK_TCK)))
            }
        }
        let status = Self.status(base + "/status")
        rssKiB = status["VmRSS"] ?? 0
        peakKiB = status["VmHWM"] ?? 0
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: base + "/task")) ?? []
        threads = tasks.count
        for task in tasks {
            voluntarySwitches += Self.status("\(base)/task/\(task)/status")["voluntary_ctxt_switches"] ?? 0
            if let schedstat = try? String(contentsOfFile: "\(base)/task/\(task)/schedstat", encoding: .utf8),
               let nanoseconds = schedstat.split(separator: " ").first.flatMap({ Double($0) }) {
                liveThreadsCPUSeconds += nanoseconds / 1e9
            }
        }
    }

    private static func status(_ path: String) -> [String: Int] {
        guard let text = try? String(contentsOfFile: path, encoding: .utf8) else { return [:] }
        var fields: [String: Int] = [:]
        for line in text.split(separator: "\n") {
            let parts = line.split(separator: ":", maxSplits: 1)
            guard parts.count == 2 else { continue }
            let value = parts[1].split(whereSeparator: { $0 == " " || $0 == "\t" }).first.flatMap { Int($0) }
            if let value { fields[String(parts[0])] = value }
        }
        return fields
    }
}

/// An AF_UNIX datagram socket at a path: the NOTIFY_SOCKET systemd would bind. Like systemd it
/// reads every datagram as it arrives, on its own thread: the kernel queues only a few unread
/// datagrams (net.unix.max_dgram_qlen) and then blocks the sender's sd_notify.
final class NotifySocket: @unchecked Sendable {
    let path: String
    private let fd: Int32
    private let lock = NSCondition()
    private var ready: UInt64?
    private var messages = 0
    private var closed = false
    private var reader: Thread?

    init(path: String) throws {
        self.path = path
        unlink(path)
        fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw BenchError("socket: \(String(cString: strerror(errno)))") }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        guard bytes.count < MemoryLayout.size(ofValue: address.sun_path) else { throw BenchError("socket path too long: \(path)") }
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: bytes) }
        let result = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        guard result == 0 else { throw BenchError("bind \(path): \(String(cString: strerror(errno)))") }
        let thread = Thread { self.read() }
        reader = thread
        thread.start()
    }

    private func read() {
        var buffer = [UInt8](repeating: 0, count: 64 * 1024)
        while !lock.withLock({ closed }) {
            var poller = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
            guard poll(&poller, 1, 100) == 1 else { continue }
            let count = recv(fd, &buffer, buffer.count, 0)
            guard count > 0 else { continue }
            let isReady = String(decoding: buffer[..<count], as: UTF8.self).split(separator: "\n").contains("READY=1")
            let at = now()
            lock.withLock {
                messages += 1
                if isReady, ready == nil {
                    ready = at
                    lock.broadcast()
                }
            }
        }
    }

    /// When the first READY=1 arrived (monotonic ns), waiting up to `seconds`.
    func readyAt(within seconds: Double) -> UInt64? {
        let deadline = Date().addingTimeInterval(seconds)
        return lock.withLock {
            while ready == nil, lock.wait(until: deadline) {}
            return ready
        }
    }

    /// Datagrams received so far.
    var received: Int { lock.withLock { messages } }

    func close() {
        let thread = lock.withLock { () -> Thread? in
            closed = true
            return reader
        }
        while thread?.isFinished == false { usleep(10_000) }
    }

    deinit {
        Glibc.close(fd)
        unlink(path)
    }
}

/// A TCP port nobody listens on right now (bound to port 0, then released).
func freePort() throws -> Int {
    let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
    defer { close(fd) }
    var address = sockaddr_in()
    address.sin_family = sa_family_t(AF_INET)
    address.sin_addr.s_addr = inet_addr("127.0.0.1")
    address.sin_port = 0
    var length = socklen_t(MemoryLayout<sockaddr_in>.size)
    let bound = withUnsafeMutablePointer(to: &address) {
        $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, length) == 0 && getsockname(fd, $0, &length) == 0 }
    }
    guard bound else { throw BenchError("no free port: \(String(cString: strerror(errno)))") }
    return Int(UInt16(bigEndian: address.sin_port))
}

/// A plain-HTTP GET (the daemon's /metrics).
func httpGet(_ url: String) throws -> String {
    let done = DispatchSemaphore(value: 0)
    nonisolated(unsafe) var result: Result<String, Error> = .failure(BenchError("no answer from \(url)"))
    URLSession.shared.dataTask(with: URL(string: url)!) { data, response, error in
        if let error {
            result = .failure(BenchError("GET \(url): \(error)"))
        } else if let code = (response as? HTTPURLResponse)?.statusCode, code != 200 {
            result = .failure(BenchError("GET \(url): HTTP \(code)"))
        } else {
            result = .success(String(decoding: data ?? Data(), as: UTF8.self))
        }
        done.signal()
    }.resume()
    done.wait()
    return try result.get()
}

struct BenchError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}
