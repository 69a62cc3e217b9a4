import FoundationEssentials
import SpillwayReactor
import KubeWire
import Logging
import SpillwayContract

/// The daemon's validated configuration. Built only by `Settings.init(validating:)`, the one place
/// every rule lives, so any `Settings` value that exists is usable as is.
public struct Settings: Equatable, Sendable {
    public enum LogFormat: String, CaseIterable, Sendable {
        case auto, journal, logfmt, json, text
    }

    /// The config file that was read, if any.
    public var configFile: String?
    /// An explicit kubeconfig; nil means $KUBECONFIG, ~/.kube/config, then in-cluster.
    public var kubeconfig: String?
    public var context: String?
    public var syncPeriod: Duration
    public var leaderElect: Bool
    /// nil means the pod's namespace in-cluster, else `spillway-system`.
    public var leaderElectNamespace: String?
    public var leaderElectName: String
    /// Lease timings (docs/kubernetes.md §5): lease duration > renew deadline > 1.2 × retry period.
    public var leaderElectLeaseDuration: Duration
    public var leaderElectRenewDeadline: Duration
    public var leaderElectRetryPeriod: Duration
    /// nil when disabled with "0".
    public var metricsBindAddress: BindAddress?
    public var healthProbeBindAddress: BindAddress?
    public var logLevel: Logger.Level
    public var logFormat: LogFormat
    /// Client rate limit; 0 = unlimited (the server's priority-and-fairness governs).
    public var qps: Double
    public var burst: Int
    public var protectedNamespaces: [String]
    public var annotationDenyPrefixes: [String]
    public var labelDenyPrefixes: [String]
    /// Secret types never replicated.
    public var denySecretTypes: [String]
    public var requireNamespaceConsent: Bool
    public var allowForceAdopt: Bool
    public var selfHealInterval: Duration
    public var orphanAuditInterval: Duration
    /// The watched cluster's name, written as `source-cluster` on replicas in other clusters;
    /// nil: the uid of its kube-system namespace.
    public var clusterName: String?
    /// Kubeconfig contexts (names or globs) replicas may be written to besides the watched
    /// cluster; empty: none.
    public var targetContexts: [String]
    /// The kubeconfig holding the target contexts; nil: the watched cluster's kubeconfig.
    public var targetKubeconfig: String?
    /// Per target context: its own protected namespaces, consent requirement and rate limit.
    public var targetClusters: [String: TargetClusterSettings]
    /// How long a source's finalizer waits for its replicas in target clusters to be deleted.
    public var targetCleanupTimeout: Duration

    /// Built-in defaults, as text in the same syntax an operator writes, so they pass through the
    /// same validation as everything else.
    public static let defaults: [SettingKey: String] = [
        .syncPeriod: "5m",
        .leaderElect: "false",
        // The original spillway's Lease (controller-runtime's election ID), so that during a
        // switch from it, or back, only one of the two ever writes.
        .leaderElectName: "spillway.spillway.kroy.io",
        .leaderElectLeaseDuration: "15s",
        .leaderElectRenewDeadline: "10s",
        .leaderElectRetryPeriod: "2s",
        .metricsBindAddress: ":8080",
        .healthProbeBindAddress: ":8081",
        .logLevel: "info",
        .logFormat: "auto",
        .qps: "0",
        .burst: "0",
        .protectedNamespaces: "kube-system",
        .annotationDenyPrefixes:
            "kubectl.kubernetes.io/,meta.helm.sh/,helm.sh/,argocd.argoproj.io/,config.kubernetes.io/,"
            + "kustomize.toolkit.fluxcd.io/,fluxcd.io/,weave.works/",
        .labelDenyPrefixes: "",
        .denySecretTypes: "kubernetes.io/service-account-token,bootstrap.kubernetes.io/token",
        .requireNamespaceConsent: "false",
        .allowForceAdopt: "false",
        .selfHealInterval: "1m",
        .orphanAuditInterval: "10m",
        .targetContexts: "",
        .targetClusters: "",
        .targetCleanupTimeout: "5m",
    ]

    /// Validates `raw` (already layered: flag over env over file) on top of the defaults.
    /// `fileExists` is injected so validation stays a pure function in tests.
    public init(
        validating raw: [SettingKey: RawSetting], configFile: String? = nil,
        fileExists: (String) -> Bool = { TextFile.isReadable($0) }
    ) throws {
        let reader = Reader(raw: raw)
        self.configFile = configFile
        kubeconfig = try reader.optional(.kubeconfig) { path in
            guard fileExists(path) else { throw Problem("file does not exist or is not readable") }
            return path
        }
        context = try reader.optional(.context) { $0 }
        syncPeriod = try reader.value(.syncPeriod, Self.positiveDuration)
        leaderElect = try reader.value(.leaderElect, Self.boolean)
        leaderElectNamespace = try reader.optional(.leaderElectNamespace, Self.namespaceName)
        leaderElectName = try reader.value(.leaderElectName, Self.objectName)
        leaderElectLeaseDuration = try reader.value(.leaderElectLeaseDuration) { text in
            let duration = try Self.positiveDuration(text)
            guard duration >= .seconds(1) else { throw Problem("must be at least 1s (a Lease counts whole seconds)") }
            return duration
        }
        leaderElectRenewDeadline = try reader.value(.leaderElectRenewDeadline, Self.positiveDuration)
        leaderElectRetryPeriod = try reader.value(.leaderElectRetryPeriod, Self.positiveDuration)
        if leaderElectRenewDeadline >= leaderElectLeaseDuration {
            throw reader.error(
                .leaderElectRenewDeadline,
                Problem("must be shorter than leader-elect-lease-duration (\(GoDuration.format(leaderElectLeaseDuration))), so a leader that cannot renew stops before its lease can be taken"))
        }
        if leaderElectRenewDeadline <= leaderElectRetryPeriod * LeaderElectionConfiguration.jitterFactor {
            throw reader.error(
                .leaderElectRetryPeriod,
                Problem("must be shorter than leader-elect-renew-deadline (\(GoDuration.format(leaderElectRenewDeadline))) divided by 1.2, so a leader gets several tries to renew"))
        }
        metricsBindAddress = try reader.value(.metricsBindAddress, BindAddress.parseSetting)
        healthProbeBindAddress = try reader.value(.healthProbeBindAddress, BindAddress.parseSetting)
        logLevel = try reader.value(.logLevel) { text in
            guard let level = Logger.Level(rawValue: text.lowercased()) else {
                throw Problem("expected one of " + Logger.Level.allCases.map(\.rawValue).joined(separator: "|"))
            }
            return level
        }
        logFormat = try reader.value(.logFormat) { text in
            guard let format = LogFormat(rawValue: text.lowercased()) else {
                throw Problem("expected one of " + LogFormat.allCases.map(\.rawValue).joined(separator: "|"))
            }
            return format
        }
        qps = try reader.value(.qps) { text in
            guard let qps = Double(text), qps.isFinite, qps >= 0 else {
                throw Problem("expected a number of requests per second, 0 or more (0 = unlimited)")
            }
            return qps
        }
        burst = try reader.value(.burst) { text in
            guard let burst = Int(text), burst >= 0 else { throw Problem("expected a whole number, 0 or more") }
            return burst
        }
        if qps > 0 && burst == 0 {
            throw reader.error(.burst, Problem("must be at least 1 when qps is above 0"))
        }
        protectedNamespaces = try reader.value(.protectedNamespaces) { try Self.listOrNone($0).map(Self.namespaceName) }
        annotationDenyPrefixes = try reader.value(.annotationDenyPrefixes, Self.listOrNone)
        labelDenyPrefixes = try reader.value(.labelDenyPrefixes, Self.listOrNone)
        denySecretTypes = try reader.value(.denySecretTypes) { try Self.listOrNone($0).map(Self.secretType) }
        requireNamespaceConsent = try reader.value(.requireNamespaceConsent, Self.boolean)
        allowForceAdopt = try reader.value(.allowForceAdopt, Self.boolean)
        selfHealInterval = try reader.value(.selfHealInterval) { try Self.positiveDuration($0, offInTheOriginal: "1m") }
        orphanAuditInterval = try reader.value(.orphanAuditInterval) { try Self.positiveDuration($0, offInTheOriginal: "10m") }
        clusterName = try reader.optional(.clusterName, Self.clusterName)
        targetContexts = try reader.value(.targetContexts) { try Self.listOrNone($0).map(Self.contextPattern) }
        targetKubeconfig = try reader.optional(.targetKubeconfig) { path in
            guard fileExists(path) else { throw Problem("file does not exist or is not readable") }
            return path
        }
        targetClusters = try reader.value(.targetClusters, TargetClusterSettings.parse)
        targetCleanupTimeout = try reader.value(.targetCleanupTimeout, Self.positiveDuration)
        if !targetClusters.isEmpty && targetContexts.isEmpty {
            throw reader.error(.targetClusters, Problem("names target clusters, but target-contexts allows none"))
        }
    }

    /// What a parse closure throws; `Reader` turns it into a `SettingsError` with key and source.
    struct Problem: Error {
        var text: String
        init(_ text: String) { self.text = text }
    }

    private struct Reader {
        var raw: [SettingKey: RawSetting]

        /// The given value, else the default. An empty value counts as not given: a blank line
        /// in a config file or an empty chart value never weakens a default (lists are emptied
        /// with the explicit `none`).
        func setting(_ key: SettingKey) -> RawSetting? {
            if let given = raw[key], !given.value.trimmingWhitespace().isEmpty { return given }
            return Settings.defaults[key].map { RawSetting(value: $0, source: .builtInDefault) }
        }

        func error(_ key: SettingKey, _ problem: Problem) -> SettingsError {
            let given = setting(key) ?? RawSetting(value: "", source: .builtInDefault)
            return SettingsError(setting: key.rawValue, source: given.source, value: given.value, problem: problem.text)
        }

        func value<T>(_ key: SettingKey, _ parse: (String) throws -> T) throws -> T {
            let given = setting(key)!
            do {
                return try parse(given.value.trimmingWhitespace())
            } catch let problem as Problem {
                throw error(key, problem)
            }
        }

        func optional<T>(_ key: SettingKey, _ parse: (String) throws -> T) throws -> T? {
            guard let given = setting(key), !given.value.trimmingWhitespace().isEmpty else {
                return nil
            }
            return try value(key, parse)
        }
    }

    static func positiveDuration(_ text: String) throws -> Duration {
        guard let duration = GoDuration.parse(text) else {
            throw Problem("not a duration; use Go-style durations like 30s, 5m, 1h30m")
        }
        guard duration > .zero else { throw Problem("must be longer than 0s") }
        return duration
    }

    /// A periodic safety net that the original spillway turned off with `0`: spillwayd keeps it
    /// on, and says so instead of just "must be longer than 0s" to someone who copied the
    /// original's `0s`.
    static func positiveDuration(_ text: String, offInTheOriginal fallback: String) throws -> Duration {
        do {
            return try positiveDuration(text)
        } catch let problem as Problem where GoDuration.parse(text) == .zero {
            throw Problem(problem.text + "; spillwayd cannot turn this pass off (0 did in the original spillway): "
                + "leave the setting out for the default \(fallback)")
        }
    }

    static func boolean(_ text: String) throws -> Bool {
        switch text.lowercased() {
        case "true", "yes", "on", "1": return true
        case "false", "no", "off", "0": return false
        default: throw Problem("expected true or false")
        }
    }

    /// Comma-separated; whitespace around entries and empty entries are ignored.
    static func list(_ text: String) throws -> [String] {
        text.split(separator: ",").map { $0.trimmingWhitespace() }.filter { !$0.isEmpty }
    }

    /// The value that empties a list setting. An empty value keeps the default instead, so a
    /// list that protects something is emptied only on purpose.
    static let none = "none"

    /// A list, or `none` for the empty list.
    static func listOrNone(_ text: String) throws -> [String] {
        let entries = try list(text)
        guard entries.contains(none) else { return entries }
        guard entries == [none] else {
            throw Problem("\"\(none)\" empties the list and cannot be combined with other entries")
        }
        return []
    }

    /// A Secret `type` as the API takes it: no blanks, no commas.
    static func secretType(_ text: String) throws -> String {
        guard text.count <= 253, text.allSatisfy({ $0.isASCII && !$0.isWhitespace && $0 != "," }) else {
            throw Problem("\"\(text)\" is not a Secret type (e.g. kubernetes.io/service-account-token)")
        }
        return text
    }

    /// A cluster's name: a DNS-1123 label, so that it is a valid label value and can stand before
    /// the `:` of an `accept-from` pattern.
    static func clusterName(_ text: String) throws -> String {
        try dnsLabel(text, "cluster name")
    }

    /// A kubeconfig context name or a glob over them, as `replicate-to-clusters` writes them;
    /// `local` is the watched cluster's reserved name.
    static func contextPattern(_ text: String) throws -> String {
        guard text != "local" else {
            throw Problem("\"local\" is the watched cluster's reserved name, not a target context (rename the context)")
        }
        do {
            _ = try ClusterPattern.parseList(text)
        } catch {
            throw Problem(error.message)
        }
        return text
    }

    /// A DNS-1123 label, which is what Kubernetes requires of a namespace name.
    static func namespaceName(_ text: String) throws -> String {
        try dnsLabel(text, "namespace name")
    }

    private static func dnsLabel(_ text: String, _ what: String) throws -> String {
        guard isDNSLabel(text) else {
            throw Problem(
                "\"\(text)\" is not a valid \(what) (lower-case letters, digits and '-', "
                    + "starting and ending with a letter or digit, at most 63 characters)")
        }
        return text
    }

    /// A DNS-1123 subdomain, which is what Kubernetes requires of a Lease name.
    static func objectName(_ text: String) throws -> String {
        guard text.count <= 253, !text.isEmpty,
            text.split(separator: ".", omittingEmptySubsequences: false).allSatisfy({ isDNSLabel(String($0)) })
        else {
            throw Problem(
                "not a valid object name (lower-case letters, digits, '-' and '.', "
                    + "starting and ending with a letter or digit, at most 253 characters)")
        }
        return text
    }

    private static func isDNSLabel(_ text: String) -> Bool {
        let alphanumeric: (Character) -> Bool = { $0.isASCII && ($0.isLowercase || $0.isNumber) }
        guard let first = text.first, let last = text.last, text.count <= 63 else { return false }
        return alphanumeric(first) && alphanumeric(last) && text.allSatisfy { alphanumeric($0) || $0 == "-" }
    }
}
