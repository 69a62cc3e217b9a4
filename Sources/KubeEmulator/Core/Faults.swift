import Foundation
import KubeWire
import NIOConcurrencyHelpers
import NIOCore

/// Fault injection: what a flaky or overloaded API server does to its clients. Applies to
/// resource requests (discovery and the admin endpoints are spared so tests stay in control).
public final class Faults: @unchecked Sendable {
    struct Failure {
        var status: Int
        var retryAfterSeconds: Int
    }

    private let lock = NIOLock()
    private var _latency: TimeAmount = .zero
    private var rate: Double = 0
    private var rateFailure = Failure(status: 429, retryAfterSeconds: 1)
    private var next: [Failure] = []
    private var _slowResponses: SlowResponses?
    weak var emulator: KubeEmulator?

    /// A slow server or link: bodies go out `chunkBytes` at a time, `interval` apart.
    public struct SlowResponses: Sendable, Equatable {
        public var chunkBytes: Int
        public var interval: TimeAmount

        public init(chunkBytes: Int, interval: TimeAmount) {
            self.chunkBytes = max(chunkBytes, 1)
            self.interval = interval
        }
    }

    /// Resource responses (not watch streams) trickle out in pieces when set.
    public var slowResponses: SlowResponses? {
        get { lock.withLock { _slowResponses } }
        set { lock.withLock { _slowResponses = newValue } }
    }

    /// Delay added before every resource request is handled.
    public var latency: TimeAmount {
        get { lock.withLock { _latency } }
        set { lock.withLock { _latency = newValue } }
    }

    /// Answers about `fraction` (0...1) of requests with `status`: 429 is text/plain with
    /// Retry-After as priority-and-fairness sends it, 500 an InternalError Status.
    public func failRequests(fraction: Double, status: Int = 429, retryAfterSeconds: Int = 1) {
        lock.withLock {
            rate = min(max(fraction, 0), 1)
            rateFailure = Failure(status: status, retryAfterSeconds: retryAfterSeconds)
        }
    }

    /// Answers exactly the next `count` resource requests with `status` (deterministic tests).
    public func failNext(_ count: Int, status: Int = 429, retryAfterSeconds: Int = 1) {
        lock.withLock { next += Array(repeating: Failure(status: status, retryAfterSeconds: retryAfterSeconds), count: max(count, 0)) }
    }

    /// Removes latency, slow responses and failures.
    public func clear() {
        lock.withLock {
            _latency = .zero
            _slowResponses = nil
            rate = 0
            next.removeAll()
        }
    }

    /// Closes every open watch stream (the connection goes, as when a server dies).
    public func dropWatches() { emulator?.watches.forEach { $0.drop() } }

    /// Makes every open watch go silent: the connection stays open but nothing more is sent,
    /// not even bookmarks or the end of the stream. New watches are not affected.
    public func silenceWatches() { emulator?.watches.forEach { $0.silence() } }

    /// Forgets the event history: resuming a watch or a paginated list from any earlier
    /// resourceVersion answers 410 Expired.
    public func compact() { emulator?.store.compact() }

    /// Aborts every client connection with a TCP reset.
    public func resetConnections() { emulator?.resetConnections() }

    /// The failure this request gets, if any.
    func draw() -> Failure? {
        lock.withLock {
            if !next.isEmpty { return next.removeFirst() }
            if rate > 0, Double.random(in: 0..<1) < rate { return rateFailure }
            return nil
        }
    }

    /// Applies a JSON body of `POST /_emulator/faults`.
    func apply(_ body: JSONValue) throws {
        guard case .object(let o) = body else { throw StatusError.badRequest("faults: expected a JSON object") }
        let known: Set<String> = ["clear", "latencyMs", "failureRate", "failureStatus", "retryAfterSeconds", "failNext", "dropWatches",
                                  "silenceWatches", "compact", "resetConnections", "slowChunkBytes", "slowIntervalMs"]
        if let unknown = o.keys.first(where: { !known.contains($0) }) {
            throw StatusError.badRequest("faults: unknown field \"\(unknown)\"; known: \(known.sorted().joined(separator: ", "))")
        }
        if o["clear"]?.boolValue == true { clear() }
        if let ms = o["latencyMs"]?.intValue {
            guard ms >= 0, ms <= 3_600_000 else { throw StatusError.badRequest("faults: latencyMs must be in [0, 3600000]") }
            latency = .milliseconds(ms)
        }
        let status = Int(o["failureStatus"]?.intValue ?? 429)
        guard status == 429 || status == 500 else { throw StatusError.badRequest("faults: failureStatus must be 429 or 500") }
        let retry = Int(o["retryAfterSeconds"]?.intValue ?? 1)
        if let r = o["failureRate"] {
            var fraction: Double?
            switch r {
            case .int(let i): fraction = Double(i)
            case .double(let d): fraction = d
            default: fraction = nil
            }
            guard let f = fraction, f >= 0, f <= 1 else {
                throw StatusError.badRequest("faults: failureRate must be a number in [0, 1]")
            }
            failRequests(fraction: f, status: status, retryAfterSeconds: retry)
        }
        if let n = o["failNext"]?.intValue {
            guard n >= 0, n <= 1_000_000 else { throw StatusError.badRequest("faults: failNext must be in [0, 1000000]") }
            failNext(Int(n), status: status, retryAfterSeconds: retry)
        }
        if let bytes = o["slowChunkBytes"]?.intValue {
            let ms = o["slowIntervalMs"]?.intValue ?? 10
            guard bytes >= 0, ms >= 0, ms <= 60_000 else {
                throw StatusError.badRequest("faults: slowChunkBytes must be >= 0 (0 turns it off) and slowIntervalMs in [0, 60000]")
            }
            slowResponses = bytes == 0 ? nil : SlowResponses(chunkBytes: Int(bytes), interval: .milliseconds(ms))
        }
        if o["resetConnections"]?.boolValue == true { resetConnections() }
        if o["dropWatches"]?.boolValue == true { dropWatches() }
        if o["silenceWatches"]?.boolValue == true { silenceWatches() }
        if o["compact"]?.boolValue == true { compact() }
    }
}
