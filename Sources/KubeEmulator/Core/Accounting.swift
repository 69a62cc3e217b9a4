import Foundation
import KubeWire
import NIOConcurrencyHelpers

/// Request accounting: counts by verb, resource and status code, and a log of writes with
/// who made them. Tests and benchmarks read it to assert API efficiency ("a resync sent zero
/// writes"); `GET /_emulator/requests` serves the same snapshot.
public final class RequestAccounting: @unchecked Sendable {
    public struct Key: Hashable, Sendable, Comparable {
        public var verb: String
        /// `secrets`, `leases.coordination.k8s.io`; for non-resource requests, the path.
        public var resource: String
        public var code: Int

        public static func < (a: Key, b: Key) -> Bool {
            (a.resource, a.verb, a.code) < (b.resource, b.verb, b.code)
        }
    }

    public struct Write: Sendable {
        public var verb: String
        public var resource: String
        public var namespace: String
        public var name: String
        public var code: Int
        public var user: String
        public var time: Date
    }

    public struct Snapshot: Sendable {
        public var counts: [Key: Int]
        public var writes: [Write]

        /// Requests matching every given criterion (nil = any).
        public func count(verb: String? = nil, resource: String? = nil, code: Int? = nil) -> Int {
            counts.reduce(0) { sum, e in
                let k = e.key
                let ok = (verb == nil || k.verb == verb) && (resource == nil || k.resource == resource) && (code == nil || k.code == code)
                return ok ? sum + e.value : sum
            }
        }

        /// Successful writes (create, update, patch, delete, deletecollection).
        public var successfulWrites: [Write] { writes.filter { $0.code < 300 } }

        public var json: JSONValue {
            let c: [JSONValue] = counts.keys.sorted().map { k in
                ["verb": .string(k.verb), "resource": .string(k.resource), "code": .int(Int64(k.code)), "count": .int(Int64(counts[k]!))]
            }
            let w: [JSONValue] = writes.map { w in
                ["verb": .string(w.verb), "resource": .string(w.resource), "namespace": .string(w.namespace), "name": .string(w.name),
                 "code": .int(Int64(w.code)), "user": .string(w.user), "time": .string(ISO8601DateFormatter().string(from: w.time))]
            }
            return ["counts": .array(c), "writes": .array(w)]
        }
    }

    static let writeVerbs: Set<String> = ["create", "update", "patch", "delete", "deletecollection"]

    private let lock = NIOLock()
    private var counts: [Key: Int] = [:]
    private var writes: [Write] = []
    private var expectations: [WriteExpectation] = []

    func record(verb: String, resource: String, namespace: String, name: String, code: Int, identity: Identity) {
        lock.withLock {
            counts[Key(verb: verb, resource: resource, code: code), default: 0] += 1
            if Self.writeVerbs.contains(verb) {
                let write = Write(verb: verb, resource: resource, namespace: namespace, name: name, code: code, user: identity.user, time: Date())
                writes.append(write)
                if !expectations.isEmpty {
                    expectations.removeAll { $0.observe(write) }
                }
            }
        }
    }

    /// Starts counting the writes that match from now on; `WriteExpectation.wait` returns when
    /// `count` of them have been answered. Benchmarks use it to time propagation to the moment
    /// the last replica write was answered, without polling the log.
    public func expect(_ count: Int, matching: @escaping @Sendable (Write) -> Bool) -> WriteExpectation {
        let e = WriteExpectation(count: count, matching: matching)
        if count > 0 { lock.withLock { expectations.append(e) } }
        return e
    }

    /// Stops counting for an expectation that timed out.
    public func cancel(_ e: WriteExpectation) {
        lock.withLock { expectations.removeAll { $0 === e } }
    }

    /// All requests recorded so far (cheaper than `snapshot`: the write log is not copied).
    public var requestCount: Int { lock.withLock { counts.values.reduce(0, +) } }
    /// Writes recorded so far.
    public var writeCount: Int { lock.withLock { writes.count } }

    public var snapshot: Snapshot { lock.withLock { Snapshot(counts: counts, writes: writes) } }

    public func reset() {
        lock.withLock {
            counts.removeAll()
            writes.removeAll()
        }
    }
}

/// A number of matching writes awaited (see `RequestAccounting.expect`).
public final class WriteExpectation: @unchecked Sendable {
    private let condition = NSCondition()
    private let matching: @Sendable (RequestAccounting.Write) -> Bool
    private var remaining: Int
    private var lastAnswered: UInt64 = 0

    init(count: Int, matching: @escaping @Sendable (RequestAccounting.Write) -> Bool) {
        self.matching = matching
        remaining = count
    }

    /// Counts the write if it matches; true once the expectation is met. Called under the
    /// accounting lock, in the order the writes were answered.
    func observe(_ write: RequestAccounting.Write) -> Bool {
        guard matching(write) else { return false }
        condition.lock()
        defer { condition.unlock() }
        remaining -= 1
        guard remaining <= 0 else { return false }
        lastAnswered = DispatchTime.now().uptimeNanoseconds
        condition.broadcast()
        return true
    }

    /// Waits until met or until `timeout` seconds have passed. Returns the monotonic time
    /// (`DispatchTime.uptimeNanoseconds`) at which the last awaited write was answered, or
    /// nil on timeout.
    public func wait(timeout: Double) -> UInt64? {
        let deadline = Date().addingTimeInterval(timeout)
        condition.lock()
        defer { condition.unlock() }
        while remaining > 0 {
            if !condition.wait(until: deadline) { return remaining > 0 ? nil : lastAnswered }
        }
        return lastAnswered
    }

    /// Matching writes still awaited.
    public var outstanding: Int {
        condition.lock()
        defer { condition.unlock() }
        return max(remaining, 0)
    }
}
