import ArgumentParser
import FoundationEssentials

/// The settings flags shared by `run`, `plan` and `uninstall`. Every value is kept as text here:
/// `Settings` validates flags, environment and file alike, so all three give the same message.
public struct SettingsOptions: ParsableArguments {
    @Option(help: ArgumentHelp("Config file (YAML `key: value` or `key = value`; keys are the long flag names). Default: /etc/spillway/spillway.conf if it exists.", valueName: "path"))
    var config: String?

    @Option(help: ArgumentHelp("kubeconfig file. Default: $KUBECONFIG, then the in-cluster service account (in a pod, without --context), then ~/.kube/config.", valueName: "path"))
    var kubeconfig: String?

    @Option(help: ArgumentHelp("kubeconfig context. Default: the current context.", valueName: "name"))
    var context: String?

    @Option(help: ArgumentHelp("Full resync interval (Go duration). Default: 5m.", valueName: "duration"))
    var syncPeriod: String?

    @Flag(inversion: .prefixedNo, help: "Run leader election so only one replica writes. Default: off.")
    var leaderElect: Bool?

    @Option(help: ArgumentHelp("Namespace of the leader Lease. Default: the pod's namespace in-cluster, else spillway-system.", valueName: "namespace"))
    var leaderElectNamespace: String?

    @Option(help: ArgumentHelp("Name of the leader Lease; the original spillway's, so the two never lead at once. Default: spillway.spillway.kroy.io.", valueName: "name"))
    var leaderElectName: String?

    @Option(help: ArgumentHelp("How long a lease lasts without renewal before a standby takes over (Go duration, whole seconds). Default: 15s.", valueName: "duration"))
    var leaderElectLeaseDuration: String?

    @Option(help: ArgumentHelp("How long a leader keeps leading without a successful renewal; shorter than the lease duration. Default: 10s.", valueName: "duration"))
    var leaderElectRenewDeadline: String?

    @Option(help: ArgumentHelp("Pause between attempts to acquire or renew the lease. Default: 2s.", valueName: "duration"))
    var leaderElectRetryPeriod: String?

    @Option(help: ArgumentHelp("Address for /metrics; \"0\" disables. Default: :8080.", valueName: "address"))
    var metricsBindAddress: String?

    @Option(help: ArgumentHelp("Address for /healthz and /readyz; \"0\" disables. Default: :8081.", valueName: "address"))
    var healthProbeBindAddress: String?

    @Option(help: ArgumentHelp("trace|debug|info|notice|warning|error|critical. Default: info.", valueName: "level"))
    var logLevel: String?

    @Option(help: ArgumentHelp("auto|journal|logfmt|json|text. Default: auto (journal under systemd, else text).", valueName: "format"))
    var logFormat: String?

    @Option(help: ArgumentHelp("Client-side request rate limit; 0 = unlimited (server fairness governs). Default: 0.", valueName: "n"))
    var qps: String?

    @Option(help: ArgumentHelp("Client-side request burst; must be at least 1 when --qps is set. Default: 0.", valueName: "n"))
    var burst: String?

    @Option(help: ArgumentHelp("Comma-separated namespaces that wildcards and selectors never reach; \"none\" for none (empty keeps the default). Default: kube-system.", valueName: "list"))
    var protectedNamespaces: String?

    @Option(help: ArgumentHelp("Comma-separated annotation prefixes never copied to replicas; \"none\" for none (empty keeps the default). Default: kubectl.kubernetes.io/,meta.helm.sh/,helm.sh/,argocd.argoproj.io/,config.kubernetes.io/,kustomize.toolkit.fluxcd.io/,fluxcd.io/,weave.works/.", valueName: "list"))
    var annotationDenyPrefixes: String?

    @Option(help: ArgumentHelp("Comma-separated label prefixes never copied to replicas. Default: none.", valueName: "list"))
    var labelDenyPrefixes: String?

    @Option(help: ArgumentHelp("Comma-separated Secret types never replicated (a source of such a type gets a Warning event, nothing is written); \"none\" for none (empty keeps the default). Default: kubernetes.io/service-account-token,bootstrap.kubernetes.io/token.", valueName: "list"))
    var denySecretTypes: String?

    @Flag(inversion: .prefixedNo, help: "Replicate only into namespaces that opt in with accept-from. Default: off.")
    var requireNamespaceConsent: Bool?

    @Flag(inversion: .prefixedNo, help: "Honour force-adopt on sources (take over same-name unmanaged objects). Default: off.")
    var allowForceAdopt: Bool?

    @Option(help: ArgumentHelp("Re-verify every replica against its source this often (Go duration, more than 0). Default: 1m.", valueName: "duration"))
    var selfHealInterval: String?

    @Option(help: ArgumentHelp("Look for orphaned replicas this often (Go duration, more than 0). Default: 10m.", valueName: "duration"))
    var orphanAuditInterval: String?

    @Option(help: ArgumentHelp("The watched cluster's name, written as spillway.kroy.io/source-cluster on replicas in other clusters and matched by accept-from's cluster: prefix. Default: the uid of its kube-system namespace.", valueName: "name"))
    var clusterName: String?

    @Option(help: ArgumentHelp("Comma-separated kubeconfig contexts (names or globs) that replicate-to-clusters may name; \"none\" for none. Default: none (only the watched cluster is written to).", valueName: "list"))
    var targetContexts: String?

    @Option(help: ArgumentHelp("kubeconfig holding the target contexts. Default: the watched cluster's kubeconfig.", valueName: "path"))
    var targetKubeconfig: String?

    @Option(help: ArgumentHelp("Per target context, its own protected-namespaces, require-namespace-consent, qps and burst, as YAML or JSON, e.g. '{prod-eu: {require-namespace-consent: true}}'. Usually set in the config file.", valueName: "yaml"))
    var targetClusters: String?

    @Option(help: ArgumentHelp("How long a deleted source's finalizer waits for its replicas in a target cluster that cannot be reached (Go duration). Default: 5m.", valueName: "duration"))
    var targetCleanupTimeout: String?

    public init() {}

    /// The flags that were given, by setting.
    var givenFlags: [SettingKey: String] {
        let values: [(SettingKey, String?)] = [
            (.kubeconfig, kubeconfig), (.context, context), (.syncPeriod, syncPeriod),
            (.leaderElect, leaderElect.map(String.init)), (.leaderElectNamespace, leaderElectNamespace),
            (.leaderElectName, leaderElectName), (.leaderElectLeaseDuration, leaderElectLeaseDuration),
            (.leaderElectRenewDeadline, leaderElectRenewDeadline), (.leaderElectRetryPeriod, leaderElectRetryPeriod),
            (.metricsBindAddress, metricsBindAddress),
            (.healthProbeBindAddress, healthProbeBindAddress), (.logLevel, logLevel), (.logFormat, logFormat),
            (.qps, qps), (.burst, burst), (.protectedNamespaces, protectedNamespaces),
            (.annotationDenyPrefixes, annotationDenyPrefixes), (.labelDenyPrefixes, labelDenyPrefixes),
            (.denySecretTypes, denySecretTypes),
            (.requireNamespaceConsent, requireNamespaceConsent.map(String.init)),
            (.allowForceAdopt, allowForceAdopt.map(String.init)),
            (.selfHealInterval, selfHealInterval), (.orphanAuditInterval, orphanAuditInterval),
            (.clusterName, clusterName), (.targetContexts, targetContexts), (.targetKubeconfig, targetKubeconfig),
            (.targetClusters, targetClusters), (.targetCleanupTimeout, targetCleanupTimeout),
        ]
        return Dictionary(uniqueKeysWithValues: values.compactMap { key, value in value.map { (key, $0) } })
    }

    /// The loader for these flags and the process environment; `reload` uses it again on SIGHUP.
    var loader: SettingsLoader {
        SettingsLoader(flags: givenFlags, configFlag: config, environment: ProcessInfo.processInfo.environment)
    }
}
