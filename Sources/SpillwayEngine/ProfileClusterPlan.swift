import FoundationEssentials
import KubeClient
import KubeWire
import SpillwayContract

/// SpillwayProfiles in a dry run (`spillwayd plan`): read from the live cluster or from YAML
/// files, planned by the same ``Planner/planProfile(_:profile:sources:namespaces:observed:owned:now:)``
/// as the engine's reconcile.
extension ClusterSnapshot {
    /// Adds a SpillwayProfile object (any served version).
    public mutating func addProfile(_ object: JSONValue) {
        guard let profile = ProfileObject(json: object) else { return }
        profiles[profile.key] = profile
    }

    /// Every profile's plan, and that of every profile a replica names that is gone (its
    /// replicas are deleted), as reports; with `namespaces`, only decisions in those are kept.
    public func profileReports(planner: Planner, now: Date, namespaces filter: Set<String>? = nil) -> [PlanReport] {
        let byName = objectsByName
        // The replicas of each profile, by the source key they name (Kind/profile namespace/name).
        var owned: [NamespacedName: Set<ObjectKey>] = [:]
        for (key, object) in others where object.isManaged {
            guard let ref = object.annotations[Vocabulary.profileRef], let profile = ProfileObject.key(ref: ref) else { continue }
            owned[profile, default: []].insert(ObjectKey(kind: key.kind, namespace: profile.namespace ?? "", name: key.name))
        }
        let namespaceList = Array(namespaces.values)
        return Set(profiles.keys).union(owned.keys).sorted().flatMap { key -> [PlanReport] in
            let mine = owned[key] ?? []
            let plan = planProfile(key, profiles[key], owned: mine, objects: byName, namespaces: namespaceList, planner: planner, now: now,
                                   filter: filter)
            return PlanReport.reports(plan, listed: profiles[key]?.sourceKeys ?? Array(mine))
        }
    }

    /// Every Secret and ConfigMap of the snapshot by kind and name, then namespace (sources as
    /// the objects they are).
    var objectsByName: [NameKey: [String: ObservedObject]] {
        var byName: [NameKey: [String: ObservedObject]] = [:]
        for (key, object) in others { byName[NameKey(key), default: [:]][key.namespace] = object }
        for (key, source) in sources {
            byName[NameKey(key), default: [:]][key.namespace] = ObservedObject(
                namespace: key.namespace, uid: source.uid, resourceVersion: source.resourceVersion,
                labels: source.labels, annotations: source.annotations, content: source.payload.digest,
                deletionTimestamp: source.deletionTimestamp)
        }
        return byName
    }

    /// Plans the profile `key` (`profile`: as given, nil when gone) of this snapshot with the
    /// replicas `owned` against `namespaces` and the objects `objects` — this snapshot's, or a
    /// target cluster's (``targetReports(in:cluster:planner:now:namespaces:)``); with `filter`,
    /// only decisions in those namespaces are kept.
    func planProfile(_ key: NamespacedName, _ profile: ProfileObject?, owned: Set<ObjectKey>,
                     objects: [NameKey: [String: ObservedObject]], namespaces: [NamespaceInfo], planner: Planner, now: Date,
                     filter: Set<String>?) -> ProfilePlan {
        var observed: [ObjectKey: [String: ObservedObject]] = [:]
        var listed: [ObjectKey: SourceObject] = [:]
        for source in owned.union(profile?.sourceKeys ?? []) {
            observed[source] = objects[NameKey(source)] ?? [:]
            if let object = unannotated[source] ?? sources[source] { listed[source] = object }
        }
        var plan = planner.planProfile(key, profile: profile, sources: listed, namespaces: namespaces,
                                       observed: observed, owned: owned, now: now)
        if let filter {
            for index in plan.plans.indices {
                plan.plans[index].decisions = plan.plans[index].decisions.filter { filter.contains($0.namespace) }
            }
        }
        return plan
    }
}

extension Engine {
    /// Reads the SpillwayProfiles of the live cluster, and their listed sources in full, into
    /// `snapshot` (nothing when the CRD is not installed).
    static func addProfiles(client: KubeClient, to snapshot: inout ClusterSnapshot) async throws(KubeClientError) {
        for version in Vocabulary.profileVersions {
            let items: [JSONValue]
            do throws(KubeClientError) {
                items = try await client.list(Resource.spillwayProfiles(version), namespace: nil).items
            } catch where error.status?.isNotFound == true {
                continue
            }
            for item in items { snapshot.addProfile(item) }
            let listed = Set(snapshot.profiles.values.flatMap(\.sourceKeys))
            for key in listed.sorted() where snapshot.sources[key] == nil {
                do throws(KubeClientError) {
                    snapshot.add(try await client.get(ObjectCoding.resource(key.kind), namespace: key.namespace, name: key.name),
                                 kind: key.kind)
                } catch where error.status?.isNotFound == true {
                    continue
                }
            }
            // Objects of the listed names elsewhere: in the way of a profile's replicas, or its own.
            let names = Set(listed.map(NameKey.init))
            for kind in Kind.allCases where names.contains(where: { $0.kind == kind }) {
                let unmanaged = Vocabulary.managedByLabel + "!=" + Vocabulary.managedByValue
                for item in try await client.list(ObjectCoding.resource(kind), namespace: nil,
                                                  options: ListOptions(selectors: Selectors(label: unmanaged), metadataOnly: true)).items {
                    guard let meta = ObjectMeta(object: item), names.contains(NameKey(kind: kind, name: meta.name)) else { continue }
                    let key = ObjectCoding.key(kind: kind, meta)
                    if snapshot.others[key] == nil && snapshot.sources[key] == nil {
                        snapshot.add(["metadata": metadataJSON(meta)], kind: kind)
                    }
                }
            }
            return
        }
    }
}
