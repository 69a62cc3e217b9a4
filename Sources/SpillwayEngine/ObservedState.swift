import FoundationEssentials
import KubeClient
import KubeWire
import SpillwayContract

/// Which work a change asks the engine to reconcile.
struct Triggers: Equatable {
    var keys: Set<WorkKey> = []
    /// Keys of `keys` that the change concerns in these namespaces only (a replica, blocker
    /// or same-name source there changed); a key without an entry is concerned whole.
    var scopes: [WorkKey: Set<String>] = [:]
    /// All work (a namespace went away).
    var all = false
    /// All work, but only in these namespaces (they appeared or changed): nothing else about
    /// any source changed, so its decisions elsewhere stand.
    var namespaces: Set<String> = []

    static let none = Triggers()

    /// `key`, whole.
    mutating func insert(_ key: WorkKey) {
        keys.insert(key)
        scopes[key] = nil
    }

    /// `key`, in `namespace` (unless it is already concerned whole).
    mutating func insert(_ key: WorkKey, in namespace: String) {
        if keys.insert(key).inserted {
            scopes[key] = [namespace]
        } else {
            scopes[key]?.insert(namespace)
        }
    }

    mutating func remove(_ key: WorkKey) {
        keys.remove(key)
        scopes[key] = nil
    }

    mutating func formUnion(_ other: Triggers) {
        for key in other.keys {
            if let namespaces = other.scopes[key] {
                for namespace in namespaces { insert(key, in: namespace) }
            } else {
                insert(key)
            }
        }
        all = all || other.all
        namespaces.formUnion(other.namespaces)
    }
}

/// A kept source (or former source still holding the finalizer): its metadata, and its content
/// as last read by a GET.
struct SourceEntry {
    var meta: ObjectMeta
    var payload: Payload? {
        didSet { digest = payload?.digest }
    }
    /// The digest of `payload`, computed once per read of the content.
    private(set) var digest: ContentDigest?
    /// The resourceVersion `payload` was read at; the content is stale when it differs from
    /// `meta.resourceVersion`.
    var payloadVersion: String?

    init(meta: ObjectMeta, payload: Payload? = nil, payloadVersion: String? = nil) {
        self.meta = meta
        self.payload = payload
        self.digest = payload?.digest
        self.payloadVersion = payloadVersion
    }

    var isSource: Bool { Vocabulary.isSource(labels: meta.labels, annotations: meta.annotations) }
    /// Whether its content must be (re)read before it can be planned: only a live source
    /// renders replicas.
    var needsPayload: Bool { isSource && meta.deletionTimestamp == nil && payloadVersion != meta.resourceVersion }
}

/// The engine's observed state: everything the planner is given, kept small.
///
/// - Namespaces: name, labels, annotations, phase.
/// - Sources (per kind): objects that are sources by the contract or still carry the
///   finalizer, with their content once read. Every other object the metadata watch shows is
///   dropped at once — except the few "blockers" the engine ran into (an unmanaged object of
///   a source's name in a target namespace), kept as metadata plus digest.
/// - Replicas: metadata and the digest of their content, never the data.
///
/// Fed by the informers (which keep nothing themselves) and by the responses of the engine's
/// own writes. Each `apply…` returns the sources the change concerns. Confined to the
/// reactor thread.
final class ObservedState {
    private(set) var namespaces: [String: NamespaceInfo] = [:] {
        didSet {
            namespaceListCache = nil
            generation &+= 1
        }
    }
    private var namespaceListCache: [NamespaceInfo]?
    private(set) var sources: [ObjectKey: SourceEntry] = [:] {
        didSet { generation &+= 1 }
    }
    private(set) var replicas: [ObjectKey: ObservedObject] = [:] {
        didSet { generation &+= 1 }
    }
    private(set) var blockers: [ObjectKey: ObservedObject] = [:] {
        didSet { generation &+= 1 }
    }
    /// Changes whenever anything a plan reads changes (namespaces, sources, replicas,
    /// blockers): a plan of the same key at the same generation (and time) is the same plan.
    private(set) var generation = 0
    /// Unmanaged objects a create ran into: kept (as blockers) while they exist.
    private(set) var blockerInterest: Set<ObjectKey> = []
    /// Which answers to the engine's own requests are still newer than the watches' word.
    var tickets = AnswerTickets<ObjectKey>()
    /// Objects that pull, and which pulls each source has (``PullState``).
    private(set) var pulls = PullState() {
        didSet { generation &+= 1 }
    }

    /// Labels, annotations, namespaces and fingerprints replicas share (``SharedMetadata``).
    private var sharedMetadata = SharedMetadata()

    private var sourcesByName = MultiIndex<NameKey, String>()
    private var replicasByName = MultiIndex<NameKey, String>()
    private var replicasByOwner = MultiIndex<WorkKey, ObjectKey>()
    private var blockersByName = MultiIndex<NameKey, String>()

    /// Which work a managed object at a key belongs to: ``WorkKey/owner(of:at:)`` in the watched
    /// cluster; a target cluster's cache knows only the replicas written there for the watched
    /// cluster.
    private let ownerOf: (ObservedObject, ObjectKey) -> WorkKey?

    init(owner: @escaping (ObservedObject, ObjectKey) -> WorkKey? = WorkKey.owner(of:at:)) {
        ownerOf = owner
    }

    /// Keys kept and listed since a relist began, per informer; nil outside a relist.
    private var candidatesListed: [Kind: Set<ObjectKey>] = [:]
    private var replicasListed: [Kind: Set<ObjectKey>] = [:]
    private var namespacesListed: Set<String>?

    // MARK: - Namespaces

    func applyNamespace(_ event: InformerEvent) -> Triggers {
        switch event {
        case .replaceBegin:
            namespacesListed = []
            return .none
        case .replaceEnd:
            guard let listed = namespacesListed else { return .none }
            namespacesListed = nil
            let gone = namespaces.keys.filter { !listed.contains($0) }
            for name in gone { namespaces[name] = nil }
            return Triggers(all: !gone.isEmpty)
        case .listed(let object):
            namespacesListed?.insert(object.metadata.name)
            return upsertNamespace(object)
        case .added(let object), .modified(let object):
            return upsertNamespace(object)
        case .deleted(let object):
            return Triggers(all: namespaces.removeValue(forKey: object.metadata.name) != nil)
        }
    }

    private func upsertNamespace(_ object: KubeObject) -> Triggers {
        let info = ObjectCoding.namespace(object)
        let old = namespaces.updateValue(info, forKey: info.name)
        return old == info ? .none : Triggers(namespaces: [info.name])
    }

    // MARK: - Candidate sources (metadata-only, every object that is not a replica)

    func applyCandidate(_ kind: Kind, _ event: InformerEvent) -> Triggers {
        switch event {
        case .replaceBegin:
            candidatesListed[kind] = []
            return .none
        case .replaceEnd:
            guard let listed = candidatesListed.removeValue(forKey: kind) else { return .none }
            var triggers = Triggers.none
            for key in sources.keys where key.kind == kind && !listed.contains(key) {
                tickets.news(of: key)
                triggers.formUnion(removeCandidate(key))
            }
            for key in blockers.keys where key.kind == kind && !listed.contains(key) {
                tickets.news(of: key)
                triggers.formUnion(removeCandidate(key))
            }
            for key in pulls.asking.keys where key.kind == kind && !listed.contains(key) {
                tickets.news(of: key)
                triggers.formUnion(apply(pulls.candidateGone(key)))
            }
            return triggers
        case .listed(let object):
            tickets.news(of: ObjectCoding.key(kind: kind, object.metadata))
            let triggers = upsertCandidate(kind, object.metadata)
            let key = ObjectCoding.key(kind: kind, object.metadata)
            if sources[key] != nil || blockers[key] != nil || pulls.asking[key] != nil { candidatesListed[kind]?.insert(key) }
            return triggers
        case .added(let object), .modified(let object):
            tickets.news(of: ObjectCoding.key(kind: kind, object.metadata))
            return upsertCandidate(kind, object.metadata)
        case .deleted(let object):
            let key = ObjectCoding.key(kind: kind, object.metadata)
            tickets.news(of: key)
            var triggers = removeCandidate(key)
            triggers.formUnion(apply(pulls.candidateGone(key)))
            return triggers
        }
    }

    private func upsertCandidate(_ kind: Kind, _ meta: ObjectMeta) -> Triggers {
        let key = ObjectCoding.key(kind: kind, meta)
        var triggers = apply(pulls.observeCandidate(key, meta))
        triggers.formUnion(upsertUnmanaged(key, meta))
        return triggers
    }

    /// An object that is not a replica: kept as a source (push or pull), a former source, or a
    /// blocker; else dropped.
    private func upsertUnmanaged(_ key: ObjectKey, _ meta: ObjectMeta) -> Triggers {
        let isSource = Vocabulary.isSource(labels: meta.labels, annotations: meta.annotations)
        if isSource || Vocabulary.holdsFinalizer(meta.finalizers) || Vocabulary.allowsPulls(labels: meta.labels, annotations: meta.annotations) {
            return upsertSource(key, meta)
        }
        if blockerInterest.contains(key) {
            var triggers = removeSource(key)
            if let old = blockers[key], old.resourceVersion == meta.resourceVersion { return triggers }
            // The content changed (or was never read): nil makes the engine read it before planning.
            setBlocker(key, ObjectCoding.observed(meta, content: nil))
            triggers.formUnion(sameName(key))
            return triggers
        }
        // Unrelated: seen and dropped.
        return removeCandidate(key)
    }

    private func upsertSource(_ key: ObjectKey, _ meta: ObjectMeta) -> Triggers {
        var triggers = Triggers.none
        if blockers[key] != nil { removeBlocker(key) }
        if replicas[key] != nil { removeReplica(key) }
        if var entry = sources[key] {
            if entry.meta.resourceVersion == meta.resourceVersion { return .none }
            entry.meta = meta
            if !keepsPayload(key, meta) { entry.payload = nil }
            sources[key] = entry
            triggers.insert(.source(key))
        } else {
            sources[key] = SourceEntry(meta: meta)
            sourcesByName.insert(key.namespace, at: NameKey(key))
            // A new object of this name changes what the other sources of the name see.
            triggers.formUnion(sameName(key))
            triggers.insert(.source(key))
        }
        // The pulls that name it (of either kind: a source retyped concerns them too).
        triggers.formUnion(pullsNaming(key))
        return triggers
    }

    private func removeCandidate(_ key: ObjectKey) -> Triggers {
        var triggers = removeSource(key)
        if blockers[key] != nil {
            removeBlocker(key)
            triggers.formUnion(sameName(key))
        }
        return triggers
    }

    private func removeSource(_ key: ObjectKey) -> Triggers {
        guard sources.removeValue(forKey: key) != nil else { return .none }
        sourcesByName.remove(key.namespace, at: NameKey(key))
        // Its own key too: a former source cleans up whatever replicas it still owns.
        var triggers = sameName(key)
        triggers.insert(.source(key))
        triggers.formUnion(pullsNaming(key))
        return triggers
    }

    // MARK: - Replicas (full objects, managed-by=spillway)

    func applyReplica(_ kind: Kind, _ event: InformerEvent) -> Triggers {
        switch event {
        case .replaceBegin:
            replicasListed[kind] = []
            return .none
        case .replaceEnd:
            guard let listed = replicasListed.removeValue(forKey: kind) else { return .none }
            var triggers = Triggers.none
            for key in replicas.keys where key.kind == kind && !listed.contains(key) {
                tickets.news(of: key)
                triggers.formUnion(replicaGone(key))
            }
            return triggers
        case .listed(let object):
            let key = ObjectCoding.key(kind: kind, object.metadata)
            tickets.news(of: key)
            replicasListed[kind]?.insert(key)
            return upsertReplica(kind, object)
        case .added(let object), .modified(let object):
            tickets.news(of: ObjectCoding.key(kind: kind, object.metadata))
            return upsertReplica(kind, object)
        case .deleted(let object):
            let key = ObjectCoding.key(kind: kind, object.metadata)
            tickets.news(of: key)
            return replicaGone(key)
        }
    }

    /// Whether the replica cache holds this version of the object: its watch event then
    /// changes nothing, and its content need not be read.
    func holdsReplica(_ kind: Kind, _ meta: ObjectMeta) -> Bool {
        replicas[ObjectCoding.key(kind: kind, meta)]?.resourceVersion == meta.resourceVersion
    }

    /// Whether a watch event about a replica needs its body built: not for the echo of the
    /// engine's own write, cached already from its answer (``holdsReplica(_:_:)``) or, arriving
    /// before the answer, to be filled in by it (``isBeingWritten(_:_:)``). The replica
    /// informers of every cluster ask this of their cluster's state.
    func wantsReplicaBody(_ kind: Kind, _ meta: ObjectMeta) -> Bool {
        !holdsReplica(kind, meta) && !isBeingWritten(kind, meta)
    }

    /// Whether a create or update of the object is in flight (it holds a write ticket,
    /// ``AnswerTickets/isBeingWritten(_:)``). A watch event about it then is, as a rule, the echo
    /// of that write arriving before its answer; its content is not decoded, and the answer fills
    /// in the digest of what was written (``fillWrittenContent(_:resourceVersion:content:)``) if
    /// it is that very version.
    func isBeingWritten(_ kind: Kind, _ meta: ObjectMeta) -> Bool {
        tickets.isBeingWritten(ObjectCoding.key(kind: kind, meta))
    }

    /// The answer to a replica write the watch overtook: when the cache holds that very
    /// version without its content (its echo was not decoded), the content is what was
    /// written. Any other version stays as the watch said: without content, a plan writes it
    /// again; with it, it is newer than the answer.
    func fillWrittenContent(_ key: ObjectKey, resourceVersion: String, content: ContentDigest) {
        guard var observed = replicas[key], observed.content == nil, observed.resourceVersion == resourceVersion else { return }
        observed.content = content
        replicas[key] = observed
    }

    private func upsertReplica(_ kind: Kind, _ object: KubeObject) -> Triggers {
        let key = ObjectCoding.key(kind: kind, object.metadata)
        if let old = replicas[key], old.resourceVersion == object.metadata.resourceVersion { return .none }
        let previousOwner = replicas[key].flatMap { ownerOf($0, key) }
        var triggers = recordReplica(key, object)
        // Only the owners' decisions in this namespace can change.
        if let owner = replicas[key].flatMap({ ownerOf($0, key) }) { triggers.insert(owner, in: key.namespace) }
        if let previousOwner { triggers.insert(previousOwner, in: key.namespace) }
        return triggers
    }

    private func replicaGone(_ key: ObjectKey) -> Triggers {
        let owner = replicas[key].flatMap { ownerOf($0, key) }
        // The loser of a two-sources-one-name conflict takes over: every source of the name.
        var triggers = removeReplica(key)
        triggers.formUnion(sameName(key))
        if let owner { triggers.insert(owner, in: key.namespace) }
        return triggers
    }

    // MARK: - Results of the engine's own requests

    /// A replica as a write answered it (or a GET read it): cached at once, so a resync that
    /// runs before the watch event does not write again. A write that let a pulled copy go (or
    /// emptied it) answers with an object that is no longer managed: it leaves the cache, and
    /// asks again if it still asks. Returns the pulls and sources that concerns.
    @discardableResult
    func recordReplica(_ key: ObjectKey, _ object: KubeObject) -> Triggers {
        guard Vocabulary.isManaged(labels: object.metadata.labels) else {
            var triggers = removeReplica(key)
            let payload = object.object.map { ObjectCoding.payload(kind: key.kind, object: $0) }
            triggers.formUnion(apply(pulls.observeCandidate(key, object.metadata, read: payload.map { ($0.digest, PullTarget.HeldData($0)) })))
            return triggers
        }
        let digest = object.object.map { ObjectCoding.payload(kind: key.kind, object: $0).digest }
        return recordManagedReplica(key, object.metadata, content: digest)
    }

    /// A managed replica: its metadata, and the digest of its content when known. A create or
    /// update answer comes here with the digest of the content that was written (the engine
    /// declines to decode the watch's echo of that same version, so where an admission webhook
    /// changed the content, the cache keeps what was written, and a plan never fights the
    /// webhook; any later change brings a new version, read whole).
    @discardableResult
    func recordManagedReplica(_ key: ObjectKey, _ meta: ObjectMeta, content digest: ContentDigest?) -> Triggers {
        let observed = sharedMetadata.share(ObjectCoding.observed(meta, content: digest))
        if sources[key] != nil { _ = removeSource(key) }
        if blockers[key] != nil { removeBlocker(key) }
        let oldOwner = replicas[key].flatMap { ownerOf($0, key) }
        let owner = ownerOf(observed, key)
        let known = replicas.updateValue(observed, forKey: key) != nil
        if !known { replicasByName.insert(key.namespace, at: NameKey(key)) }
        if oldOwner != owner || !known {
            if let oldOwner { replicasByOwner.remove(key, at: oldOwner) }
            if let owner { replicasByOwner.insert(key, at: owner) }
        }
        return apply(pulls.observeReplica(key, observed))
    }

    /// A delete of `key` succeeded; returns the sources of the name (other than the owner)
    /// that may take the name over now.
    @discardableResult
    func removeReplica(_ key: ObjectKey) -> Triggers {
        guard let old = replicas.removeValue(forKey: key) else { return .none }
        replicasByName.remove(key.namespace, at: NameKey(key))
        let owner = ownerOf(old, key)
        if let owner { replicasByOwner.remove(key, at: owner) }
        var triggers = sameName(key)
        if let owner { triggers.remove(owner) }
        triggers.formUnion(apply(pulls.observeReplica(key, nil)))
        return triggers
    }

    /// A source as a GET or a patch answered it: metadata and content. An answer the watch
    /// has overtaken (`current` false, see AnswerTickets) only lends its content to the same
    /// version, if that is what the cache holds.
    func recordSource(_ key: ObjectKey, _ object: JSONValue, current: Bool = true) {
        guard let meta = ObjectMeta(object: object) else { return }
        guard current else {
            guard var entry = sources[key], entry.meta.resourceVersion == meta.resourceVersion else { return }
            entry.payload = ObjectCoding.payload(kind: key.kind, object: object)
            entry.payloadVersion = meta.resourceVersion
            sources[key] = entry
            return
        }
        guard sources[key] != nil || Vocabulary.isSource(labels: meta.labels, annotations: meta.annotations)
                || Vocabulary.holdsFinalizer(meta.finalizers) || Vocabulary.allowsPulls(labels: meta.labels, annotations: meta.annotations)
        else { return }
        if sources[key] == nil { sourcesByName.insert(key.namespace, at: NameKey(key)) }
        sources[key] = keepsPayload(key, meta)
            ? SourceEntry(meta: meta, payload: ObjectCoding.payload(kind: key.kind, object: object), payloadVersion: meta.resourceVersion)
            : SourceEntry(meta: meta)
    }

    /// Whether a kept object's content is held: a source's, and a pull source's while a pull
    /// names it (everything else kept is held as metadata only).
    private func keepsPayload(_ key: ObjectKey, _ meta: ObjectMeta) -> Bool {
        Vocabulary.isSource(labels: meta.labels, annotations: meta.annotations) || pulls.isRequested(key)
    }

    // MARK: - Pulls

    /// Applies a change of the pull state: the pulls it concerns are planned again, the kept
    /// sources it concerns too (their finalizer), and a pull source no pull names any more
    /// forgets its content.
    private func apply(_ change: PullChange) -> Triggers {
        var triggers = Triggers.none
        for pull in change.pulls { triggers.insert(.pull(pull)) }
        for source in change.sources {
            guard let entry = sources[source] else { continue }
            triggers.insert(.source(source))
            if entry.payload != nil && !keepsPayload(source, entry.meta) {
                sources[source]?.payload = nil
                sources[source]?.payloadVersion = nil
            }
        }
        return triggers
    }

    /// The pulls whose `replicate-from` names the key's namespace and name.
    func pullsNaming(_ key: ObjectKey) -> Triggers {
        var triggers = Triggers.none
        for pull in pulls.pulls(naming: key) { triggers.insert(.pull(pull)) }
        return triggers
    }

    /// What an object that asks holds, as a GET read it; a managed object goes to the replica
    /// cache instead.
    @discardableResult
    func recordPullTarget(_ key: ObjectKey, _ object: JSONValue) -> Triggers {
        guard let kubeObject = KubeObject(json: object, keepBody: true) else { return .none }
        if Vocabulary.isManaged(labels: kubeObject.metadata.labels) { return recordReplica(key, kubeObject) }
        let payload = ObjectCoding.payload(kind: key.kind, object: object)
        return apply(pulls.observeCandidate(key, kubeObject.metadata, read: (payload.digest, PullTarget.HeldData(payload))))
    }

    /// The object that asked is gone (a GET answered 404).
    func forgetPullTarget(_ key: ObjectKey) -> Triggers {
        apply(pulls.candidateGone(key))
    }

    /// The object `key` that pulls, as the planner takes it: the pulled copy when cached, else
    /// the asking object.
    func pullTarget(_ key: ObjectKey) -> PullTarget? {
        if let copy = replicas[key] { return PullTarget(key: key, object: copy) }
        return pulls.asking[key]
    }

    /// The source is gone (a GET answered 404).
    func forgetSource(_ key: ObjectKey) {
        _ = removeSource(key)
    }

    /// An unmanaged object a create ran into: remembered, and kept up to date by the watch.
    func recordBlocker(_ key: ObjectKey, _ object: JSONValue) {
        guard let meta = ObjectMeta(object: object) else { return }
        blockerInterest.insert(key)
        if Vocabulary.isSource(labels: meta.labels, annotations: meta.annotations) || Vocabulary.holdsFinalizer(meta.finalizers) {
            recordSource(key, object)
            return
        }
        let digest = ObjectCoding.payload(kind: key.kind, object: object).digest
        setBlocker(key, ObjectCoding.observed(meta, content: digest))
    }

    /// The blocker's content, read again after it changed.
    func refreshBlocker(_ key: ObjectKey, _ object: JSONValue?) {
        guard let object else {
            removeBlocker(key)
            blockerInterest.remove(key)
            return
        }
        recordBlocker(key, object)
    }

    /// Forgets the blockers of a name no source uses any more.
    func pruneBlockerInterest(for name: NameKey) {
        guard sourcesByName[name].isEmpty else { return }
        for namespace in blockersByName[name] { removeBlocker(name.key(in: namespace)) }
        blockerInterest = blockerInterest.filter { NameKey($0) != name }
    }

    private func setBlocker(_ key: ObjectKey, _ observed: ObservedObject) {
        blockers[key] = observed
        blockersByName.insert(key.namespace, at: NameKey(key))
    }

    private func removeBlocker(_ key: ObjectKey) {
        guard blockers.removeValue(forKey: key) != nil else { return }
        blockersByName.remove(key.namespace, at: NameKey(key))
    }

    // MARK: - Queries

    /// The other sources of the key's kind and name, concerned in the key's namespace (what
    /// they find there changed).
    private func sameName(_ key: ObjectKey) -> Triggers {
        let name = NameKey(key)
        var triggers = Triggers.none
        for namespace in sourcesByName[name] where namespace != key.namespace {
            triggers.insert(.source(name.key(in: namespace)), in: key.namespace)
        }
        return triggers
    }

    /// Every source key the engine should reconcile on a resync.
    var sourceKeys: [ObjectKey] { Array(sources.keys) }

    /// The sources (and former sources) of the key's kind and name, in any namespace.
    func sourceKeys(named key: ObjectKey) -> [ObjectKey] {
        let name = NameKey(key)
        return sourcesByName[name].map { name.key(in: $0) }
    }

    func source(_ key: ObjectKey) -> SourceObject? {
        sources[key].map { ObjectCoding.source(key, $0.meta, payload: $0.payload) }
    }

    /// Every namespace, as the planner takes them; kept between changes (every plan reads it).
    var namespaceList: [NamespaceInfo] {
        if let cached = namespaceListCache { return cached }
        let list = Array(namespaces.values)
        namespaceListCache = list
        return list
    }

    /// Every object of the key's kind and name outside its namespace (and, given `scope`, in
    /// one of those namespaces), by namespace, as the planner wants them: replicas (any
    /// owner), else other sources, else blockers (unmanaged). In a target cluster's cache
    /// (`includingOwnNamespace`) the namespace named like the source's is one like any other.
    func observedObjects(for key: ObjectKey, in scope: Set<String>? = nil, includingOwnNamespace: Bool = false) -> [String: ObservedObject] {
        let name = NameKey(key)
        let own = includingOwnNamespace ? nil : key.namespace
        if let scope {
            var byNamespace: [String: ObservedObject] = [:]
            for namespace in scope where namespace != own {
                let other = name.key(in: namespace)
                if let object = replicas[other] ?? sources[other].map({ ObjectCoding.observed($0.meta, content: $0.digest) })
                    ?? blockers[other] {
                    byNamespace[namespace] = object
                }
            }
            return byNamespace
        }
        let replicaNamespaces = replicasByName[name]
        var byNamespace = [String: ObservedObject](minimumCapacity: replicaNamespaces.count)
        for namespace in replicaNamespaces where namespace != own {
            byNamespace[namespace] = replicas[name.key(in: namespace)]
        }
        for namespace in sourcesByName[name] where namespace != own && byNamespace[namespace] == nil {
            guard let entry = sources[name.key(in: namespace)] else { continue }
            byNamespace[namespace] = ObjectCoding.observed(entry.meta, content: entry.digest)
        }
        for namespace in blockersByName[name] where namespace != own && byNamespace[namespace] == nil {
            byNamespace[namespace] = blockers[name.key(in: namespace)]
        }
        return byNamespace
    }

    /// Blockers of the key's name whose content is not known (changed since read).
    func staleBlockers(for key: ObjectKey) -> [ObjectKey] {
        let name = NameKey(key)
        return blockersByName[name].map { name.key(in: $0) }.filter { blockers[$0]?.content == nil }
    }

    /// Replicas that belong to `owner` (``WorkKey/owner(of:)``).
    func replicaKeys(ownedBy owner: WorkKey) -> Set<ObjectKey> { replicasByOwner[owner] }

    /// Sources by the contract (not counting former sources that still hold the finalizer).
    var sourceCount: Int { sources.values.reduce(0) { $0 + ($1.isSource ? 1 : 0) } }
    /// Sources whose content is held in memory.
    var payloadCount: Int { sources.values.reduce(0) { $0 + ($1.payload == nil ? 0 : 1) } }
}
