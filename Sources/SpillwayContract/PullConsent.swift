/// Whether a source lets a namespace pull it.
///
/// The source decides: it must carry `allow-pull-from`, a target list in the grammar of
/// `replicate-to` (names, globs, `all`/`*`; its own namespace never). `exclude-namespaces` on
/// the source always wins, and a protected namespace (`--protected-namespaces`) may pull only
/// when `allow-pull-from` names it. The namespace that asks is not consulted further: it asked
/// itself (its `accept-from` and `--require-namespace-consent` concern pushes only).
public enum PullConsent: Sendable, Equatable {
    /// The namespace may pull; why, for people (`named in allow-pull-from`, ...).
    case admitted(String)
    /// The source is gone, being deleted, or not one a pull may copy (no `allow-pull-from`, a
    /// managed object, or one that pulls itself).
    case unavailable(String)
    /// The source allows pulls, but not into this namespace; why, for people.
    case refused(String)
    /// The source's `allow-pull-from` or `exclude-namespaces` does not parse.
    case malformed([AnnotationError])

    public var isAdmitted: Bool {
        if case .admitted = self { true } else { false }
    }

    /// The consent `source` (nil when gone) gives `namespace`.
    public static func evaluate(_ source: SourceObject?, into namespace: String, options: Options) -> PullConsent {
        guard let source else { return .unavailable("it is gone") }
        if source.isTerminating { return .unavailable("it is being deleted") }
        guard Vocabulary.allowsPulls(labels: source.labels, annotations: source.annotations) else {
            return .unavailable("it does not carry \(Vocabulary.allowPullFrom)")
        }
        if namespace == source.key.namespace {
            return .refused("a pull copies from another namespace, never from its own")
        }
        var errors: [AnnotationError] = []
        func list(_ name: String) -> [TargetPattern] {
            do {
                return try parseAnnotation(name, in: source.annotations, TargetPattern.parseList) ?? []
            } catch {
                errors.append(error)
                return []
            }
        }
        let allowed = list(Vocabulary.allowPullFrom)
        let excludes = list(Vocabulary.excludeNamespaces)
        guard errors.isEmpty else { return .malformed(errors) }
        let named = allowed.contains(.name(namespace))
        guard let pattern = allowed.first(where: { $0.matches(namespace) }) else {
            return .refused("not matched by \(Vocabulary.allowPullFrom) \"\(source.annotations[Vocabulary.allowPullFrom] ?? "")\"")
        }
        if let exclude = excludes.first(where: { $0.matches(namespace) }) {
            return .refused("excluded by \(Vocabulary.excludeNamespaces) \(exclude)")
        }
        if options.protectedNamespaces.contains(namespace) && !named {
            return .refused("protected namespace; only naming it in \(Vocabulary.allowPullFrom) allows pulls there")
        }
        if named { return .admitted("named in \(Vocabulary.allowPullFrom)") }
        return .admitted(pattern == .all ? "matched \(Vocabulary.allowPullFrom) all" : "matched \(Vocabulary.allowPullFrom) pattern \(pattern)")
    }

    /// The problems of a pull source's own annotations that a pull reads: `allow-pull-from`,
    /// `exclude-namespaces` and the key lists (`include-keys`, `exclude-keys`).
    public static func problems(of annotations: [String: String]) -> [AnnotationError] {
        var errors: [AnnotationError] = []
        for name in [Vocabulary.allowPullFrom, Vocabulary.excludeNamespaces] {
            do { _ = try parseAnnotation(name, in: annotations, TargetPattern.parseList) } catch { errors.append(error) }
        }
        for name in [Vocabulary.includeKeys, Vocabulary.excludeKeys] {
            do { _ = try parseAnnotation(name, in: annotations, ReplicationSpec.parseKeyList) } catch { errors.append(error) }
        }
        return errors
    }
}
