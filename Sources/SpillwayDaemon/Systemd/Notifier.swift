import FoundationEssentials
import Glibc
import SpillwayReactor

/// sd_notify for Type=notify / notify-reload units. Every call is a no-op without NOTIFY_SOCKET,
/// so the same binary runs unchanged in a container or a terminal.
public struct Notifier: Sendable {
    /// How often to send WATCHDOG=1 (half of WATCHDOG_USEC, as sd_watchdog_enabled(3) advises),
    /// or nil when systemd does not expect pings from this process.
    public let watchdogInterval: Duration?

    public init(environment: [String: String], pid: Int32 = getpid()) {
        watchdogInterval = Self.watchdogInterval(environment: environment, pid: pid)
    }

    static func watchdogInterval(environment: [String: String], pid: Int32) -> Duration? {
        guard let text = environment["WATCHDOG_USEC"], let usec = UInt64(text), usec > 0 else { return nil }
        if let owner = environment["WATCHDOG_PID"], Int32(owner) != pid { return nil }
        return .microseconds(usec / 2)
    }

    public func ready(status: String) { send(["READY=1", "STATUS=\(Self.oneLine(status))"]) }
    public func status(_ status: String) { send(["STATUS=\(Self.oneLine(status))"]) }
    public func watchdog() { send(["WATCHDOG=1"]) }
    public func stopping(status: String) { send(["STOPPING=1", "STATUS=\(Self.oneLine(status))"]) }

    /// Type=notify-reload wants MONOTONIC_USEC with RELOADING=1 to match it to the SIGHUP it sent.
    public func reloading() {
        send(["RELOADING=1", "MONOTONIC_USEC=\(MonotonicInstant.now.nanoseconds / 1000)", "STATUS=Reloading configuration"])
    }

    private func send(_ lines: [String]) {
        // A notify failure must not stop the daemon; systemd's own timeouts will tell.
        SystemdNotify.send(lines)
    }

    static func oneLine(_ text: String) -> String {
        String(text.map { $0.isNewline ? " " : $0 }.prefix(240))
    }
}
