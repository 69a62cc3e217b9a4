/// Whether a namespace should hold a replica, and why (for `spillwayd plan` and audit logs).
public struct NamespaceVerdict: Sendable, Equatable {
    public enum Status: Sendable, Equatable {
        /// A replica belongs here.
        case target
        /// No replica belongs here: this source's replica, if any, is deleted.
        case notTarget
        /// spillway does not touch this namespace for now: nothing created, updated or deleted.
        case leaveAlone
    }

    public var namespace: String
    public var status: Status
    public var cause: Cause
    public var reason: String
    /// Whether `replicate-to` or `replicate-to-matching` matched it (before exclusions): such
    /// namespaces are listed in a plan even when skipped.
    public var matched: Bool
}

/// How the fields that select targets are named to a user: the annotations of a source, or the
/// spec fields of a SpillwayProfile. Plans, audit lines and events use these words.
public struct TargetTerms: Sendable, Equatable {
    public var targets: String
    public var selector: String
    public var excludes: String

    public static let annotations = TargetTerms(targets: "replicate-to", selector: "replicate-to-matching",
                                                excludes: "exclude-namespaces")
    public static let profile = TargetTerms(targets: "targetNamespaces", selector: "targetSelector",
                                            excludes: "excludeNamespaces")
}

/// Decides which namespaces receive a source's replicas.
public enum TargetSelection {
    /// The verdict for every namespace but the source's own (in the watched cluster; in a target
    /// cluster the namespace of that name is a namespace like any other), in the order given.
    ///
    /// Precedence, first match wins: a terminating namespace is left alone; a namespace not
    /// matched by `replicate-to` or `replicate-to-matching` is not a target; `exclude-namespaces`
    /// excludes; a protected namespace needs its name written in `replicate-to`; the namespace's
    /// `accept-from` must admit the source (malformed: left alone; absent: admitted unless
    /// consent is required).
    public static func evaluate(_ spec: ReplicationSpec, source: ObjectKey, namespaces: [NamespaceInfo],
                                options: Options, terms: TargetTerms = .annotations,
                                placement: Placement = .local) -> [NamespaceVerdict] {
        let reasons = Reasons(spec, terms: terms)
        return namespaces.compactMap { namespace in
            placement.isLocal && namespace.name == source.namespace ? nil
                : verdict(spec, source: source, namespace: namespace, options: options, placement: placement, reasons: reasons)
        }
    }

    /// The inclusion reasons of one spec, worded once rather than for every namespace.
    struct Reasons {
        /// Per entry of `spec.targets`.
        var patterns: [String]
        var selector: String?
        var terms: TargetTerms

        init(_ spec: ReplicationSpec, terms: TargetTerms = .annotations) {
            patterns = spec.targets.map { $0 == .all ? "matched \(terms.targets) all" : "matched \(terms.targets) pattern \($0)" }
            selector = spec.selector.map { "matched \(terms.selector) \($0)" }
            self.terms = terms
        }
    }

    static func verdict(_ spec: ReplicationSpec, source: ObjectKey, namespace ns: NamespaceInfo,
                        options: Options, placement: Placement = .local, reasons: Reasons) -> NamespaceVerdict {
        let name = ns.name
        let named = spec.targets.contains(.name(name))
        let include: (Cause, String)?
        if named {
            include = (.namedInReplicateTo, "named in \(reasons.terms.targets)")
        } else if let index = spec.targets.firstIndex(where: { $0.matches(name) }) {
            include = (.matchedPattern, reasons.patterns[index])
        } else if let selector = spec.selector, selector.matches(ns.labels) {
            include = (.matchedSelector, reasons.selector!)
        } else {
            include = nil
        }
        func result(_ status: NamespaceVerdict.Status, _ cause: Cause, _ reason: String) -> NamespaceVerdict {
            NamespaceVerdict(namespace: name, status: status, cause: cause, reason: reason, matched: include != nil)
        }
        if ns.isTerminating {
            return result(.leaveAlone, .namespaceTerminating, "namespace is terminating")
        }
        guard let (cause, reason) = include else {
            return result(.notTarget, .notSelected, "not matched by \(reasons.terms.targets) or \(reasons.terms.selector)")
        }
        if let exclude = spec.excludes.first(where: { $0.matches(name) }) {
            return result(.notTarget, .excluded, "excluded by \(reasons.terms.excludes) \(exclude)")
        }
        if options.protectedNamespaces.contains(name) && !named {
            return result(.notTarget, .protectedNamespace,
                          "protected namespace; only naming it in \(reasons.terms.targets) replicates there")
        }
        if let acceptFrom = ns.annotations[Vocabulary.acceptFrom] {
            do {
                let patterns = try AcceptPattern.parseList(acceptFrom)
                if !patterns.contains(where: { $0.matches(source, placement: placement) }) {
                    // Across clusters the likely mistake is a pattern without the cluster prefix.
                    let hint = placement.isLocal ? ""
                        : " (a source of cluster \(placement.sourceCluster ?? "?"), admitted only by a pattern naming its cluster, e.g. \(placement.sourceCluster ?? "*"):\(source))"
                    return result(.notTarget, .consentDenied, "namespace accept-from \"\(acceptFrom)\" does not admit \(source)\(hint)")
                }
            } catch {
                let problem = AnnotationError(annotation: Vocabulary.acceptFrom, value: acceptFrom, problem: error.message)
                return result(.leaveAlone, .consentMalformed, "namespace has an \(problem)")
            }
        } else if options.requireNamespaceConsent {
            return result(.notTarget, .consentDenied,
                          "namespace has no \(Vocabulary.acceptFrom) and consent is required")
        }
        return result(.target, cause, reason)
    }
}
