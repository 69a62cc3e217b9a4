import FoundationEssentials
import KubeWire

/// A plan as `spillwayd plan` shows it: text lines, or JSON through `Codable`. It names
/// objects, actions and reasons, never data: replica contents appear only as fingerprints.
public struct PlanReport: Sendable, Equatable, Codable {
    public struct Entry: Sendable, Equatable, Codable {
        public var namespace: String
        /// create, update, recreate, delete, release, unchanged or skip.
        public var action: String
        public var cause: Cause
        public var reason: String
        /// The fingerprint of the content written, for create / update / recreate.
        public var fingerprint: String?
        /// The uid / resourceVersion the write is conditioned on.
        public var precondition: Precondition?
    }

    public struct SourceActionEntry: Sendable, Equatable, Codable {
        /// add-finalizer, replace-legacy-finalizer, remove-finalizer or set-expired-namespaces.
        public var action: String
        /// For set-expired-namespaces: the new list (empty: the annotation is removed).
        public var namespaces: [String]?

        var text: String {
            switch action {
            case "add-finalizer": "add finalizer \(Vocabulary.finalizer)"
            case "replace-legacy-finalizer":
                "replace finalizer \(Vocabulary.legacyFinalizer) (the original spillway's) with \(Vocabulary.finalizer)"
            case "remove-finalizer": "remove finalizer \(Vocabulary.finalizer) (and \(Vocabulary.legacyFinalizer) where held)"
            default:
                namespaces?.isEmpty ?? true
                    ? "remove \(Vocabulary.expiredNamespaces)"
                    : "set \(Vocabulary.expiredNamespaces)=\(namespaces!.joined(separator: ","))"
            }
        }
    }

    /// The object planned: a source, or (with ``pullFrom``) an object that pulls.
    public var source: ObjectKey
    /// The target cluster (kubeconfig context) the decisions are in; nil for the watched cluster.
    public var cluster: String?
    /// For the plan of an object that pulls: the source its `replicate-from` names.
    public var pullFrom: ObjectKey?
    /// `namespace/name` of the SpillwayProfile this plan is for; nil for an annotation source.
    public var profile: String?
    /// Writes to that profile itself (on the first report of the profile): add-finalizer,
    /// replace-legacy-finalizer or remove-finalizer.
    public var profileActions: [SourceActionEntry]?
    public var decisions: [Entry]
    public var sourceActions: [SourceActionEntry]
    public var events: [EventIntent]
    /// RFC 3339.
    public var requeueAt: String?

    public init(_ plan: Plan, pullFrom: ObjectKey? = nil) {
        source = plan.source
        self.pullFrom = pullFrom
        decisions = plan.decisions.map { decision in
            let (replica, precondition): (Replica?, Precondition?) = switch decision.action {
            case .create(let replica): (replica, nil)
            case .update(let replica, let precondition), .recreate(let replica, let precondition): (replica, precondition)
            case .delete(let precondition), .release(_, _, let precondition): (nil, precondition)
            case .unchanged, .skip: (nil, nil)
            }
            return Entry(namespace: decision.namespace, action: decision.action.verb, cause: decision.cause,
                         reason: decision.reason, fingerprint: replica.map { Fingerprint.of($0.payload) },
                         precondition: precondition)
        }
        sourceActions = plan.sourceActions.map {
            switch $0 {
            case .addFinalizer: SourceActionEntry(action: "add-finalizer")
            case .replaceLegacyFinalizer: SourceActionEntry(action: "replace-legacy-finalizer")
            case .removeFinalizer: SourceActionEntry(action: "remove-finalizer")
            case .setExpiredNamespaces(let names): SourceActionEntry(action: "set-expired-namespaces", namespaces: names)
            }
        }
        events = plan.events
        requeueAt = plan.requeueAt.map(Timestamp.format)
    }

    /// A profile's plan: one report per source it plans, the profile's own actions and events
    /// on the first. A profile that plans no source is reported on its first listed source.
    public static func reports(_ plan: ProfilePlan, listed: [ObjectKey]) -> [PlanReport] {
        var reports = plan.plans.map { source in
            var report = PlanReport(source)
            report.profile = plan.profile.description
            return report
        }
        guard !plan.actions.isEmpty || !plan.events.isEmpty else { return reports }
        if reports.isEmpty {
            guard let first = listed.min() else { return [] }
            var report = PlanReport(Plan(source: first))
            report.profile = plan.profile.description
            reports = [report]
        }
        reports[0].profileActions = plan.actions.map {
            switch $0 {
            case .addFinalizer: SourceActionEntry(action: "add-finalizer")
            case .replaceLegacyFinalizer: SourceActionEntry(action: "replace-legacy-finalizer")
            case .removeFinalizer: SourceActionEntry(action: "remove-finalizer")
            }
        }
        reports[0].events = plan.events + reports[0].events
        return reports
    }

    /// One line per decision, source action and event, e.g.
    ///
    ///     create    Secret team-a/db-pass (matched replicate-to pattern team-*)
    ///     skip      Secret team-b/db-pass: unmanaged object exists; add force-adopt ...
    ///     source    Secret default/db-pass: add finalizer spillway.kroy.io/replicas
    ///     event     Warning ReplicationSkipped: ...
    ///     requeue   Secret default/db-pass at 2026-01-02T15:04:05Z
    ///
    /// A profile's decisions end with `[SpillwayProfile namespace/name]`, and its own actions
    /// are `profile` lines. A target cluster's decisions name it: `Secret team-a/db-pass in
    /// cluster prod-eu`.
    public var lines: [String] {
        func column(_ verb: String) -> String { String((verb + String(repeating: " ", count: 10)).prefix(10)) }
        let kind = source.kind.rawValue
        let via = profile.map { " [\(Vocabulary.profileKind) \($0)]" } ?? ""
        let place = cluster.map { " in cluster \($0)" } ?? ""
        var lines = decisions.map { entry in
            let object = "\(kind) \(entry.namespace)/\(source.name)\(place)"
            return entry.action == "skip"
                ? "\(column(entry.action))\(object): \(entry.reason)\(via)"
                : "\(column(entry.action))\(object) (\(entry.reason))\(via)"
        }
        let sourceObject = "\(kind) \(source.namespace)/\(source.name)"
        if let profile {
            lines += (profileActions ?? []).map { "\(column("profile"))\(Vocabulary.profileKind) \(profile): \($0.text)" }
        }
        lines += sourceActions.map { "\(column("source"))\(sourceObject): \($0.text)" }
        lines += events.map { "\(column("event"))\($0.type.rawValue) \($0.reason): \($0.message)" }
        if let requeueAt {
            lines.append("\(column("requeue"))\(sourceObject) at \(requeueAt)")
        }
        return lines
    }
}
