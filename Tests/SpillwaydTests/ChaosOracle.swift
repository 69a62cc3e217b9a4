import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import SpillwayContract
import SpillwayEngine

/// What must hold once the cluster is quiet, judged by the pure planner alone.
struct ChaosOracle {
    let options = SpillwayContract.Options()
    let planner: Planner

    init() { planner = Planner(options: options) }

    /// Every way the cluster differs from what the planner computes; empty when it is right.
    /// `unmanaged`: the run's unmanaged objects and the resourceVersion of its last write to each.
    func problems(in store: Store, unmanaged: [String: UInt64]) -> [String] {
        var problems: [String] = []
        let namespaces = objects(store, .namespace)
        let kinds: [(SpillwayContract.Kind, ResourceType)] = [(.secret, .secret), (.configMap, .configMap)]
        let byKind = kinds.map { kind, type in (kind, objects(store, type)) }

        // 1. A fixed point: planned against the cluster as it is, no source needs any write.
        var whole = ClusterSnapshot()
        namespaces.forEach { whole.addNamespace($0.json) }
        for (kind, items) in byKind { items.forEach { whole.add($0.json, kind: kind) } }
        for plan in whole.plans(planner: planner, now: Date()) {
            for decision in plan.writes {
                problems.append("\(plan.source): would \(decision.action.verb) in \(decision.namespace) (\(decision.reason))")
            }
            for action in plan.sourceActions { problems.append("\(plan.source): would \(action)") }
        }

        // 2. Exactly the replicas the planner makes from the sources, the namespaces and the
        //    unmanaged objects alone: none missing, none stray.
        var inputs = ClusterSnapshot()
        namespaces.forEach { inputs.addNamespace($0.json) }
        var actual: Set<String> = []
        var owners: [String: String] = [:]
        for (kind, items) in byKind {
            for item in items {
                // A replica by contract: the label and a source-from naming a source (the
                // label alone makes an object no source, but not a replica either).
                let owner = item.meta.annotations[Vocabulary.sourceFrom].flatMap(ObjectKey.init)
                if item.meta.labels[Vocabulary.managedByLabel] == Vocabulary.managedByValue, owner != nil {
                    let key = "\(kind.rawValue)/\(item.meta.namespace ?? "")/\(item.meta.name)"
                    actual.insert(key)
                    owners[key] = item.meta.annotations[Vocabulary.sourceFrom] ?? "no source-from"
                } else {
                    inputs.add(item.json, kind: kind)
                }
            }
        }
        var expected: Set<String> = []
        for plan in inputs.plans(planner: planner, now: Date()) {
            for decision in plan.decisions {
                if case .create = decision.action {
                    expected.insert("\(plan.source.kind.rawValue)/\(decision.namespace)/\(plan.source.name)")
                }
            }
        }
        // What the planner decided there, against the cluster as it is, says why.
        var decided: [String: String] = [:]
        for plan in whole.plans(planner: planner, now: Date()) {
            for decision in plan.decisions {
                decided["\(plan.source.kind.rawValue)/\(decision.namespace)/\(plan.source.name)"] =
                    "\(plan.source): \(decision.action.verb), \(decision.cause): \(decision.reason)"
            }
        }
        for missing in expected.subtracting(actual).sorted() {
            problems.append("missing replica \(missing) (\(decided[missing] ?? "no decision"))")
        }
        for stray in actual.subtracting(expected).sorted() {
            problems.append("stray replica \(stray) of \(owners[stray] ?? "") (\(decided[stray] ?? "no decision"))")
        }

        // 3. spillway's finalizer only on live sources.
        for (kind, items) in byKind {
            for item in items where item.meta.finalizers.contains(Vocabulary.finalizer) {
                let live = item.meta.deletionTimestamp == nil
                    && Vocabulary.isSource(labels: item.meta.labels, annotations: item.meta.annotations)
                if !live { problems.append("stray finalizer on \(kind.rawValue)/\(item.meta.namespace ?? "")/\(item.meta.name)") }
            }
        }

        // 4. No unmanaged object changed since the run last wrote it.
        for (key, version) in unmanaged.sorted(by: { $0.key < $1.key }) {
            let parts = key.split(separator: "/").map(String.init)
            let type: ResourceType = parts[0] == "Secret" ? .secret : .configMap
            guard let object = try? store.get(type, namespace: parts[1], name: parts[2]) else {
                problems.append("unmanaged \(key) is gone")
                continue
            }
            if object.resourceVersion != version {
                problems.append("unmanaged \(key) changed (resourceVersion \(version) → \(object.resourceVersion))")
            }
        }
        return problems
    }

    private struct Item {
        var json: JSONValue
        var meta: ObjectMeta
    }

    private func objects(_ store: Store, _ type: ResourceType) -> [Item] {
        ((try? store.list(type, namespace: nil).items) ?? []).compactMap { object in
            guard let json = try? JSONParser.parse(object.bytes), let meta = ObjectMeta(object: json) else { return nil }
            return Item(json: json, meta: meta)
        }
    }
}
