import FoundationEssentials
import KubeClient
import KubeWire
import SpillwayContract

/// A source some SpillwayProfile lists, as observed. Profile sources carry no annotation, so
/// the metadata watch that finds annotation sources would drop them: it keeps exactly the
/// objects a profile lists, and their content once read (memory grows with what is
/// replicated, not with the cluster).
enum ListedSource {
    /// Listed since the watch last showed it: it is read before it is planned.
    case unknown
    case absent
    /// Its metadata; its content as last read (stale when `payloadVersion` differs from
    /// `meta.resourceVersion`).
    case present(meta: ObjectMeta, payload: Payload?, payloadVersion: String?)

    var needsRead: Bool {
        switch self {
        case .unknown: true
        case .absent: false
        case .present(let meta, _, let version): meta.deletionTimestamp == nil && version != meta.resourceVersion
        }
    }
}

/// The engine's observed state of SpillwayProfiles: where they are served, every profile, and
/// the sources they list. Fed by the profile informer, by the metadata watch of Secrets and
/// ConfigMaps (for listed objects only) and by the answers of the engine's own requests. Each
/// `apply…` returns the work the change concerns. Confined to the reactor thread.
final class ProfileState {
    /// Where profiles are served (the preferred version the CRD serves: `v1`, else `v1alpha1`);
    /// nil while unknown or when the CRD is not installed (or not readable): then no profile is
    /// served, and the replicas of profiles are left alone as they are.
    var resource: Resource?
    /// The informer of profiles at `resource`.
    var informer: Informer?
    /// That the CRD is not installed was said (once, until it is).
    var announcedAbsence = false
    /// The profile informer delivered its first full list: profiles may be reconciled.
    private(set) var synced = false
    /// Whether profiles are reconciled at all.
    var isServing: Bool { resource != nil && synced }
    /// Why profiles are not served, as last logged (said once, not at every check).
    var probeProblem: String?

    private(set) var profiles: [NamespacedName: ProfileObject] = [:] {
        didSet { generation &+= 1 }
    }
    private(set) var sources: [ObjectKey: ListedSource] = [:] {
        didSet { generation &+= 1 }
    }
    /// Per profile and target cluster, what the profile's last reconcile there found (for the
    /// profile's status, written by the watched cluster's reconcile).
    private var clusterReports: [NamespacedName: [String: ProfileClusterReport]] = [:] {
        didSet { generation &+= 1 }
    }
    /// Changes whenever anything a profile's plan reads here changes.
    private(set) var generation = 0
    /// Which answers to writes of a profile are still newer than the profile watch's word
    /// (``AnswerTickets``).
    var tickets = AnswerTickets<NamespacedName>()

    /// Source key → the profiles listing it.
    private var listedBy = MultiIndex<ObjectKey, NamespacedName>()
    /// Kind and name → the profiles listing a source of that name (they compete for its slots).
    private var listedNames = MultiIndex<NameKey, NamespacedName>()
    private var profilesListed: Set<NamespacedName>?
    private var candidatesListed: [Kind: Set<ObjectKey>] = [:]

    // MARK: - Profiles

    func applyProfile(_ event: InformerEvent) -> Triggers {
        switch event {
        case .replaceBegin:
            profilesListed = []
            return .none
        case .replaceEnd:
            synced = true
            guard let listed = profilesListed else { return .none }
            profilesListed = nil
            var triggers = Triggers.none
            for key in profiles.keys where !listed.contains(key) {
                tickets.news(of: key)
                triggers.formUnion(remove(key))
            }
            return triggers
        case .listed(let object):
            if let key = Self.key(object.metadata) {
                profilesListed?.insert(key)
                tickets.news(of: key)
            }
            return upsert(object)
        case .added(let object), .modified(let object):
            if let key = Self.key(object.metadata) { tickets.news(of: key) }
            return upsert(object)
        case .deleted(let object):
            guard let key = Self.key(object.metadata) else { return .none }
            tickets.news(of: key)
            return remove(key)
        }
    }

    /// A profile as a write answered it: cached at once, so its watch echo changes nothing.
    func record(_ json: JSONValue) {
        guard let object = ProfileObject(json: json), profiles[object.key] != nil else { return }
        set(object)
    }

    /// Profiles are no longer served (the CRD went, or stopped serving our versions): forgets
    /// them until a watch lists them again. Their replicas are left as they are.
    func stopServing() {
        resource = nil
        synced = false
        profilesListed = nil
        for key in Array(profiles.keys) { _ = remove(key) }
    }

    /// The profile is gone (a write answered 404).
    func forget(_ key: NamespacedName) {
        _ = remove(key)
    }

    private static func key(_ meta: ObjectMeta) -> NamespacedName? {
        meta.namespace.map { NamespacedName(namespace: $0, name: meta.name) }
    }

    private func upsert(_ object: KubeObject) -> Triggers {
        guard let json = object.object, let profile = ProfileObject(json: json) else { return .none }
        if profiles[profile.key]?.resourceVersion == profile.resourceVersion { return .none }
        set(profile)
        var triggers = Triggers.none
        triggers.insert(.profile(profile.key))
        return triggers
    }

    private func set(_ profile: ProfileObject) {
        let old = profiles.updateValue(profile, forKey: profile.key)
        let before = Set(old?.sourceKeys ?? [])
        let after = Set(profile.sourceKeys)
        for key in after.subtracting(before) { list(key, by: profile.key) }
        for key in before.subtracting(after) { unlist(key, by: profile.key) }
    }

    private func remove(_ key: NamespacedName) -> Triggers {
        guard let old = profiles.removeValue(forKey: key) else { return .none }
        for source in old.sourceKeys { unlist(source, by: key) }
        var triggers = Triggers.none
        triggers.insert(.profile(key))
        return triggers
    }

    private func list(_ source: ObjectKey, by profile: NamespacedName) {
        if listedBy[source].isEmpty && sources[source] == nil { sources[source] = .unknown }
        listedBy.insert(profile, at: source)
        listedNames.insert(profile, at: NameKey(source))
    }

    private func unlist(_ source: ObjectKey, by profile: NamespacedName) {
        listedBy.remove(profile, at: source)
        if !lists(profile, NameKey(source)) { listedNames.remove(profile, at: NameKey(source)) }
        // Listed by no one: not held any more.
        if listedBy[source].isEmpty { sources[source] = nil }
    }

    /// Whether the profile still lists a source of this kind and name (in its own namespace,
    /// so at most one).
    private func lists(_ profile: NamespacedName, _ name: NameKey) -> Bool {
        profiles[profile]?.spec.sources.contains { $0.kind == name.kind && $0.name == name.name } ?? false
    }

    /// Records (nil: forgets) what the profile's reconcile in `cluster` found; whether that
    /// changed anything.
    func setClusterReport(_ report: ProfileClusterReport?, of key: NamespacedName, cluster: String) -> Bool {
        guard clusterReports[key]?[cluster] != report else { return false }
        clusterReports[key, default: [:]][cluster] = report
        if clusterReports[key]?.isEmpty == true { clusterReports[key] = nil }
        return true
    }

    func clusterReport(of key: NamespacedName, cluster: String) -> ProfileClusterReport? {
        clusterReports[key]?[cluster]
    }

    /// Every profile's work key.
    var workKeys: [WorkKey] { profiles.keys.map(WorkKey.profile) }

    /// The profiles listing a source of this kind and name, in whatever namespace: a change to
    /// an object of that name in a target namespace may concern them.
    func profiles(naming name: NameKey) -> Set<NamespacedName> { listedNames[name] }

    /// The profiles listing `source`.
    func profiles(listing source: ObjectKey) -> Set<NamespacedName> { listedBy[source] }

    // MARK: - Listed sources (the metadata watch of Secrets and ConfigMaps)

    func applyCandidate(_ kind: Kind, _ event: InformerEvent) -> Triggers {
        switch event {
        case .replaceBegin:
            candidatesListed[kind] = []
            return .none
        case .replaceEnd:
            guard let listed = candidatesListed.removeValue(forKey: kind) else { return .none }
            var triggers = Triggers.none
            // Whatever a complete list did not show does not exist.
            for (key, state) in sources where key.kind == kind && !listed.contains(key) {
                if case .absent = state { continue }
                triggers.formUnion(setSource(key, .absent))
            }
            return triggers
        case .listed(let object):
            let key = ObjectCoding.key(kind: kind, object.metadata)
            if sources[key] != nil { candidatesListed[kind]?.insert(key) }
            return observed(key, object.metadata)
        case .added(let object), .modified(let object):
            return observed(ObjectCoding.key(kind: kind, object.metadata), object.metadata)
        case .deleted(let object):
            let key = ObjectCoding.key(kind: kind, object.metadata)
            guard sources[key] != nil else { return .none }
            return setSource(key, .absent)
        }
    }

    private func observed(_ key: ObjectKey, _ meta: ObjectMeta) -> Triggers {
        guard let current = sources[key] else { return .none }
        switch current {
        case .present(let old, let payload, let version):
            if old.resourceVersion == meta.resourceVersion { return .none }
            return setSource(key, .present(meta: meta, payload: payload, payloadVersion: version))
        case .unknown, .absent:
            return setSource(key, .present(meta: meta, payload: nil, payloadVersion: nil))
        }
    }

    private func setSource(_ key: ObjectKey, _ state: ListedSource) -> Triggers {
        sources[key] = state
        var triggers = Triggers.none
        for profile in listedBy[key] { triggers.insert(.profile(profile)) }
        return triggers
    }

    /// A listed source as a GET answered it: its metadata and content. A managed replica is
    /// never a source: it counts as absent here (the replica cache holds it).
    func recordSource(_ key: ObjectKey, _ object: JSONValue) {
        guard sources[key] != nil, let meta = ObjectMeta(object: object) else { return }
        if Vocabulary.isManaged(labels: meta.labels) {
            sources[key] = .absent
            return
        }
        sources[key] = .present(meta: meta, payload: ObjectCoding.payload(kind: key.kind, object: object),
                                payloadVersion: meta.resourceVersion)
    }

    /// The listed source does not exist (a GET answered 404).
    func forgetSource(_ key: ObjectKey) {
        guard sources[key] != nil else { return }
        sources[key] = .absent
    }

    /// The listed source, as the planner takes it; nil when it is absent or not read yet.
    func source(_ key: ObjectKey) -> SourceObject? {
        guard case .present(let meta, let payload?, _)? = sources[key] else { return nil }
        return ObjectCoding.source(key, meta, payload: payload)
    }

    /// Listed sources other than `key` of its kind and name, by namespace, as objects in the
    /// way (a profile never overwrites another profile's source).
    func otherSources(named key: ObjectKey) -> [String: ObservedObject] {
        var byNamespace: [String: ObservedObject] = [:]
        for profile in listedNames[NameKey(key)] {
            guard let namespace = profile.namespace, namespace != key.namespace,
                  case .present(let meta, let payload, _)? = sources[NameKey(key).key(in: namespace)]
            else { continue }
            byNamespace[namespace] = ObjectCoding.observed(meta, content: payload?.digest)
        }
        return byNamespace
    }

    /// Listed sources held, and those whose content is held.
    var sourceCount: Int { sources.count }
    var payloadCount: Int {
        sources.values.reduce(0) { count, state in
            if case .present(_, _?, _) = state { return count + 1 }
            return count
        }
    }
}
