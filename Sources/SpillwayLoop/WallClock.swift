import FoundationEssentials

/// Wall-clock time, for what the API stores as a date — a Lease's MicroTimes, a replica's
/// `expires-at`, an Event's time — and for nothing else: timers, backoff and deadlines run on
/// the loop's monotonic ``EventLoop/now``, which no clock change can move.
///
/// Injected where it is read, so tests can set it.
public struct WallClock: Sendable {
    private let read: @Sendable () -> Date

    public init(_ read: @escaping @Sendable () -> Date) { self.read = read }

    /// The system's real-time clock.
    public static let system = WallClock { Date() }

    /// A clock stopped at `date`.
    public static func fixed(_ date: Date) -> WallClock { WallClock { date } }

    public var now: Date { read() }
}
