import FoundationEssentials
import KubeWire

/// What one target cluster sets apart from the daemon's own settings (`target-clusters`, a
/// mapping of context names, usually in the config file):
///
/// ```yaml
/// target-clusters:
///   prod-eu:
///     protected-namespaces: [kube-system, kube-public, monitoring]
///     require-namespace-consent: true
///     qps: 50
///     burst: 100
/// ```
///
/// Each key left out takes the daemon's value (`protected-namespaces`,
/// `require-namespace-consent`, `qps`, `burst`).
public struct TargetClusterSettings: Equatable, Sendable {
    public var protectedNamespaces: [String]?
    public var requireNamespaceConsent: Bool?
    public var qps: Double?
    public var burst: Int?

    public init(protectedNamespaces: [String]? = nil, requireNamespaceConsent: Bool? = nil, qps: Double? = nil, burst: Int? = nil) {
        self.protectedNamespaces = protectedNamespaces
        self.requireNamespaceConsent = requireNamespaceConsent
        self.qps = qps
        self.burst = burst
    }

    /// The keys a cluster's entry may set.
    static let keys: [SettingKey] = [.protectedNamespaces, .requireNamespaceConsent, .qps, .burst]

    /// Parses the YAML (or JSON) mapping; empty text is no cluster.
    static func parse(_ text: String) throws -> [String: TargetClusterSettings] {
        guard !text.trimmingWhitespaceAndNewlines().isEmpty else { return [:] }
        let node: YAMLNode?
        do {
            node = try YAMLReader.compose(text)
        } catch {
            throw Settings.Problem("not a YAML mapping of context names to settings: \(error)")
        }
        guard case .mapping(let clusters)? = node else {
            throw Settings.Problem("expected a mapping of context names to settings, e.g. {prod-eu: {require-namespace-consent: true}}")
        }
        var result: [String: TargetClusterSettings] = [:]
        for (contextNode, body) in clusters {
            guard let context = contextNode.string, !context.isEmpty else { throw Settings.Problem("a context name is not a plain value") }
            guard case .mapping(let fields) = body else {
                throw Settings.Problem("\(context): expected a mapping of settings (\(keys.map(\.rawValue).joined(separator: ", ")))")
            }
            var cluster = TargetClusterSettings()
            for (keyNode, value) in fields {
                let name = keyNode.string ?? ""
                let text = try Self.text(value, context: context, key: name)
                func problem(_ error: Error) -> Settings.Problem {
                    Settings.Problem("\(context): \(name) \"\(text)\": \((error as? Settings.Problem)?.text ?? "\(error)")")
                }
                do {
                    switch SettingKey(rawValue: name) {
                    case .protectedNamespaces?:
                        cluster.protectedNamespaces = try Settings.listOrNone(text).map(Settings.namespaceName)
                    case .requireNamespaceConsent?:
                        cluster.requireNamespaceConsent = try Settings.boolean(text)
                    case .qps?:
                        guard let qps = Double(text), qps.isFinite, qps >= 0 else {
                            throw Settings.Problem("expected a number of requests per second, 0 or more (0 = unlimited)")
                        }
                        cluster.qps = qps
                    case .burst?:
                        guard let burst = Int(text), burst >= 0 else { throw Settings.Problem("expected a whole number, 0 or more") }
                        cluster.burst = burst
                    default:
                        throw Settings.Problem("unknown setting; a target cluster may set \(keys.map(\.rawValue).joined(separator: ", "))")
                    }
                } catch {
                    throw problem(error)
                }
            }
            result[context] = cluster
        }
        return result
    }

    private static func text(_ node: YAMLNode, context: String, key: String) throws -> String {
        switch node {
        case .scalar(let scalar): return scalar.string
        case .sequence(let items):
            return try items.map { item in
                guard case .scalar(let scalar) = item else { throw Settings.Problem("\(context): \(key): list items must be plain values") }
                return scalar.string
            }.joined(separator: ",")
        default:
            throw Settings.Problem("\(context): \(key): expected a value or a list")
        }
    }
}
