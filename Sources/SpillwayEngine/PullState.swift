import KubeWire
import SpillwayContract

/// A source's `namespace/name` as a `replicate-from` names it (the kind is the pulling
/// object's): pulls are found by it whatever the kind, so that a source retyped (a Secret
/// replaced by a ConfigMap of its name) still concerns the pulls that named it.
struct PullRef: Hashable, Sendable {
    var namespace: String
    var name: String

    init(_ key: ObjectKey) {
        namespace = key.namespace
        name = key.name
    }
}

/// Which sources and pulls a change of the pull state concerns.
struct PullChange {
    /// Sources whose pulls changed: their finalizer may have to be added or released, and
    /// their content may no longer be needed.
    var sources: Set<ObjectKey> = []
    /// Objects that pull, to plan again.
    var pulls: Set<ObjectKey> = []

    mutating func formUnion(_ other: PullChange) {
        sources.formUnion(other.sources)
        pulls.formUnion(other.pulls)
    }
}

/// What the engine holds for pull replication, beside the replica cache (where pulled copies
/// are, as every managed object, with the digest of their content) and the source cache (where
/// the objects that allow pulls are, as metadata; their content is read only while a pull it
/// admits asks for it):
///
/// - the objects that ask (`replicate-from`) and spillway has not filled: their metadata, and
///   what they hold once read (the candidates watch is metadata-only, so one GET per version of
///   each; other objects stay unread);
/// - per source, the pulls that name it and the copies it filled: a source change reaches its
///   pulls at once, and the source's own reconcile knows whether pulls hold its finalizer.
///
/// A value type inside ``ObservedState``, so that every change advances its generation.
struct PullState {
    /// Objects that ask and that spillway does not manage, by their own key.
    private(set) var asking: [ObjectKey: PullTarget] = [:]
    /// Pulled copies (managed), by their own key: the source their `replicate-from` names
    /// (nil when it was removed or does not parse) and the one their `source-from` names.
    private var copies: [ObjectKey: (request: PullRef?, filledFrom: ObjectKey?)] = [:]
    private var askingByRequest = MultiIndex<PullRef, ObjectKey>()
    private var copiesByRequest = MultiIndex<PullRef, ObjectKey>()
    private var copiesBySource = MultiIndex<ObjectKey, ObjectKey>()

    /// Every object the pull path serves: the asking ones and the pulled copies.
    var keys: Set<ObjectKey> { Set(asking.keys).union(copies.keys) }

    var count: Int { keys.count }

    /// The source `key`'s `replicate-from` names, when it parses.
    static func request(of key: ObjectKey, _ annotations: [String: String]) -> ObjectKey? {
        annotations[Vocabulary.replicateFrom].flatMap { try? PullRequest.parse($0, kind: key.kind) }
    }

    // MARK: - Changes

    /// An object of the candidates watch (not managed): kept while it asks. Its content is
    /// unknown (nil) until read, and again after each change, unless `read` brings it.
    mutating func observeCandidate(_ key: ObjectKey, _ meta: ObjectMeta,
                                   read: (content: ContentDigest, held: PullTarget.HeldData)? = nil) -> PullChange {
        guard Vocabulary.isPull(labels: meta.labels, annotations: meta.annotations) else { return candidateGone(key) }
        if let old = asking[key], old.object.resourceVersion == meta.resourceVersion, read == nil { return PullChange() }
        let previous = asking[key].flatMap { Self.request(of: key, $0.object.annotations) }
        let request = Self.request(of: key, meta.annotations)
        asking[key] = PullTarget(key: key, object: ObjectCoding.observed(meta, content: read?.content), held: read?.held)
        var change = PullChange(pulls: [key])
        if previous != request {
            if let previous {
                askingByRequest.remove(key, at: PullRef(previous))
                change.sources.insert(previous)
            }
            if let request {
                askingByRequest.insert(key, at: PullRef(request))
            }
        }
        if let request { change.sources.insert(request) }
        return change
    }

    /// The object is gone from the candidates watch (deleted, or now managed).
    mutating func candidateGone(_ key: ObjectKey) -> PullChange {
        guard let old = asking.removeValue(forKey: key) else { return PullChange() }
        var change = PullChange(pulls: [key])
        if let request = Self.request(of: key, old.object.annotations) {
            askingByRequest.remove(key, at: PullRef(request))
            change.sources.insert(request)
        }
        return change
    }

    /// A managed object at `key` changed in the replica cache (`new` nil: it is gone from it).
    mutating func observeReplica(_ key: ObjectKey, _ new: ObservedObject?) -> PullChange {
        var change = PullChange()
        if let old = copies.removeValue(forKey: key) {
            if let request = old.request { copiesByRequest.remove(key, at: request) }
            if let source = old.filledFrom {
                copiesBySource.remove(key, at: source)
                change.sources.insert(source)
            }
            change.pulls.insert(key)
        }
        guard let new, Vocabulary.isPulledCopy(labels: new.labels) else {
            // Someone else's replica that asks too: planned once, so that the pull is told the
            // existing owner wins (it is not kept as a pull).
            if let new, new.annotations[Vocabulary.replicateFrom] != nil { change.pulls.insert(key) }
            return change
        }
        // A copy now: it no longer asks as an unmanaged object.
        change.formUnion(candidateGone(key))
        let request = Self.request(of: key, new.annotations)
        let filledFrom = new.sourceFrom
        copies[key] = (request.map(PullRef.init), filledFrom)
        if let request {
            copiesByRequest.insert(key, at: PullRef(request))
            change.sources.insert(request)
        }
        if let filledFrom {
            copiesBySource.insert(key, at: filledFrom)
            change.sources.insert(filledFrom)
        }
        change.pulls.insert(key)
        return change
    }

    // MARK: - Queries

    /// The objects whose `replicate-from` names `key`'s namespace and name (either kind).
    func pulls(naming key: ObjectKey) -> Set<ObjectKey> {
        let ref = PullRef(key)
        return askingByRequest[ref].union(copiesByRequest[ref])
    }

    /// Whether a pull still names `source` (of its kind): its content is worth keeping.
    func isRequested(_ source: ObjectKey) -> Bool {
        pulls(naming: source).contains { $0.kind == source.kind }
    }

    /// What the pulls of `source` mean for its finalizer.
    func demand(for source: ObjectKey) -> PullDemand {
        let asking = pulls(naming: source).filter { $0.kind == source.kind }.map(\.namespace).sorted()
        return PullDemand(copies: copiesBySource[source].count, askingNamespaces: asking)
    }
}
