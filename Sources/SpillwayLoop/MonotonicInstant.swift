#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

/// A point on `CLOCK_MONOTONIC`, the clock of every reactor timer.
public struct MonotonicInstant: Comparable, Hashable, Sendable, CustomStringConvertible {
    /// Nanoseconds since an arbitrary point (boot).
    public let nanoseconds: UInt64

    public init(nanoseconds: UInt64) { self.nanoseconds = nanoseconds }

    /// The current time, read from the kernel. Code on a loop reads ``EventLoop/now`` instead.
    public static var now: MonotonicInstant {
        var ts = timespec()
        clock_gettime(CLOCK_MONOTONIC, &ts)
        return MonotonicInstant(nanoseconds: UInt64(ts.tv_sec) * 1_000_000_000 + UInt64(ts.tv_nsec))
    }

    public static func < (a: MonotonicInstant, b: MonotonicInstant) -> Bool { a.nanoseconds < b.nanoseconds }

    /// The instant `duration` later (a negative duration moves backwards, stopping at zero).
    public static func + (instant: MonotonicInstant, duration: Duration) -> MonotonicInstant {
        let delta = duration.wholeNanoseconds
        if delta >= 0 { return MonotonicInstant(nanoseconds: instant.nanoseconds &+ UInt64(delta)) }
        let back = UInt64(-delta)
        return MonotonicInstant(nanoseconds: instant.nanoseconds > back ? instant.nanoseconds - back : 0)
    }

    /// The signed time from `self` to `other`.
    public func duration(to other: MonotonicInstant) -> Duration {
        .nanoseconds(Int64(bitPattern: other.nanoseconds &- nanoseconds))
    }

    /// The signed time from `other` to `self`.
    public static func - (a: MonotonicInstant, b: MonotonicInstant) -> Duration { b.duration(to: a) }

    public var description: String { "\(Double(nanoseconds) / 1e9)s" }
}

extension Duration {
    /// Whole nanoseconds, rounded towards zero.
    public var wholeNanoseconds: Int64 {
        let (seconds, attoseconds) = components
        return seconds * 1_000_000_000 + attoseconds / 1_000_000_000
    }
}
