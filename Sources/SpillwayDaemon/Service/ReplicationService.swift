import FoundationEssentials
import KubeClient
import Logging
import SpillwayContract
import SpillwayEngine
import SpillwayReactor

/// The daemon's one component: the Kubernetes client, the replication engine and, with
/// `--leader-elect`, the leader elector, wired together on the runtime's reactor.
///
/// Order matters twice. At start the engine's informers start at once whatever the role, so a
/// standby is warm; the elector (or, without election, this service) opens the engine's write
/// gate. At stop the engine stops first — no new work, writes in flight finish, bounded by its
/// stop timeout — and only then is the lease released, so the next leader never overlaps a
/// write of ours.
final class ReplicationService: DaemonComponent {
    /// How long the API server may be silent — no answer, no watch event, no bookmark —
    /// before it is asked whether it is there (`/readyz`). The server ends every watch at its
    /// `timeoutSeconds` (at most 600 s) and the informer opens it again at once, and that
    /// request's answer is word from the server; so a daemon whose watches work never asks,
    /// even on a server that bookmarks no quiet watch (a real kube-apiserver bookmarks a watch
    /// only when its resource's resourceVersion moved). A dead connection is noticed sooner:
    /// TCP keepalive fails the watches, and a failed request makes the daemon not ready at once.
    static let silenceBeforeProbe: Duration =
        Informer.longestSilence(of: Informer.Options(resource: .namespaces)) + .seconds(30)
    /// How long a lease release may take at shutdown before the process goes anyway (the
    /// lease then expires on its own).
    static let releaseBound: Duration = .seconds(3)

    private let environment: [String: String]
    private var runtime: DaemonRuntime!
    private var settings: Settings!
    private var connection: ClientConfiguration!
    private var client: KubeClient!
    /// The target clusters (`target-contexts`), and a client for each.
    private var targets: [TargetContext] = []
    private var targetClients: [String: KubeClient] = [:]
    /// Each target cluster's health, as the engine last reported it.
    private var clusterHealth: [ClusterHealth] = []
    private var engine: Engine!
    private var elector: LeaderElector?
    private var ready: (() -> Void)?
    private var probe: SilenceProbe?
    /// What the client's traffic says is wrong with the API server (``KubeClient/contact``).
    private var apiError: String?
    private var engineSynced = false
    /// Whether this process may write (it leads, or runs without election).
    private var leading = false
    private var stopping = false

    init(environment: [String: String]) {
        self.environment = environment
    }

    func start(_ runtime: DaemonRuntime) throws {
        self.runtime = runtime
        settings = runtime.settings
        connection = try Self.connection(settings, environment: environment)
        client = try makeClient(connection, settings)
        runtime.logger.info(
            "connecting to the API server",
            metadata: ["server": "\(connection.server)", "from": "\(connection.origin)"])
        try useTargets(try resolveTargets(settings, watched: connection))
        ready = runtime.readyLater()
        runtime.readiness = { [unowned self] in self.readiness }
        startEngine()
        if settings.leaderElect {
            let elector = LeaderElector(
                configuration: leaderElection(settings), client: client, reactor: runtime.reactor,
                logger: Logger(label: "spillway.leader"))
            elector.onRoleChange = { [unowned self] role in self.roleChanged(role) }
            self.elector = elector
            runtime.status.role = .standby(leader: nil)
            runtime.metrics.leader(false)
            elector.start()
        } else {
            runtime.status.role = .single
            runtime.metrics.leader(true)
            leading = true
            applyGate()
        }
        watchContact(client)
    }

    /// SIGHUP: the kubeconfig and the settings are read again. The lease, the leadership and the
    /// replicas stay; an engine whose options or connection changed is replaced by one built
    /// from the new ones (its caches fill again from a fresh list while the old one finishes its
    /// writes), and the elector takes the new client for its next request. A kubeconfig that
    /// does not load, or a client that cannot be built from it, refuses the reload before
    /// anything changes.
    func reload(_ new: Settings) throws {
        let newConnection = try Self.connection(new, environment: environment)
        let connectionChanged = !Self.sameConnection(newConnection, connection)
            || new.qps != settings.qps || new.burst != settings.burst
        let newTargets = try resolveTargets(new, watched: newConnection)
        let targetsChanged = newTargets != targets || new.qps != settings.qps || new.burst != settings.burst
            || new.protectedNamespaces != settings.protectedNamespaces || new.requireNamespaceConsent != settings.requireNamespaceConsent
        let engineChanged = Self.engineOptions(new).contract != Self.engineOptions(settings).contract
            || new.syncPeriod != settings.syncPeriod || new.selfHealInterval != settings.selfHealInterval
            || new.orphanAuditInterval != settings.orphanAuditInterval || new.clusterName != settings.clusterName
            || new.targetCleanupTimeout != settings.targetCleanupTimeout || targetsChanged
        let newClient = connectionChanged ? try makeClient(newConnection, new) : nil
        let newTargetClients = targetsChanged ? try makeTargetClients(newTargets, new) : nil
        if new.leaderElect != settings.leaderElect || leaderElection(new).withoutIdentity != leaderElection(settings).withoutIdentity {
            runtime.logger.notice("leader election settings change only at restart")
        }
        settings = new
        if let newClient {
            client.onContactChange = nil
            client = newClient
            connection = newConnection
            elector?.client = newClient
            watchContact(newClient)
            runtime.logger.info(
                "connection reloaded", metadata: ["server": "\(newConnection.server)", "from": "\(newConnection.origin)"])
        }
        if let newTargetClients {
            targets = newTargets
            targetClients = newTargetClients
            runtime.logger.info("target clusters reloaded", metadata: ["clusters": "\(targets.map(\.name).joined(separator: ","))"])
        }
        guard connectionChanged || engineChanged else { return }
        let old = engine!
        old.onSynced = nil
        old.onStatusChange = nil
        old.onBurstEnd = nil
        old.setLeader(false)
        // The old engine lets its writes in flight finish; the closure keeps it alive till then.
        old.stop { withExtendedLifetime(old) {} }
        startEngine()
    }

    func stop(_ done: @escaping () -> Void) {
        stopping = true
        probe?.stop()
        probe = nil
        engine.stop { [unowned self] in
            guard let elector = self.elector else { return done() }
            elector.stop(releaseWithin: Self.releaseBound, done: done)
        }
    }

    // MARK: - Wiring

    private func startEngine() {
        let engine = Engine(
            reactor: runtime.reactor, client: client, options: Self.engineOptions(settings),
            logger: Logger(label: "spillway.engine"), metrics: runtime.metrics,
            targets: targets.map { target in
                TargetClusterConfiguration(name: target.name, client: targetClients[target.name]!,
                                           contract: Self.contractOptions(settings, for: target.settings))
            })
        engine.onSynced = { [unowned self] in
            self.engineSynced = true
            // Opening the gate now queues every source the caches hold: the initial reconcile
            // is queued before READY=1.
            self.applyGate()
            self.ready?()
            self.ready = nil
        }
        engine.onBurstEnd = { [unowned self] in
            let returned = ProcessMemory.returnFreePages()
            self.runtime.logger.debug("returned memory freed by a burst of work", metadata: ["bytes": "\(returned)"])
        }
        engine.onStatusChange = { [unowned self] status in
            self.runtime.status.sources = status.sources
            self.runtime.status.replicas = status.replicas
            self.runtime.status.conflicts = status.conflicts
            self.runtime.status.lastError = status.lastError ?? self.apiError
            self.clusterHealth = status.clusters
            self.runtime.status.clusters = status.clusters.filter { !$0.isReady }.map(\.description)
        }
        self.engine = engine
        engine.start()
    }

    private func roleChanged(_ role: LeaderElector.Role) {
        switch role {
        case .leader:
            runtime.status.role = .leader
            runtime.metrics.leader(true)
            leading = true
            applyGate()
        case .standby(let holder):
            // The gate closes first: nothing below may let a write through.
            leading = false
            applyGate()
            runtime.status.role = .standby(leader: holder)
            runtime.metrics.leader(false)
        }
    }

    /// The engine writes only while this process leads and its caches have synced: a leader
    /// whose caches are still filling would plan against a partial picture (and the engine
    /// plans every source when the gate opens, so opening it after the sync queues them all).
    private func applyGate() {
        engine.setLeader(leading && !stopping && engine.isSynced)
    }

    /// Ready = caches synced, the API server answers, and this process leads or is a standby
    /// whose elector can reach the lease. Each target cluster's health follows, one line each;
    /// a target cluster that is away does not make the daemon unready: it serves the others.
    private var readiness: Readiness {
        var readiness = watchedReadiness
        if !clusterHealth.isEmpty {
            readiness.reason += "\n" + clusterHealth.map { "cluster \($0)" }.joined(separator: "\n")
        }
        return readiness
    }

    private var watchedReadiness: Readiness {
        if stopping { return .notReady("stopping") }
        if !engineSynced { return .notReady("caches not synced yet") }
        if let apiError { return .notReady("API server unreachable: \(apiError)") }
        if let elector, !elector.isLeader, let error = elector.lastError {
            return .notReady("standby cannot reach the lease: \(error)")
        }
        return .ready
    }

    /// Judges the API server from the client's own traffic — the watches' events and
    /// bookmarks, every answer and every failure — and asks it only after a silence
    /// (``SilenceProbe``): an idle daemon sends no request to know it is there. Any answer
    /// proves the server is there, except a refusal of who we are (401: the credentials expired
    /// or were revoked) or of what we must read (403 on a list or watch: RBAC revoked): the
    /// daemon cannot work then either, and /readyz says so.
    private func watchContact(_ client: KubeClient) {
        probe?.stop()
        client.onContactChange = { [unowned self, unowned client] contact in
            guard client === self.client, !self.stopping else { return }
            self.contactChanged(contact.problem)
        }
        contactChanged(client.contact.problem)
        let probe = SilenceProbe(client: client, silence: Self.silenceBeforeProbe)
        self.probe = probe
        probe.start()
    }

    private func contactChanged(_ error: String?) {
        guard error != apiError else { return }
        if let error {
            // Once per outage at warning: a retrying watch's failure may be worded differently
            // each time (refused, reset, timed out) without anything new to say.
            if apiError.map(Self.kind) != Self.kind(error) {
                runtime.logger.warning("API server unreachable: \(error)")
            } else {
                runtime.logger.debug("API server still unreachable: \(error)")
            }
        } else {
            runtime.logger.info("API server reachable again")
        }
        apiError = error
        runtime.status.lastError = error.map { "API server unreachable: \($0)" } ?? engine?.status.lastError
    }

    /// What sort of problem a ``ServerContact/problem`` names (its wording aside).
    private static func kind(_ problem: String) -> Substring {
        problem.prefix { $0 != ":" }
    }

    private func makeClient(_ connection: ClientConfiguration, _ settings: Settings) throws -> KubeClient {
        let rateLimit = settings.qps > 0 ? RateLimitConfiguration(qps: settings.qps, burst: settings.burst) : RateLimitConfiguration()
        let client = try KubeClient(
            configuration: connection, reactor: runtime.reactor, rateLimit: rateLimit, logger: Logger(label: "spillway.kubeclient"))
        client.observer = runtime.metrics
        return client
    }

    /// The target clusters of `settings`, resolved against their kubeconfig; what a glob matched
    /// but was left out is logged.
    private func resolveTargets(_ settings: Settings, watched: ClientConfiguration) throws -> [TargetContext] {
        let resolution = try TargetClusters.resolve(settings, watched: watched, environment: environment)
        for note in resolution.skipped {
            runtime.logger.notice("target context left out: \(note)")
        }
        return resolution.targets
    }

    private func useTargets(_ resolved: [TargetContext]) throws {
        targetClients = try makeTargetClients(resolved, settings)
        targets = resolved
        for target in targets {
            runtime.logger.info("target cluster allowed", metadata: [
                "cluster": "\(target.name)", "server": "\(target.connection.server)", "from": "\(target.connection.origin)",
            ])
        }
    }

    /// A client per target cluster, on the same reactor, with the cluster's own credentials and
    /// rate limit; its requests and watch restarts are counted with a `cluster` label.
    private func makeTargetClients(_ targets: [TargetContext], _ settings: Settings) throws -> [String: KubeClient] {
        var clients: [String: KubeClient] = [:]
        for target in targets {
            let qps = target.settings.qps ?? settings.qps
            let burst = target.settings.burst ?? settings.burst
            guard qps == 0 || burst >= 1 else {
                throw ConnectionError(message: "target-clusters: \(target.name): burst must be at least 1 when qps is above 0")
            }
            let rateLimit = qps > 0 ? RateLimitConfiguration(qps: qps, burst: burst) : RateLimitConfiguration()
            let client = try KubeClient(configuration: target.connection, reactor: runtime.reactor, rateLimit: rateLimit,
                                        logger: Logger(label: "spillway.kubeclient.\(target.name)"))
            client.observer = runtime.metrics.clusterObserver(target.name)
            clients[target.name] = client
        }
        return clients
    }

    private func leaderElection(_ settings: Settings) -> LeaderElectionConfiguration {
        let namespace = settings.leaderElectNamespace ?? (Self.isInCluster(connection) ? connection.namespace : "spillway-system")
        var configuration = LeaderElectionConfiguration(
            namespace: namespace, name: settings.leaderElectName, leaseDuration: settings.leaderElectLeaseDuration,
            renewDeadline: settings.leaderElectRenewDeadline, retryPeriod: settings.leaderElectRetryPeriod)
        if let elector { configuration.identity = elector.configuration.identity }
        return configuration
    }

    // MARK: - Settings to parts

    /// The client configuration `settings` name: `--kubeconfig`, `$KUBECONFIG`, in-cluster, then
    /// `~/.kube/config`, with `--context`.
    static func connection(_ settings: Settings, environment: [String: String]) throws -> ClientConfiguration {
        do {
            return try ClientConfiguration.load(kubeconfig: settings.kubeconfig, context: settings.context, environment: environment)
        } catch {
            throw ConnectionError(message: error.message)
        }
    }

    static func isInCluster(_ connection: ClientConfiguration) -> Bool {
        connection.origin.hasPrefix("in-cluster")
    }

    static func engineOptions(_ settings: Settings) -> EngineOptions {
        EngineOptions(
            contract: contractOptions(settings),
            syncPeriod: settings.syncPeriod, selfHealInterval: settings.selfHealInterval,
            orphanAuditInterval: settings.orphanAuditInterval, instance: hostName, clusterName: settings.clusterName,
            targetCleanupTimeout: settings.targetCleanupTimeout)
    }

    /// The contract's flags, with what a target cluster sets for itself (`target-clusters`).
    static func contractOptions(_ settings: Settings, for target: TargetClusterSettings = TargetClusterSettings()) -> SpillwayContract.Options {
        SpillwayContract.Options(
            protectedNamespaces: Set(target.protectedNamespaces ?? settings.protectedNamespaces),
            requireNamespaceConsent: target.requireNamespaceConsent ?? settings.requireNamespaceConsent,
            allowForceAdopt: settings.allowForceAdopt, annotationDenyPrefixes: settings.annotationDenyPrefixes,
            labelDenyPrefixes: settings.labelDenyPrefixes, deniedSecretTypes: Set(settings.denySecretTypes))
    }

    static var hostName: String {
        HostName.current() ?? "spillwayd"
    }

    /// Whether two configurations reach the same server the same way (a reload that changes
    /// none of this keeps the running client and its connections).
    static func sameConnection(_ a: ClientConfiguration, _ b: ClientConfiguration) -> Bool {
        a.server == b.server && a.certificateAuthority == b.certificateAuthority
            && a.insecureSkipTLSVerify == b.insecureSkipTLSVerify && a.tlsServerName == b.tlsServerName
            && a.clientCertificate == b.clientCertificate && a.clientKey == b.clientKey && a.auth == b.auth
            && a.proxyURL == b.proxyURL && a.namespace == b.namespace
    }
}

/// The kubeconfig (or in-cluster configuration) cannot be used; the message names the file,
/// context and field.
struct ConnectionError: Error, CustomStringConvertible {
    var message: String
    var description: String { message }
}

extension LeaderElectionConfiguration {
    /// The configuration apart from the per-process identity.
    var withoutIdentity: LeaderElectionConfiguration {
        var copy = self
        copy.identity = ""
        return copy
    }
}

extension SpillwayMetrics: EngineMetrics {}
