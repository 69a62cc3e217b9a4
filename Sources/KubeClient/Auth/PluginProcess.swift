import FoundationEssentials

#if canImport(Glibc)
import Glibc
#endif

/// A credential plugin run to completion: spawned with a clean signal state, its stdout and stderr
/// read, and killed (with its process group) if it outlives its time.
///
/// The daemon blocks SIGTERM, SIGINT and SIGHUP in every thread (the reactor reads them from a
/// signalfd), and a spawned child inherits both the mask and ignored dispositions. A plugin that
/// blocks SIGTERM cannot be stopped by systemd short of SIGKILL, so the child gets an empty mask
/// (POSIX_SPAWN_SETSIGMASK) and default dispositions (POSIX_SPAWN_SETSIGDEF). It runs in a
/// process group of its own, so a timeout ends whatever it started too.
struct PluginProcess {
    enum Ending: Equatable {
        case exited(Int32)
        case killedBySignal(Int32)
        /// Still running at the deadline: killed with SIGKILL.
        case timedOut
    }

    var ending: Ending
    var stdout: [UInt8]
    /// The end of what it wrote to stderr.
    var stderrTail: [UInt8]

    /// Most of stdout kept (an ExecCredential is a few KiB); the rest is read and dropped.
    static let stdoutLimit = 4 << 20
    static let stderrTailLimit = 2048

    /// Runs `arguments[0]` (looked up in the daemon's PATH when it has no slash) with `environment`.
    /// Throws the errno of a failed spawn (ENOENT: not found).
    static func run(_ arguments: [String], environment: [String: String], timeout: Duration) throws(POSIXError) -> PluginProcess {
        var stdoutPipe: [Int32] = [-1, -1]
        var stderrPipe: [Int32] = [-1, -1]
        guard pipe(&stdoutPipe) == 0 else { throw POSIXError(errno) }
        guard pipe(&stderrPipe) == 0 else {
            let code = errno
            stdoutPipe.forEach { close($0) }
            throw POSIXError(code)
        }
        // Close-on-exec: only the dup2'ed copies reach the plugin, so its pipes close when it ends.
        // (Another thread spawning meanwhile could leak them to its child for as long as it runs;
        // pipe2 with O_CLOEXEC would close that gap but is not visible from Swift's Glibc.)
        for fd in stdoutPipe + stderrPipe { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        var readEnds = [stdoutPipe[0], stderrPipe[0]]
        defer { readEnds.filter { $0 >= 0 }.forEach { close($0) } }

        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_adddup2(&actions, stdoutPipe[1], 1)
        posix_spawn_file_actions_adddup2(&actions, stderrPipe[1], 2)

        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        var allSignals = sigset_t()
        sigfillset(&allSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        posix_spawnattr_setsigdefault(&attributes, &allSignals)
        posix_spawnattr_setpgroup(&attributes, 0)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF | POSIX_SPAWN_SETPGROUP))

        let argv = arguments.map { strdup($0) } + [nil]
        let envp = environment.map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer { (argv + envp).forEach { free($0) } }
        var pid: pid_t = 0
        let rc = arguments[0].contains("/")
            ? posix_spawn(&pid, arguments[0], &actions, &attributes, argv, envp)
            : posix_spawnp(&pid, arguments[0], &actions, &attributes, argv, envp)
        close(stdoutPipe[1])
        close(stderrPipe[1])
        guard rc == 0 else { throw POSIXError(rc) }

        let deadline = ContinuousClock.now + timeout
        var out: [UInt8] = []
        var err: [UInt8] = []
        var timedOut = false
        // Read both pipes until they close, so a chatty plugin never stalls on a full one.
        while readEnds.contains(where: { $0 >= 0 }) {
            let left = deadline - ContinuousClock.now
            guard left > .zero else {
                timedOut = true
                break
            }
            var polled = readEnds.map { pollfd(fd: $0, events: Int16(POLLIN), revents: 0) }
            let ready = poll(&polled, nfds_t(polled.count), Int32(clamping: left.milliseconds + 1))
            if ready < 0 && errno != EINTR { break }
            for (index, entry) in polled.enumerated() where entry.fd >= 0 && entry.revents != 0 {
                var chunk = [UInt8](repeating: 0, count: 16 << 10)
                let count = read(entry.fd, &chunk, chunk.count)
                if count > 0 {
                    if index == 0 {
                        if out.count < stdoutLimit { out += chunk[..<min(count, stdoutLimit - out.count)] }
                    } else {
                        err += chunk[..<count]
                        if err.count > stderrTailLimit { err.removeFirst(err.count - stderrTailLimit) }
                    }
                } else if count == 0 || (errno != EINTR && errno != EAGAIN) {
                    close(entry.fd)
                    readEnds[index] = -1
                }
            }
        }
        // Both pipes closed: the plugin is ending (or handed its pipes on and went on running).
        var status: Int32 = 0
        while !timedOut {
            let reaped = waitpid(pid, &status, WNOHANG)
            if reaped == pid || (reaped < 0 && errno != EINTR) { break }
            if ContinuousClock.now >= deadline {
                timedOut = true
            } else {
                usleep(5_000)
            }
        }
        if timedOut {
            kill(-pid, SIGKILL) // the plugin's process group: it and whatever it started
            kill(pid, SIGKILL)
            while waitpid(pid, &status, 0) < 0 && errno == EINTR {}
            return PluginProcess(ending: .timedOut, stdout: out, stderrTail: err)
        }
        let ending: Ending = (status & 0x7f) == 0 ? .exited((status >> 8) & 0xff) : .killedBySignal(status & 0x7f)
        return PluginProcess(ending: ending, stdout: out, stderrTail: err)
    }
}

extension POSIXError {
    fileprivate init(_ code: Int32) {
        self.init(POSIXErrorCode(rawValue: code) ?? .EIO)
    }
}

extension Duration {
    /// Whole milliseconds, rounded down.
    fileprivate var milliseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1000 + attoseconds / 1_000_000_000_000_000
    }
}
