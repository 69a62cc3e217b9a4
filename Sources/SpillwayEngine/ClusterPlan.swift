import FoundationEssentials
import KubeClient
import KubeWire
import SpillwayContract
import SpillwayLoop

/// Everything the planner needs about a cluster, for a dry run: built from the live cluster
/// (``Engine/planCluster(client:options:namespaces:)``) or from objects read out of YAML files.
public struct ClusterSnapshot: Sendable {
    public private(set) var namespaces: [String: NamespaceInfo] = [:]
    /// Sources, and former sources still holding the finalizer.
    public private(set) var sources: [ObjectKey: SourceObject] = [:]
    /// Every other Secret and ConfigMap that matters: replicas, and unmanaged objects.
    public private(set) var others: [ObjectKey: ObservedObject] = [:]
    /// The objects that pull (`replicate-from`) and the pulled copies (also among `others`).
    public private(set) var pulls: [ObjectKey: PullTarget] = [:]
    /// SpillwayProfiles (ProfileClusterPlan.swift).
    public internal(set) var profiles: [NamespacedName: ProfileObject] = [:]
    /// Unmanaged objects given with their content, as a profile's listed sources.
    var unannotated: [ObjectKey: SourceObject] = [:]

    public init() {}

    /// Builds a snapshot from full objects (`kind` Namespace, Secret or ConfigMap; others are
    /// ignored), e.g. the documents of YAML files.
    public init(objects: [JSONValue]) {
        for object in objects {
            switch object["kind"]?.stringValue {
            case "Namespace": addNamespace(object)
            case Vocabulary.profileKind: addProfile(object)
            case let kind?: if let kind = Kind(rawValue: kind) { add(object, kind: kind) }
            case nil: break
            }
        }
    }

    public mutating func addNamespace(_ object: JSONValue) {
        guard let kubeObject = KubeObject(json: object, keepBody: true) else { return }
        let info = ObjectCoding.namespace(kubeObject)
        namespaces[info.name] = info
    }

    /// Adds a Secret or ConfigMap: a full object, or metadata only (its content then counts
    /// as unknown). An object without a namespace is placed in `default`, as kubectl would.
    public mutating func add(_ object: JSONValue, kind: Kind) {
        guard var meta = ObjectMeta(object: object) else { return }
        if meta.namespace == nil { meta.namespace = "default" }
        let key = ObjectCoding.key(kind: kind, meta)
        let hasContent = ["data", "binaryData", "stringData", "type"].contains { object[$0] != nil }
        let payload = hasContent ? ObjectCoding.payload(kind: kind, object: object) : nil
        if Vocabulary.isSource(labels: meta.labels, annotations: meta.annotations) || Vocabulary.holdsFinalizer(meta.finalizers)
            || Vocabulary.allowsPulls(labels: meta.labels, annotations: meta.annotations) {
            sources[key] = ObjectCoding.source(key, meta, payload: payload)
        } else {
            others[key] = ObjectCoding.observed(meta, content: payload?.digest)
            if let payload, !Vocabulary.isManaged(labels: meta.labels) { unannotated[key] = ObjectCoding.source(key, meta, payload: payload) }
        }
        if Vocabulary.isPull(labels: meta.labels, annotations: meta.annotations) {
            // What an object that asks holds decides whether it may be filled; a manifest
            // without data is an empty object.
            let held = Vocabulary.isManaged(labels: meta.labels) ? nil : PullTarget.HeldData(payload ?? Payload(kind: kind))
            pulls[key] = PullTarget(key: key, object: ObjectCoding.observed(meta, content: payload?.digest), held: held)
        }
    }

    /// The plan of every source, of every source a replica names that is gone (its orphans),
    /// sorted by key, then of every object that pulls (``pullPlans(planner:namespaces:)``).
    /// With `namespaces`, only decisions in those are kept.
    public func plans(planner: Planner, now: Date, namespaces filter: Set<String>? = nil) -> [Plan] {
        pushPlans(planner: planner, now: now, namespaces: filter) + pullPlans(planner: planner, namespaces: filter).map(\.plan)
    }

    /// ``plans(planner:now:namespaces:)`` as `spillwayd plan` reports them.
    public func reports(planner: Planner, now: Date, namespaces filter: Set<String>? = nil) -> [PlanReport] {
        pushPlans(planner: planner, now: now, namespaces: filter).map { PlanReport($0) }
            + pullPlans(planner: planner, namespaces: filter).map { PlanReport($0.plan, pullFrom: $0.source) }
    }

    /// The plan of every object that pulls, sorted by its key; with `namespaces`, of those in
    /// them only.
    public func pullPlans(planner: Planner, namespaces filter: Set<String>? = nil) -> [PullPlan] {
        pulls.keys.sorted().filter { filter?.contains($0.namespace) ?? true }.map { key in
            let target = pulls[key]!
            let request = target.object.annotations[Vocabulary.replicateFrom].flatMap { try? PullRequest.parse($0, kind: key.kind) }
            let other = request.flatMap { source in
                Kind.allCases.first { $0 != source.kind }.flatMap { sources[ObjectKey(kind: $0, namespace: source.namespace, name: source.name)] }
            }
            return planner.planPull(target, source: request.flatMap { sources[$0] }, otherKind: other, namespace: namespaces[key.namespace])
        }
    }

    /// What the pulls in the snapshot mean for `source`'s finalizer.
    func pullDemand(for source: ObjectKey) -> PullDemand {
        var demand = PullDemand()
        for (key, target) in pulls where key.kind == source.kind {
            if target.isPulledCopy && target.object.sourceFrom == source { demand.copies += 1 }
            if target.object.annotations[Vocabulary.replicateFrom].flatMap({ try? PullRequest.parse($0, kind: key.kind) }) == source {
                demand.askingNamespaces.append(key.namespace)
            }
        }
        return demand
    }

    private func pushPlans(planner: Planner, now: Date, namespaces filter: Set<String>?) -> [Plan] {
        var byName: [NameKey: [ObservedObject]] = [:]
        for (key, object) in others { byName[NameKey(key), default: []].append(object) }
        for (key, source) in sources {
            byName[NameKey(key), default: []].append(ObservedObject(
                namespace: key.namespace, uid: source.uid, resourceVersion: source.resourceVersion,
                labels: source.labels, annotations: source.annotations, content: source.payload.digest,
                deletionTimestamp: source.deletionTimestamp))
        }
        var keys = Set(sources.keys)
        // A replica a management host wrote here from another cluster names no source of this one.
        for object in others.values where object.isManaged && object.annotations[Vocabulary.sourceCluster] == nil {
            if let owner = object.sourceFrom { keys.insert(owner) }
        }
        let namespaceList = Array(namespaces.values)
        return keys.sorted().map { key in
            var plan = planner.plan(key: key, source: sources[key], namespaces: namespaceList,
                                    observed: byName[NameKey(key)] ?? [], now: now, pulls: pullDemand(for: key))
            if let filter {
                plan.decisions = plan.decisions.filter { filter.contains($0.namespace) }
            }
            return plan
        }
    }
}

extension Engine {
    /// `spillwayd plan` against a live cluster: reads namespaces, every Secret and ConfigMap
    /// (metadata only; sources are then read in full, replicas come with their content) and
    /// returns the report of what the engine would do. Writes nothing. Callable from any task
    /// while the client's reactor runs.
    public static func planCluster(client: KubeClient, options: SpillwayContract.Options,
                                   namespaces filter: Set<String>? = nil,
                                   now: Date = WallClock.system.now) async throws(KubeClientError) -> [PlanReport] {
        let snapshot = try await snapshot(client: client)
        let planner = Planner(options: options)
        return snapshot.reports(planner: planner, now: now, namespaces: filter)
            + snapshot.profileReports(planner: planner, now: now, namespaces: filter)
    }

    /// Reads the live cluster into a ``ClusterSnapshot``, holding content only for sources
    /// (objects that allow pulls among them), replicas and objects that pull.
    public static func snapshot(client: KubeClient) async throws(KubeClientError) -> ClusterSnapshot {
        var snapshot = ClusterSnapshot()
        for namespace in try await client.list(.namespaces, namespace: nil).items {
            snapshot.addNamespace(namespace)
        }
        let managed = Vocabulary.managedByLabel + "=" + Vocabulary.managedByValue
        let notManaged = Vocabulary.managedByLabel + "!=" + Vocabulary.managedByValue
        for kind in Kind.allCases {
            let resource = ObjectCoding.resource(kind)
            for replica in try await client.list(resource, namespace: nil,
                                                 options: ListOptions(selectors: Selectors(label: managed))).items {
                snapshot.add(replica, kind: kind)
            }
            var unmanaged: [ObjectMeta] = []
            for item in try await client.list(resource, namespace: nil,
                                              options: ListOptions(selectors: Selectors(label: notManaged), metadataOnly: true)).items {
                guard let meta = ObjectMeta(object: item) else { continue }
                if Vocabulary.isSource(labels: meta.labels, annotations: meta.annotations) || Vocabulary.holdsFinalizer(meta.finalizers)
                    || Vocabulary.allowsPulls(labels: meta.labels, annotations: meta.annotations)
                    || Vocabulary.isPull(labels: meta.labels, annotations: meta.annotations) {
                    do throws(KubeClientError) {
                        snapshot.add(try await client.get(resource, namespace: meta.namespace, name: meta.name), kind: kind)
                    } catch {
                        if error.status?.isNotFound == true { continue } // deleted since listed
                        throw error
                    }
                } else {
                    unmanaged.append(meta)
                }
            }
            // Only unmanaged objects that share a source's name can matter to a plan.
            let names = Set(snapshot.sources.keys.filter { $0.kind == kind }.map(\.name))
            for meta in unmanaged where names.contains(meta.name) {
                snapshot.add(["metadata": metadataJSON(meta)], kind: kind)
            }
        }
        try await addProfiles(client: client, to: &snapshot)
        return snapshot
    }

    static func metadataJSON(_ meta: ObjectMeta) -> JSONValue {
        var object: JSONValue = [
            "name": .string(meta.name), "namespace": .string(meta.namespace ?? ""), "uid": .string(meta.uid),
            "resourceVersion": .string(meta.resourceVersion),
            "labels": .stringMap(meta.labels), "annotations": .stringMap(meta.annotations),
        ]
        if let deletion = meta.deletionTimestamp { object["deletionTimestamp"] = .string(deletion) }
        return object
    }
}
