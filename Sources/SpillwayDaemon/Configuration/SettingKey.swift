/// Every setting of the daemon, named by its long flag. The same name (upper snake case, prefixed
/// `SPILLWAY_`) is its environment variable, and the name itself is its config-file key, so the
/// three sources can never drift apart.
public enum SettingKey: String, CaseIterable, Sendable, Comparable {
    case kubeconfig
    case context
    case syncPeriod = "sync-period"
    case leaderElect = "leader-elect"
    case leaderElectNamespace = "leader-elect-namespace"
    case leaderElectName = "leader-elect-name"
    case leaderElectLeaseDuration = "leader-elect-lease-duration"
    case leaderElectRenewDeadline = "leader-elect-renew-deadline"
    case leaderElectRetryPeriod = "leader-elect-retry-period"
    case metricsBindAddress = "metrics-bind-address"
    case healthProbeBindAddress = "health-probe-bind-address"
    case logLevel = "log-level"
    case logFormat = "log-format"
    case qps
    case burst
    case protectedNamespaces = "protected-namespaces"
    case annotationDenyPrefixes = "annotation-deny-prefixes"
    case labelDenyPrefixes = "label-deny-prefixes"
    case denySecretTypes = "deny-secret-types"
    case requireNamespaceConsent = "require-namespace-consent"
    case allowForceAdopt = "allow-force-adopt"
    case selfHealInterval = "self-heal-interval"
    case orphanAuditInterval = "orphan-audit-interval"
    case clusterName = "cluster-name"
    case targetContexts = "target-contexts"
    case targetKubeconfig = "target-kubeconfig"
    case targetClusters = "target-clusters"
    case targetCleanupTimeout = "target-cleanup-timeout"

    /// `SPILLWAY_SYNC_PERIOD` for `sync-period`.
    public var environmentVariable: String {
        "SPILLWAY_" + String(rawValue.uppercased().map { $0 == "-" ? "_" : $0 })
    }

    public var flag: String { "--" + rawValue }

    public static func < (lhs: SettingKey, rhs: SettingKey) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// Where a setting's value came from, so an error can point the operator at the right place.
public enum SettingSource: Equatable, Sendable, CustomStringConvertible {
    case flag(String)
    case environment(String)
    case configFile(path: String)
    case builtInDefault

    public var description: String {
        switch self {
        case .flag(let name): "flag \(name)"
        case .environment(let name): "environment variable \(name)"
        case .configFile(let path): "config file \(path)"
        case .builtInDefault: "built-in default"
        }
    }
}

/// A setting as given, before validation: the text and where it came from.
public struct RawSetting: Equatable, Sendable {
    public var value: String
    public var source: SettingSource

    public init(value: String, source: SettingSource) {
        self.value = value
        self.source = source
    }
}

/// The one error configuration produces: it names the setting, its source and the bad value.
public struct SettingsError: Error, Equatable, CustomStringConvertible {
    public var setting: String
    public var source: SettingSource
    public var value: String
    public var problem: String

    public var description: String {
        "invalid \(setting) \"\(value)\" (from \(source)): \(problem)"
    }
}
