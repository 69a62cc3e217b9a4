import Foundation
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

        public var json: JSON {
            let c: [JSON] = counts.keys.sorted().map { k in
                ["verb": .string(k.verb), "resource": .string(k.resource), "code": .int(Int64(k.code)), "count": .int(Int64(counts[k]!))]
            }
            let w: [JSON] = writes.map { w in
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

    func record(verb: String, resource: String, namespace: String, name: String, code: Int, identity: Identity) {
        lock.withLock {
            counts[Key(verb: verb, resource: resource, code: code), default: 0] += 1
            if Self.writeVerbs.contains(verb) {
                writes.append(Write(verb: verb, resource: resource, namespace: namespace, name: name, code: code, user: identity.user, time: Date()))
            }
        }
    }

    public var snapshot: Snapshot { lock.withLock { Snapshot(counts: counts, writes: writes) } }

    public func reset() {
        lock.withLock {
            counts.removeAll()
            writes.removeAll()
        }
    }
}
