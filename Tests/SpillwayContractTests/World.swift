import Foundation
import SpillwayContract

/// Small builders for the plain values the contract works on, so each test states its world
/// in a few lines.
enum World {
    static let now = Date(timeIntervalSince1970: 1_800_000_000)  // 2027-01-15T08:00:00Z

    static func namespace(_ name: String, labels: [String: String] = [:], acceptFrom: String? = nil,
                          terminating: Bool = false) -> NamespaceInfo {
        NamespaceInfo(name: name, labels: labels,
                      annotations: acceptFrom.map { [Vocabulary.acceptFrom: $0] } ?? [:],
                      isTerminating: terminating)
    }

    static func namespaces(_ names: String...) -> [NamespaceInfo] {
        names.map { namespace($0) }
    }

    static func bytes(_ text: String) -> [UInt8] { Array(text.utf8) }

    static func secret(_ namespace: String = "default", _ name: String = "db-pass",
                       annotations: [String: String] = [:], labels: [String: String] = [:],
                       type: String = SecretType.opaque, data: [String: String] = ["password": "hunter2"],
                       immutable: Bool = false, finalizer: Bool = true, deleting: Bool = false) -> SourceObject {
        SourceObject(
            key: ObjectKey(kind: .secret, namespace: namespace, name: name), uid: "src-uid", resourceVersion: "10",
            labels: labels, annotations: annotations, finalizers: finalizer ? [Vocabulary.finalizer] : [],
            deletionTimestamp: deleting ? now : nil,
            payload: Payload(kind: .secret, secretType: type, immutable: immutable, data: data.mapValues(bytes)))
    }

    static func configMap(_ namespace: String = "default", _ name: String = "settings",
                          annotations: [String: String] = [:], data: [String: String] = ["mode": "fast"],
                          binaryData: [String: [UInt8]] = [:]) -> SourceObject {
        SourceObject(
            key: ObjectKey(kind: .configMap, namespace: namespace, name: name), uid: "cm-uid", resourceVersion: "3",
            annotations: annotations, finalizers: [Vocabulary.finalizer],
            payload: Payload(kind: .configMap, data: data.mapValues(bytes), binaryData: binaryData))
    }

    /// What the API would hold after the replica was written.
    static func observed(_ replica: Replica, uid: String? = nil, resourceVersion: String = "1") -> ObservedObject {
        ObservedObject(namespace: replica.key.namespace, uid: uid ?? "uid-\(replica.key.namespace)",
                       resourceVersion: resourceVersion, labels: replica.labels, annotations: replica.annotations,
                       content: replica.payload.digest)
    }

    /// A managed replica of `source` in `namespace`, as spillway would have written it.
    static func replicaOf(_ source: SourceObject, in namespace: String, options: Options = Options(),
                          expiresAt: String? = nil) -> ObservedObject {
        let spec = try! ReplicationSpec.parse(source.annotations)
        return observed(ReplicaTemplate(source: source, spec: spec, options: options)
            .replica(in: namespace, expiresAt: expiresAt))
    }

    /// A same-name object spillway does not manage.
    static func unmanaged(in namespace: String, type: String = SecretType.opaque) -> ObservedObject {
        ObservedObject(namespace: namespace, uid: "foreign-\(namespace)", resourceVersion: "7",
                       labels: ["app": "theirs"],
                       content: Payload(kind: .secret, secretType: type, data: ["x": [1]]).digest)
    }

    /// Plans with the given options.
    static func plan(_ source: SourceObject?, key: ObjectKey? = nil, namespaces: [NamespaceInfo],
                     observed: [ObservedObject] = [], options: Options = Options(), now: Date = World.now) -> Plan {
        Planner(options: options).plan(key: key ?? source!.key, source: source, namespaces: namespaces,
                                       observed: observed, now: now)
    }

    /// Performs a plan's replica writes the way the executor would, returning the objects the
    /// API would then hold (for steady-state checks).
    static func apply(_ plan: Plan, to observed: [ObservedObject]) -> [ObservedObject] {
        var byNamespace = Dictionary(uniqueKeysWithValues: observed.map { ($0.namespace, $0) })
        for decision in plan.decisions {
            switch decision.action {
            case .create(let replica), .update(let replica, _), .recreate(let replica, _):
                byNamespace[decision.namespace] = Self.observed(replica)
            case .delete:
                byNamespace[decision.namespace] = nil
            case .release, .unchanged, .skip:
                break
            }
        }
        return Array(byNamespace.values)
    }
}

extension Plan {
    /// The decision for a namespace, if the plan mentions it.
    func decision(_ namespace: String) -> Decision? {
        decisions.first { $0.namespace == namespace }
    }

    /// The verb for each namespace mentioned.
    var verbs: [String: String] {
        Dictionary(uniqueKeysWithValues: decisions.map { ($0.namespace, $0.action.verb) })
    }

    /// The namespaces where a replica is created.
    var created: Set<String> {
        Set(decisions.compactMap { if case .create = $0.action { $0.namespace } else { nil } })
    }

    var deleted: Set<String> {
        Set(decisions.compactMap { if case .delete = $0.action { $0.namespace } else { nil } })
    }
}

extension ReplicaAction {
    var replica: Replica? {
        switch self {
        case .create(let replica), .update(let replica, _), .recreate(let replica, _): replica
        case .delete, .release, .unchanged, .skip: nil
        }
    }
}
