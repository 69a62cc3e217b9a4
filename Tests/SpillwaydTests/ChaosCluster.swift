import Foundation
import KubeEmulator
import KubeWire
import SpillwayTestSupport

/// What the chaos run does to the cluster through the API (the emulator's store, with the same
/// validation, resourceVersions and watch events as over HTTP), as a user and other controllers
/// would: sources, their annotations, namespaces, hand edits of replicas, unmanaged objects.
///
/// It keeps only what the final checks need and the cluster cannot say by itself: the secret
/// values it wrote, the unmanaged objects it owns (and the resourceVersion of its last write to
/// each), and which annotations it left malformed.
final class ChaosCluster {
    enum Kind: String, CaseIterable {
        case secret = "Secret"
        case configMap = "ConfigMap"

        var type: ResourceType { self == .secret ? .secret : .configMap }
    }

    /// A source name lives in one source namespace only, so no two sources compete for a
    /// replica (whose owner would then depend on history, not on the final state).
    static let sourceNamespaces = ["src-a", "src-b"]
    static let sourceNames = (0..<6).map { "app-\($0)" }
    static let targetNamespaces = (0..<10).map { "chaos-\($0)" }
    static let labelValues = ["env": ["dev", "prod"], "team": ["red", "blue"]]
    static let finalizerOfTheTest = "chaos.spillway.test/hold"
    static let blockerName = "hold-namespace"

    let emulator: () -> KubeEmulator
    private(set) var rng: SeededGenerator
    /// Every Secret value written (12 bytes: base64 of exactly 16 characters).
    private(set) var secretValues: Set<String> = []
    /// Unmanaged objects the run owns: "Kind/namespace/name" → resourceVersion after its last write.
    private(set) var unmanaged: [String: UInt64] = [:]
    /// Namespaces held Terminating by a finalizer of the run's own.
    private(set) var heldNamespaces: Set<String> = []
    /// The type a deleted Secret source comes back with (a Secret's type cannot change in place).
    private var retyped: [String: String] = [:]
    /// Sources (by "Kind/namespace/name") and namespaces whose annotation was left malformed.
    private(set) var malformedSources: Set<String> = []
    private(set) var malformedNamespaces: Set<String> = []
    private var counter = 0

    init(emulator: @escaping () -> KubeEmulator, seed: UInt64) {
        self.emulator = emulator
        rng = SeededGenerator(seed: seed)
    }

    private var store: Store { emulator().store }

    // MARK: - Randomness

    func chance(_ probability: Double) -> Bool { Double.random(in: 0..<1, using: &rng) < probability }
    func pick<T>(_ items: [T]) -> T { items.randomElement(using: &rng)! }
    func number(_ range: ClosedRange<Int>) -> Int { Int.random(in: range, using: &rng) }

    private func secretValue() -> String {
        counter += 1
        let value = "cv" + String(format: "%010x", UInt64.random(in: 0..<(1 << 40), using: &rng))
        secretValues.insert(value)
        return value
    }

    // MARK: - The initial world

    func seed() throws {
        for name in Self.sourceNamespaces + ["spillway-system"] {
            _ = try? store.create(.namespace, namespace: "", ["metadata": ["name": .string(name)]])
        }
        for name in Self.targetNamespaces.prefix(6) { try createNamespace(name) }
        for name in Self.sourceNames.prefix(4) { try createSource(pick(Kind.allCases), name) }
    }

    // MARK: - Operations

    /// Performs one random operation; returns a line for the run's log.
    func randomOperation() -> String {
        let operations: [(weight: Int, run: () throws -> String?)] = [
            (6, { try self.createSource(self.pick(Kind.allCases), self.pick(Self.sourceNames)) }),
            (8, editSourceData),
            (2, retypeSource),
            (2, makeSourceImmutable),
            (3, deleteSource),
            (8, editSourceAnnotations),
            (3, malformSource),
            (3, fixSource),
            (3, { try self.createNamespace(self.pick(Self.targetNamespaces)) }),
            (4, relabelNamespace),
            (3, changeConsent),
            (2, { try self.deleteNamespace(stuck: false) }),
            (1, { try self.deleteNamespace(stuck: true) }),
            (1, unstickNamespace),
            (6, editReplica),
            (4, deleteReplica),
            (3, createUnmanaged),
            (1, deleteUnmanaged),
        ]
        var roll = number(1...operations.reduce(0) { $0 + $1.weight })
        for operation in operations {
            roll -= operation.weight
            guard roll <= 0 else { continue }
            do {
                return try operation.run() ?? "nothing to do"
            } catch {
                // A refused write (a namespace terminating, an immutable object) is part of the game.
                return "refused: \(error)"
            }
        }
        return "nothing to do"
    }

    private func ref(_ kind: Kind, _ namespace: String, _ name: String) -> String { "\(kind.rawValue)/\(namespace)/\(name)" }

    private func sourceNamespace(of name: String) -> String {
        Self.sourceNamespaces[(Int(name.split(separator: "-").last!) ?? 0) % Self.sourceNamespaces.count]
    }

    private func objects(_ kind: Kind, namespace: String? = nil) -> [StoredObject] {
        (try? store.list(kind.type, namespace: namespace).items) ?? []
    }

    /// Sources the run made, alive: in the source namespace of their name (a source namespace
    /// also receives replicas of the other's sources, which are not sources).
    private func liveSources() -> [(Kind, StoredObject)] {
        Kind.allCases.flatMap { kind in
            Self.sourceNamespaces.flatMap { namespace in
                objects(kind, namespace: namespace).filter {
                    Self.sourceNames.contains($0.name) && sourceNamespace(of: $0.name) == namespace && !isTerminating($0)
                        && $0.labels["spillway.kroy.io/managed-by"] == nil
                }.map { (kind, $0) }
            }
        }
    }

    private func isTerminating(_ object: StoredObject) -> Bool {
        object.json["metadata"]?["deletionTimestamp"].map { $0 != .null } ?? false
    }

    private func payload(_ kind: Kind) -> JSONValue {
        var data: [String: JSONValue] = [:]
        for key in ["a", "b", "c"].prefix(number(1...3)) {
            data[key] = kind == .secret
                ? .string(Data(secretValue().utf8).base64EncodedString())
                : .string("plain-\(number(0...999))")
        }
        return .object(data)
    }

    /// Valid annotations: replicate-to and/or replicate-to-matching, sometimes exclusions and
    /// key projections.
    private func annotations() -> [String: String] {
        var a: [String: String] = [:]
        let targets = ["all", "*", "chaos-*", "chaos-[0-4]", "chaos-?", "chaos-1,chaos-2", "chaos-3, chaos-7 ,", "kube-system,chaos-5"]
        if chance(0.8) { a["spillway.kroy.io/replicate-to"] = pick(targets) }
        if a.isEmpty || chance(0.3) {
            a["spillway.kroy.io/replicate-to-matching"] = pick(["env=dev", "team in (red,blue)", "env!=prod", "!team", "env"])
        }
        if chance(0.3) { a["spillway.kroy.io/exclude-namespaces"] = pick(["chaos-0", "chaos-[5-9]", "chaos-2,chaos-3"]) }
        if chance(0.15) { a["spillway.kroy.io/include-keys"] = pick(["a", "a,b"]) }
        if chance(0.1) { a["spillway.kroy.io/exclude-keys"] = "b" }
        if chance(0.2) { a["example.com/note"] = "copied-\(number(0...9))" }
        return a
    }

    private static let malformedAnnotations: [(String, String)] = [
        ("spillway.kroy.io/replicate-to", "chaos-[0-"),
        ("spillway.kroy.io/replicate-to", "Chaos_Upper"),
        ("spillway.kroy.io/replicate-to-matching", "env in (dev"),
        ("spillway.kroy.io/exclude-namespaces", "bad;name"),
        ("spillway.kroy.io/include-keys", "a,,b/"),
    ]

    private func source(_ kind: Kind, _ name: String, type: String, immutable: Bool, annotations: [String: String]) -> JSONValue {
        var object: JSONValue = [
            "apiVersion": "v1", "kind": .string(kind.rawValue),
            "metadata": [
                "name": .string(name), "namespace": .string(sourceNamespace(of: name)),
                "labels": .object(chance(0.5) ? ["app": .string(name), "tier": "chaos"] : [:]),
                "annotations": .object(annotations.mapValues { .string($0) }),
            ],
            "data": payload(kind),
        ]
        if kind == .secret { object["type"] = .string(type) }
        if immutable { object["immutable"] = true }
        return object
    }

    @discardableResult
    func createSource(_ kind: Kind, _ name: String) throws -> String? {
        let namespace = sourceNamespace(of: name)
        if (try? store.get(kind.type, namespace: namespace, name: name)) != nil { return nil }
        let type = retyped.removeValue(forKey: ref(kind, namespace, name)) ?? (chance(0.7) ? "Opaque" : "example.com/chaos")
        _ = try store.create(kind.type, namespace: namespace,
                             source(kind, name, type: type, immutable: chance(0.1), annotations: annotations()))
        malformedSources.remove(ref(kind, namespace, name))
        return "create \(ref(kind, namespace, name))"
    }

    private func editSourceData() throws -> String? {
        guard let (kind, object) = liveSources().randomElement(using: &rng) else { return nil }
        _ = try store.patch(kind.type, namespace: object.namespace, name: object.name, .merge, ["data": payload(kind)])
        return "edit data of \(ref(kind, object.namespace, object.name))"
    }

    /// A Secret's type cannot change in place: the source is deleted, and comes back with the
    /// other type the next time it is created (once spillway has let the old one go).
    private func retypeSource() throws -> String? {
        guard let (_, object) = liveSources().filter({ $0.0 == .secret }).randomElement(using: &rng) else { return nil }
        let type = object.json["type"]?.stringValue == "Opaque" ? "example.com/chaos" : "Opaque"
        _ = try store.delete(.secret, namespace: object.namespace, name: object.name)
        retyped[ref(.secret, object.namespace, object.name)] = type
        malformedSources.remove(ref(.secret, object.namespace, object.name))
        return "retype \(ref(.secret, object.namespace, object.name)) to \(type): deleted"
    }

    private func makeSourceImmutable() throws -> String? {
        guard let (kind, object) = liveSources().randomElement(using: &rng) else { return nil }
        _ = try store.patch(kind.type, namespace: object.namespace, name: object.name, .merge, ["immutable": true])
        return "make \(ref(kind, object.namespace, object.name)) immutable"
    }

    private func deleteSource() throws -> String? {
        guard let (kind, object) = liveSources().randomElement(using: &rng) else { return nil }
        _ = try store.delete(kind.type, namespace: object.namespace, name: object.name)
        malformedSources.remove(ref(kind, object.namespace, object.name))
        return "delete \(ref(kind, object.namespace, object.name))"
    }

    private func editSourceAnnotations() throws -> String? {
        guard let (kind, object) = liveSources().randomElement(using: &rng) else { return nil }
        var patch: [String: JSONValue] = [:]
        for key in (object.json["metadata"]?["annotations"]?.stringMap ?? [:]).keys where !key.hasSuffix("/expired-namespaces") {
            patch[key] = .null
        }
        for (key, value) in annotations() { patch[key] = .string(value) }
        _ = try store.patch(kind.type, namespace: object.namespace, name: object.name, .merge,
                            ["metadata": ["annotations": .object(patch)]])
        malformedSources.remove(ref(kind, object.namespace, object.name))
        return "annotate \(ref(kind, object.namespace, object.name))"
    }

    private func malformSource() throws -> String? {
        guard let (kind, object) = liveSources().randomElement(using: &rng) else { return nil }
        let (key, value) = pick(Self.malformedAnnotations)
        _ = try store.patch(kind.type, namespace: object.namespace, name: object.name, .merge,
                            ["metadata": ["annotations": [key: .string(value)]]])
        malformedSources.insert(ref(kind, object.namespace, object.name))
        return "malform \(key) of \(ref(kind, object.namespace, object.name))"
    }

    private func fixSource() throws -> String? {
        guard let target = malformedSources.sorted().randomElement(using: &rng) else { return nil }
        return try fix(source: target)
    }

    private func fix(source target: String) throws -> String {
        let parts = target.split(separator: "/").map(String.init)
        let kind = Kind(rawValue: parts[0])!
        malformedSources.remove(target)
        guard let object = try? store.get(kind.type, namespace: parts[1], name: parts[2]) else { return "fix \(target): gone" }
        var patch: [String: JSONValue] = [:]
        for (key, _) in Self.malformedAnnotations { patch[key] = .null }
        for (key, value) in annotations() { patch[key] = .string(value) }
        _ = try store.patch(kind.type, namespace: object.namespace, name: object.name, .merge,
                            ["metadata": ["annotations": .object(patch)]])
        return "fix \(target)"
    }

    private func namespaceLabels() -> JSONValue {
        var labels: [String: JSONValue] = [:]
        for (key, values) in Self.labelValues.sorted(by: { $0.key < $1.key }) where chance(0.6) { labels[key] = .string(pick(values)) }
        return .object(labels)
    }

    private func consent() -> String? {
        guard chance(0.3) else { return nil }
        return pick(["Secret/*/*", "*/src-a/*", "ConfigMap/*/app-*,Secret/src-b/*", "*/*/app-[0-2]"])
    }

    @discardableResult
    func createNamespace(_ name: String) throws -> String? {
        if (try? store.get(.namespace, namespace: "", name: name)) != nil { return nil }
        var metadata: JSONValue = ["name": .string(name), "labels": namespaceLabels()]
        if let consent = consent() { metadata["annotations"] = ["spillway.kroy.io/accept-from": .string(consent)] }
        _ = try store.create(.namespace, namespace: "", ["metadata": metadata])
        malformedNamespaces.remove(name)
        return "create namespace \(name)"
    }

    private func liveNamespaces() -> [StoredObject] {
        ((try? store.list(.namespace, namespace: nil).items) ?? [])
            .filter { Self.targetNamespaces.contains($0.name) && !isTerminating($0) }
    }

    private func relabelNamespace() throws -> String? {
        guard let namespace = liveNamespaces().randomElement(using: &rng) else { return nil }
        var labels: [String: JSONValue] = [:]
        for key in Self.labelValues.keys { labels[key] = .null }
        for (key, value) in namespaceLabels().objectValue ?? [:] { labels[key] = value }
        _ = try store.patch(.namespace, namespace: "", name: namespace.name, .merge, ["metadata": ["labels": .object(labels)]])
        return "relabel namespace \(namespace.name)"
    }

    private func changeConsent() throws -> String? {
        guard let namespace = liveNamespaces().randomElement(using: &rng) else { return nil }
        let value: JSONValue
        if chance(0.2) {
            value = "Secret/src-a"
            malformedNamespaces.insert(namespace.name)
        } else {
            value = consent().map { .string($0) } ?? .null
            malformedNamespaces.remove(namespace.name)
        }
        _ = try store.patch(.namespace, namespace: "", name: namespace.name, .merge,
                            ["metadata": ["annotations": ["spillway.kroy.io/accept-from": value]]])
        return "consent of \(namespace.name) = \(value)"
    }

    /// `stuck`: an object of the run's own holds a finalizer in it, so the namespace stays
    /// Terminating until `unstickNamespace` releases it.
    private func deleteNamespace(stuck: Bool) throws -> String? {
        guard let namespace = liveNamespaces().randomElement(using: &rng) else { return nil }
        if stuck {
            _ = try store.create(.configMap, namespace: namespace.name, [
                "metadata": ["name": .string(Self.blockerName), "finalizers": [.string(Self.finalizerOfTheTest)]],
                "data": ["why": "keeps the namespace terminating"],
            ])
            heldNamespaces.insert(namespace.name)
        }
        _ = try store.delete(.namespace, namespace: "", name: namespace.name)
        for key in unmanaged.keys where key.split(separator: "/")[1] == namespace.name { unmanaged[key] = nil }
        malformedNamespaces.remove(namespace.name)
        return "delete namespace \(namespace.name)\(stuck ? " (stuck)" : "")"
    }

    private func unstickNamespace() throws -> String? {
        guard let namespace = heldNamespaces.sorted().randomElement(using: &rng) else { return nil }
        heldNamespaces.remove(namespace)
        _ = try store.patch(.configMap, namespace: namespace, name: Self.blockerName, .merge,
                            ["metadata": ["finalizers": .null]])
        return "release namespace \(namespace)"
    }

    private func replicas() -> [(Kind, StoredObject)] {
        Kind.allCases.flatMap { kind in
            objects(kind).filter { $0.labels["spillway.kroy.io/managed-by"] == "spillway" }.map { (kind, $0) }
        }
    }

    private func editReplica() throws -> String? {
        guard let (kind, replica) = replicas().randomElement(using: &rng) else { return nil }
        let patch: JSONValue = chance(0.5)
            ? ["data": payload(kind)]
            : ["metadata": ["labels": ["hand-edited": "yes"], "annotations": ["example.com/note": "by hand"]]]
        _ = try store.patch(kind.type, namespace: replica.namespace, name: replica.name, .merge, patch)
        return "hand-edit replica \(ref(kind, replica.namespace, replica.name))"
    }

    private func deleteReplica() throws -> String? {
        guard let (kind, replica) = replicas().randomElement(using: &rng) else { return nil }
        _ = try store.delete(kind.type, namespace: replica.namespace, name: replica.name)
        return "hand-delete replica \(ref(kind, replica.namespace, replica.name))"
    }

    /// A same-name object spillway does not manage, in a target namespace.
    private func createUnmanaged() throws -> String? {
        guard let namespace = liveNamespaces().randomElement(using: &rng) else { return nil }
        let kind = pick(Kind.allCases)
        let name = pick(Self.sourceNames)
        if (try? store.get(kind.type, namespace: namespace.name, name: name)) != nil { return nil }
        var object: JSONValue = [
            "apiVersion": "v1", "kind": .string(kind.rawValue),
            "metadata": ["name": .string(name), "labels": ["owner": "someone-else"]], "data": payload(kind),
        ]
        if kind == .secret { object["type"] = "Opaque" }
        let created = try store.create(kind.type, namespace: namespace.name, object)
        unmanaged[ref(kind, namespace.name, name)] = created.resourceVersion
        return "create unmanaged \(ref(kind, namespace.name, name))"
    }

    private func deleteUnmanaged() throws -> String? {
        guard let key = unmanaged.keys.sorted().randomElement(using: &rng) else { return nil }
        let parts = key.split(separator: "/").map(String.init)
        unmanaged[key] = nil
        _ = try store.delete(Kind(rawValue: parts[0])!.type, namespace: parts[1], name: parts[2])
        return "delete unmanaged \(key)"
    }

    // MARK: - Settling

    /// Fixes every annotation left malformed: a malformed annotation freezes what it governs
    /// (by contract), which would make the final state depend on history.
    func fixEverythingMalformed() throws -> [String] {
        var log: [String] = []
        for target in malformedSources.sorted() { log.append(try fix(source: target)) }
        for name in malformedNamespaces.sorted() {
            malformedNamespaces.remove(name)
            _ = try? store.patch(.namespace, namespace: "", name: name, .merge,
                                 ["metadata": ["annotations": ["spillway.kroy.io/accept-from": .null]]])
            log.append("fix consent of \(name)")
        }
        return log
    }
}
