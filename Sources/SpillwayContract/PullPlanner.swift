import FoundationEssentials

/// Why a pull got nothing (the `reason` label of `spillway_pull_refusals_total`).
public enum PullRefusal: String, Sendable, Equatable, Hashable, CaseIterable {
    /// The source is gone or does not allow pulls into the namespace.
    case notAllowed = "not-allowed"
    /// The object that asks holds data of its own.
    case targetHasData = "target-has-data"
    /// The object is someone else's replica (a source's push, a SpillwayProfile's).
    case owned = "owned-elsewhere"
    /// The source's Secret type is never replicated (`--deny-secret-types`).
    case typeDenied = "type-denied"
    /// `replicate-from`, or an annotation of the source a pull reads, does not parse.
    case malformed
}

/// The plan for one object that pulls.
public struct PullPlan: Sendable, Equatable {
    /// Keyed by the pulling object itself (`plan.source` is its own `Kind/namespace/name`): at
    /// most one decision, in its namespace, and events that regard it.
    public var plan: Plan
    /// The source `replicate-from` names, when it parses.
    public var source: ObjectKey?
    /// The copy would be filled now, but the source does not hold spillway's finalizer yet: it
    /// is filled once the source's own reconcile has added it.
    public var awaitsSourceFinalizer = false
    /// Why the pull got nothing, when it did not.
    public var refusal: PullRefusal?

    public init(plan: Plan, source: ObjectKey? = nil) {
        self.plan = plan
        self.source = source
    }
}

extension Planner {
    /// Plans one object that pulls (`replicate-from`), or a pulled copy whose request was
    /// removed. A pure function, like ``plan(key:source:namespaces:observed:now:pulls:)``.
    ///
    /// - The source decides (``PullConsent``). Refused, an object that asks gets nothing and a
    ///   Warning, its data untouched; a pulled copy is emptied and let go (it asks again, as
    ///   before it was first filled).
    /// - Admitted, the copy gets the source's content (its key projection and the typed-Secret
    ///   rule, as a replica) and keeps its own name, labels and annotations, plus the
    ///   `managed-by` and `pulled` labels and `source-from`. An object that holds data of its
    ///   own (not empty, not already the source's data) is not overwritten, unless it says
    ///   `force-adopt: "true"` and the daemon runs with `--allow-force-adopt`.
    /// - `replicate-from` removed from a pulled copy: it is let go (markers removed), its data
    ///   stays.
    /// - A replica of a source's push or of a SpillwayProfile is never touched: the existing
    ///   owner wins.
    ///
    /// - Parameters:
    ///   - target: the object, as observed.
    ///   - source: the object `replicate-from` names, when the engine keeps it (nil: gone, or
    ///     not one that allows pulls).
    ///   - otherKind: the object of the other kind with the source's namespace and name, when
    ///     kept: named in the refusal when it would allow the pull (the source was retyped).
    ///   - namespace: the target's namespace.
    public func planPull(_ target: PullTarget, source: SourceObject?, otherKind: SourceObject? = nil,
                         namespace: NamespaceInfo?) -> PullPlan {
        let key = target.key
        let object = target.object
        var result = PullPlan(plan: Plan(source: key))
        let label = "\(key.kind) \(key.namespace)/\(key.name)"
        func decide(_ action: ReplicaAction, _ cause: Cause, _ reason: String) {
            result.plan.decisions = [Decision(namespace: key.namespace, action: action, cause: cause, reason: reason)]
        }
        func tell(_ type: EventIntent.EventType, _ reason: String, _ message: String) {
            result.plan.events.append(EventIntent(type: type, reason: reason, message: message))
        }

        if object.isManaged && !target.isPulledCopy {
            guard let request = object.annotations[Vocabulary.replicateFrom] else { return result }
            let owner = object.annotations[Vocabulary.profileRef].map { "SpillwayProfile \($0)" }
                ?? object.annotations[Vocabulary.sourceFrom] ?? "another source"
            decide(.skip, .ownedByAnotherSource, "a replica of \(owner); the existing owner wins")
            tell(.warning, Vocabulary.reasonSkipped,
                 "\(Vocabulary.replicateFrom) \(request) is ignored: \(label) is a replica of \(owner); the existing owner wins")
            result.refusal = .owned
            return result
        }
        let released = Self.released(object)
        guard let request = object.annotations[Vocabulary.replicateFrom] else {
            // A pulled copy whose request was removed: let go, its data kept.
            guard target.isPulledCopy, object.deletionTimestamp == nil else { return result }
            decide(.release(labels: released.labels, annotations: released.annotations, object.precondition), .replicationStopped,
                   "\(Vocabulary.replicateFrom) was removed: let go, its data stays and is no longer kept in sync")
            return result
        }
        if object.deletionTimestamp != nil {
            decide(.skip, .objectTerminating, "object is being deleted")
            return result
        }
        guard let namespace else {
            decide(.skip, .namespaceUnknown, "namespace not observed")
            return result
        }
        if namespace.isTerminating {
            decide(.skip, .namespaceTerminating, "namespace is terminating")
            return result
        }
        let sourceKey: ObjectKey
        do {
            sourceKey = try PullRequest.parse(request, kind: key.kind)
        } catch {
            let problem = AnnotationError(annotation: Vocabulary.replicateFrom, value: request, problem: error.message)
            tell(.warning, Vocabulary.reasonFailed, "\(problem); nothing was changed")
            result.refusal = .malformed
            return result
        }
        result.source = sourceKey
        let source = source?.key == sourceKey ? source : nil
        let filledFromIt = target.isPulledCopy && object.sourceFrom == sourceKey

        func empty(_ cause: Cause, _ why: String) {
            result.plan.decisions = [emptied(target, cause: cause, reason: "\(why): emptied and let go; it is filled again once the source allows it")]
            tell(.warning, Vocabulary.reasonSkipped, "\(label) is emptied and let go: \(why); it is filled again once the source allows it")
        }

        let consent = PullConsent.evaluate(source, into: key.namespace, options: options)
        guard case .admitted(let why) = consent, let source else {
            result.refusal = .notAllowed
            if case .malformed(let errors) = consent, filledFromIt {
                // The copy was filled with the source's consent: it stays as it is until the
                // source's annotations parse again (a mistake never empties anything).
                let problems = errors.map(\.description).joined(separator: "; ")
                decide(.skip, .pullNotAllowed, "\(sourceKey) has a malformed annotation; the copy is left as it is")
                tell(.warning, Vocabulary.reasonSkipped, "\(sourceKey): \(problems); \(label) is left as it is")
                result.refusal = .malformed
                return result
            }
            // To an object never filled from it, the answer does not tell whether the source
            // exists: a namespace learns nothing about another one's Secrets by asking.
            var refusal = "\(sourceKey) does not exist or does not allow pulls into \(key.namespace) (\(Vocabulary.allowPullFrom))"
            if filledFromIt {
                switch consent {
                case .unavailable(let reason): refusal = "\(sourceKey) is no longer available to pulls: \(reason)"
                case .refused(let reason): refusal = "\(sourceKey) no longer allows pulls into \(key.namespace): \(reason)"
                case .admitted, .malformed: break
                }
            }
            if let otherKind, otherKind.key.namespace == sourceKey.namespace, otherKind.key.name == sourceKey.name,
               PullConsent.evaluate(otherKind, into: key.namespace, options: options).isAdmitted {
                refusal += "; \(otherKind.key) does, but a \(key.kind) pulls only a \(key.kind): was the source retyped?"
            } else if filledFromIt, case .unavailable = consent, source == nil {
                refusal += " (if it was renamed, point \(Vocabulary.replicateFrom) at its new name)"
            }
            if target.isPulledCopy {
                let sourceGone = source == nil || source?.isTerminating == true
                empty(sourceGone ? .sourceDeleted : .pullNotAllowed, refusal)
            } else {
                decide(.skip, .pullNotAllowed, refusal)
                tell(.warning, Vocabulary.reasonSkipped, "pull refused: \(refusal); nothing was written")
            }
            return result
        }

        if let type = source.payload.secretType, options.deniedSecretTypes.contains(type) {
            let message = "Secret type \(type) is never replicated (--deny-secret-types); nothing was written"
            decide(.skip, .pullNotAllowed, message)
            tell(.warning, Vocabulary.reasonSkipped, "pull refused: \(sourceKey): \(message)")
            result.refusal = .typeDenied
            return result
        }
        let keyProblems = PullConsent.problems(of: source.annotations).filter {
            $0.annotation == Vocabulary.includeKeys || $0.annotation == Vocabulary.excludeKeys
        }
        guard keyProblems.isEmpty else {
            decide(.skip, .pullNotAllowed, "\(sourceKey) has a malformed key list; nothing was changed")
            tell(.warning, Vocabulary.reasonSkipped,
                 "\(sourceKey): \(keyProblems.map(\.description).joined(separator: "; ")); nothing was changed")
            result.refusal = .malformed
            return result
        }
        let include = (try? parseAnnotation(Vocabulary.includeKeys, in: source.annotations, ReplicationSpec.parseKeyList)) ?? nil
        let exclude = ((try? parseAnnotation(Vocabulary.excludeKeys, in: source.annotations, ReplicationSpec.parseKeyList)) ?? nil) ?? []
        var payload = ReplicaTemplate.project(source.payload, includeKeys: include, excludeKeys: exclude)
        if let type = payload.secretType {
            payload.secretType = ReplicaTemplate.replicaType(type, keys: payload.keys)
        }
        var labels = object.labels
        labels[Vocabulary.managedByLabel] = Vocabulary.managedByValue
        labels[Vocabulary.pulledLabel] = Vocabulary.pulledValue
        var annotations = object.annotations
        annotations[Vocabulary.sourceFrom] = sourceKey.description
        let copy = Replica(key: key, labels: labels, annotations: annotations, payload: payload)
        let desired = payload.digest

        if target.isPulledCopy {
            let (action, cause, reason) = comparePull(object, copy, desired, source: sourceKey)
            decide(action, cause, reason)
        } else {
            guard let held = target.held else {
                decide(.skip, .unmanagedObject, "its content is not known yet")
                return result
            }
            let cause: Cause
            if !held.isEmpty && held.fingerprint != Fingerprint.ofData(payload) {
                let forceAdopt = object.annotations[Vocabulary.forceAdopt].flatMap { try? ReplicationSpec.parseBool($0) } ?? false
                guard forceAdopt && options.allowForceAdopt else {
                    let reason = forceAdopt
                        ? "it holds data of its own; force-adopt is set but spillwayd runs without --allow-force-adopt"
                        : "it holds data of its own; empty it, or add force-adopt: \"true\" and run spillwayd with --allow-force-adopt, to have it filled"
                    decide(.skip, .targetHasData, reason)
                    tell(.warning, Vocabulary.reasonSkipped, "pull from \(sourceKey) not done: \(label): \(reason)")
                    result.refusal = .targetHasData
                    return result
                }
                cause = .adopted
            } else {
                cause = .missing
            }
            let recreate = object.content.map { mustRecreate(observed: $0, desired: desired) } ?? false
            decide(recreate ? .recreate(copy, object.precondition) : .update(copy, object.precondition), cause,
                   cause == .adopted ? "force-adopt: filled from \(sourceKey) over its own data (\(why))" : "filled from \(sourceKey) (\(why))")
        }
        if result.plan.writes.isEmpty == false, !source.hasFinalizer {
            // Deleting the source must empty its copies first: no copy before the finalizer.
            decide(.skip, .awaitingSourceFinalizer, "waiting for \(sourceKey) to hold \(Vocabulary.finalizer)")
            result.awaitsSourceFinalizer = true
        }
        return result
    }

    /// Compares a pulled copy with the copy desired from `source`.
    private func comparePull(_ observed: ObservedObject, _ copy: Replica, _ desired: ContentDigest,
                             source: ObjectKey) -> (ReplicaAction, Cause, String) {
        guard let content = observed.content else {
            return (.update(copy, observed.precondition), .drifted, "its content is not known; rewriting it")
        }
        if content.secretType != desired.secretType {
            return (.recreate(copy, observed.precondition), .typeChanged,
                    "type changes from \(content.secretType ?? "none") to \(desired.secretType ?? "none")")
        }
        if mustRecreate(observed: content, desired: desired) {
            return (.recreate(copy, observed.precondition), .immutableChanged, "immutable copy differs from \(source)")
        }
        if content.fingerprint != desired.fingerprint {
            return (.update(copy, observed.precondition), .drifted, "content differs from \(source)")
        }
        if observed.labels != copy.labels || observed.annotations != copy.annotations {
            return (.update(copy, observed.precondition), .drifted, "spillway's labels or source-from differ")
        }
        return (.unchanged, .inPlace, "in place")
    }

    /// Empties a pulled copy and lets it go: no data, and its labels and annotations without
    /// spillway's markers (so it asks again, as before it was first filled). A Secret becomes
    /// `Opaque` (a typed Secret cannot be empty): a typed or immutable copy is recreated.
    public func emptied(_ target: PullTarget, cause: Cause, reason: String) -> Decision {
        let released = Self.released(target.object)
        let emptied = Replica(key: target.key, labels: released.labels, annotations: released.annotations, payload: Payload(kind: target.key.kind))
        let recreate = target.object.content.map { mustRecreate(observed: $0, desired: emptied.payload.digest) } ?? false
        let precondition = target.object.precondition
        return Decision(namespace: target.key.namespace, action: recreate ? .recreate(emptied, precondition) : .update(emptied, precondition),
                        cause: cause, reason: reason)
    }

    /// The object's labels and annotations without spillway's markers of a pulled copy.
    static func released(_ object: ObservedObject) -> (labels: [String: String], annotations: [String: String]) {
        var labels = object.labels
        labels[Vocabulary.managedByLabel] = nil
        labels[Vocabulary.pulledLabel] = nil
        var annotations = object.annotations
        annotations[Vocabulary.sourceFrom] = nil
        return (labels, annotations)
    }
}

/// What the pulls of one source mean for the source itself: whether spillway's finalizer must
/// hold it, so that deleting it always empties its pulled copies first.
public struct PullDemand: Sendable, Equatable {
    /// Pulled copies whose `source-from` names the source.
    public var copies: Int
    /// The namespaces of the objects that ask for it (`replicate-from`), admitted or not.
    public var askingNamespaces: [String]

    public static let none = PullDemand()

    public init(copies: Int = 0, askingNamespaces: [String] = []) {
        self.copies = copies
        self.askingNamespaces = askingNamespaces
    }

    /// Whether the finalizer must hold `source`: while a copy filled from it remains, and,
    /// while it is live and its type may be replicated, while a namespace it admits asks for it.
    public func holds(_ source: SourceObject, options: Options) -> Bool {
        if copies > 0 { return true }
        guard !source.isTerminating, !askingNamespaces.isEmpty else { return false }
        if let type = source.payload.secretType, options.deniedSecretTypes.contains(type) { return false }
        return askingNamespaces.contains { PullConsent.evaluate(source, into: $0, options: options).isAdmitted }
    }
}
