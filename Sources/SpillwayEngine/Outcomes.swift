import FoundationEssentials
import KubeClient
import KubeWire
import SpillwayContract

/// Remembers, per source, the outcomes reported for its last finished reconcile, so that only
/// new ones are reported again: a resync that finds the same skip, the same conflict or the
/// same failure says nothing, while an outcome that went away and came back is news.
/// Memory is bounded by what one plan of each source can say.
struct OutcomeMemory<Outcome: Hashable> {
    private var last: [WorkKey: Set<Outcome>] = [:]

    /// Records `current` as the source's outcomes, with those of the previous ones that
    /// `keeping` keeps (a plan of some namespaces says nothing about the others); returns
    /// those not reported last time, in their given order.
    mutating func fresh(_ key: WorkKey, _ current: [Outcome], keeping: (Outcome) -> Bool = { _ in false }) -> [Outcome] {
        let previous = last[key] ?? []
        let now = previous.filter(keeping).union(current)
        last[key] = now.isEmpty ? nil : now
        var seen: Set<Outcome> = []
        return current.filter { !previous.contains($0) && seen.insert($0).inserted }
    }

    mutating func forget(_ key: WorkKey) {
        last[key] = nil
    }

    var count: Int { last.count }
}

/// Bounds the Events one reconcile posts on one object: a target cluster that refuses every
/// write, or a quota that refuses a source in 500 namespaces, would otherwise post an Event per
/// namespace at once. The first ``perReason`` outcomes of a reason are posted as they are; the
/// rest become one Event that counts them. Every outcome is still logged, and remembered (so the
/// counted ones are not posted on the next retry either).
enum EventCap {
    static let perReason = 5

    static func limit(_ intents: [EventIntent], perReason cap: Int = perReason) -> [EventIntent] {
        var seen: [String: Int] = [:]
        var posted: [EventIntent] = []
        var firstOver: [EventIntent] = []
        for intent in intents {
            let n = seen[intent.reason, default: 0] + 1
            seen[intent.reason] = n
            if n <= cap {
                posted.append(intent)
            } else if n == cap + 1 {
                firstOver.append(intent)
            }
        }
        for intent in firstOver {
            let reason = intent.reason
            let more = seen[reason, default: 0] - cap
            posted.append(EventIntent(type: intent.type, reason: reason,
                                      message: "\(more) more \(reason) \(more == 1 ? "outcome" : "outcomes") of this pass, not posted one by one (spillwayd's log has each), such as: \(intent.message)"))
        }
        return posted
    }
}

/// The object an Event regards (`regarding`): a source, or an object that pulls.
struct EventSubject {
    var key: ObjectKey
    var uid: String
    var resourceVersion: String
}

/// Builds the events.k8s.io/v1 Events the engine posts on a source, or on an object that pulls.
enum EventBody {
    static let reportingController = "spillway.kroy.io/spillwayd"
    /// The API caps `note` at 1 kB.
    static let noteLimit = 1024

    /// The object an Event is about (`regarding`).
    struct Regarding {
        var apiVersion: String
        var kind: String
        var namespace: String
        var name: String
        var uid: String
        var resourceVersion: String

        init(apiVersion: String, kind: String, namespace: String, name: String, uid: String, resourceVersion: String) {
            self.apiVersion = apiVersion
            self.kind = kind
            self.namespace = namespace
            self.name = name
            self.uid = uid
            self.resourceVersion = resourceVersion
        }

        init(_ source: SourceObject) {
            self.init(apiVersion: "v1", kind: source.key.kind.rawValue, namespace: source.key.namespace,
                      name: source.key.name, uid: source.uid, resourceVersion: source.resourceVersion)
        }

        init(_ subject: EventSubject) {
            self.init(apiVersion: "v1", kind: subject.key.kind.rawValue, namespace: subject.key.namespace,
                      name: subject.key.name, uid: subject.uid, resourceVersion: subject.resourceVersion)
        }
    }

    static func make(source: SourceObject, intent: EventIntent, instance: String, now: Date, sequence: Int) -> JSONValue {
        make(regarding: Regarding(source), intent: intent, instance: instance, now: now, sequence: sequence)
    }

    static func make(regarding: Regarding, intent: EventIntent, instance: String, now: Date, sequence: Int) -> JSONValue {
        let nanos = UInt64(max(0, now.timeIntervalSince1970) * 1e9)
        var note = intent.message
        if note.utf8.count > noteLimit {
            note = String(decoding: Array(note.utf8.prefix(noteLimit - 3)), as: UTF8.self) + "..."
        }
        return [
            "apiVersion": "events.k8s.io/v1",
            "kind": "Event",
            "metadata": [
                // client-go's naming: the object's name and the time in hex (plus a sequence
                // number, for two events within one nanosecond tick).
                "name": .string("\(regarding.name).\(String(nanos, radix: 16))\(String(sequence, radix: 16))"),
                "namespace": .string(regarding.namespace),
            ],
            "eventTime": .string(Timestamp.microTime(now)),
            "reportingController": .string(reportingController),
            "reportingInstance": .string(instance),
            "action": "Replicate",
            "reason": .string(intent.reason),
            "note": .string(note),
            "type": .string(intent.type.rawValue),
            "regarding": [
                "apiVersion": .string(regarding.apiVersion),
                "kind": .string(regarding.kind),
                "namespace": .string(regarding.namespace),
                "name": .string(regarding.name),
                "uid": .string(regarding.uid),
                "resourceVersion": .string(regarding.resourceVersion),
            ],
        ]
    }
}
