import KubeWire
import SpillwayLoop

/// Client-side request pacing.
///
/// The default is no QPS limit and at most `maxInFlight` concurrent non-watch requests: against
/// a healthy server the client must not be the bottleneck (the engine aims at thousands of
/// writes per second), and the API server's priority-and-fairness is the authority on how much
/// it can take — it says so with 429 + Retry-After, which the client honours. The in-flight bound
/// keeps a burst of work on one HTTP/2 connection with the watches: kube-apiserver allows 100
/// streams on a connection, and past that libcurl opens another one and keeps it (at 128, a
/// daemon with 1,000 sources held 35 connections after each start). See docs/client.md.
public struct RateLimitConfiguration: Sendable, Equatable {
    /// Sustained requests per second; nil = unlimited (the default).
    public var qps: Double?
    /// Bucket size for `qps`.
    public var burst: Int
    /// Concurrent requests, watches excluded.
    public var maxInFlight: Int
    /// Attempts for one request answered 429, or 5xx with Retry-After (client-go: 10).
    public var maxAttempts: Int

    public init(qps: Double? = nil, burst: Int = 100, maxInFlight: Int = 80, maxAttempts: Int = 10) {
        self.qps = qps
        self.burst = burst
        self.maxInFlight = maxInFlight
        self.maxAttempts = maxAttempts
    }
}

/// A token bucket: `take` grants a request now or says how long to wait for a token.
struct TokenBucket {
    let rate: Double
    let capacity: Double
    var tokens: Double
    var last: MonotonicInstant

    init(qps: Double, burst: Int, now: MonotonicInstant) {
        rate = qps
        capacity = Double(max(1, burst))
        tokens = capacity
        last = now
    }

    /// Takes a token if one is available (returns nil), else returns the wait until one is.
    mutating func take(now: MonotonicInstant) -> Duration? {
        let elapsed = now - last
        last = now
        tokens = min(capacity, tokens + elapsed.seconds * rate)
        if tokens >= 1 {
            tokens -= 1
            return nil
        }
        return .seconds((1 - tokens) / rate)
    }
}

/// Exponential backoff with jitter for an informer's reconnects: 500 ms doubling to a 2 s cap,
/// each delay drawn from [d/2, d), forgotten on success (`reset`) and after two minutes without
/// a failure.
///
/// client-go's reflector grows to 30 s; after an API server outage that leaves a controller
/// blind for up to half a minute once the server is back. A cap of 2 s bounds the catch-up
/// after an outage of any length, and costs a refused connection per watch every second or two
/// while the server is away (the jitter keeps several informers out of lockstep).
public struct Backoff: Sendable {
    public var initial: Duration
    public var cap: Duration
    public var resetAfter: Duration
    private var current: Duration?
    private var lastFailure: MonotonicInstant?

    public init(initial: Duration = .milliseconds(500), cap: Duration = .seconds(2), resetAfter: Duration = .seconds(120)) {
        self.initial = initial
        self.cap = cap
        self.resetAfter = resetAfter
    }

    /// The delay before the next attempt after a failure at `now`.
    public mutating func next(now: MonotonicInstant) -> Duration {
        if let lastFailure, now - lastFailure > resetAfter { current = nil }
        lastFailure = now
        let base = current.map { min($0 * 2, cap) } ?? min(initial, cap)
        current = base
        return base * Double.random(in: 0.5..<1)
    }

    /// Whether a failure was recorded and not yet forgotten.
    public var isBackingOff: Bool { current != nil }

    /// Forgets past failures (the stream is healthy again).
    public mutating func reset() {
        current = nil
        lastFailure = nil
    }
}

/// Whether and when to retry a request that got an error status.
enum RetryPolicy {
    /// client-go retries 429 always and 5xx when the server sent Retry-After; a GET/LIST (safe to
    /// repeat) is also retried on other 5xx, with backoff. Nil means give up and report.
    static func delay(for error: StatusError, idempotent: Bool, attempt: Int, maxAttempts: Int) -> Duration? {
        guard attempt < maxAttempts else { return nil }
        if let s = error.retryAfterSeconds, error.code == 429 || error.code >= 500 {
            return .seconds(max(0, min(s, 60)))
        }
        if error.code == 429 { return .seconds(1) }
        if error.code >= 500 && idempotent && error.code != 501 {
            let base = 0.1 * Double(1 << min(attempt, 8))
            return .seconds(min(base + base * Double.random(in: 0..<1), 10))
        }
        return nil
    }
}

extension Duration {
    var seconds: Double {
        let c = components
        return Double(c.seconds) + Double(c.attoseconds) / 1e18
    }
}
