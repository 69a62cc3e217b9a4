import FoundationEssentials
import Glibc
import KubeWire
import Logging
import SpillwayReactor

/// The running daemon: owns the loop, signals, sd_notify, the watchdog, the HTTP endpoints and
/// the ordered start/reload/shutdown of its components. Everything here runs on one thread.
public final class DaemonRuntime {
    public private(set) var settings: Settings
    public let metrics: SpillwayMetrics
    public let status: StatusReporter
    public let logger: Logger
    /// The reactor every component shares: curl transfers, timers and the endpoints all run on
    /// it, so there is no second event loop.
    public let reactor: Reactor
    /// What /readyz reports. Components replace it (synced, and leader or a healthy warm standby);
    /// the default is ready once every component has started.
    public var readiness: () -> Readiness

    private let loader: SettingsLoader
    private let logging: DaemonLogging
    /// `$CREDENTIALS_DIRECTORY`: where systemd put the credentials (`LoadCredential=`) it
    /// copied at start.
    private let credentialsDirectory: String?
    private let notifier: Notifier
    private var components: [DaemonComponent] = []
    private var endpoints: [HTTPEndpoint] = []
    private var started = false
    private var stopping = false
    /// Components still getting ready (see `readyLater`); READY=1 waits for all of them.
    private var pendingReady = 0
    private var sentReady = false

    /// Signals the daemon handles; they are blocked in every thread and read from the loop.
    static let handledSignals = [SIGTERM, SIGINT, SIGHUP]

    init(settings: Settings, loader: SettingsLoader, logging: DaemonLogging, environment: [String: String]) throws {
        self.settings = settings
        self.loader = loader
        self.logging = logging
        reactor = try Reactor()
        notifier = Notifier(environment: environment)
        credentialsDirectory = environment["CREDENTIALS_DIRECTORY"].flatMap { $0.isEmpty ? nil : $0 }
        metrics = SpillwayMetrics()
        logger = Logger(label: "spillwayd")
        reactor.onDiagnostic = { [logger] message in logger.error("event loop: \(message)") }
        let notifier = notifier
        status = StatusReporter(send: { notifier.status($0) })
        readiness = { .notReady("starting") }
    }

    /// Runs until SIGTERM or SIGINT; returns the process exit code.
    func run(_ components: [DaemonComponent]) -> Int32 {
        do {
            metrics.bootstrapMetricsSystem()
            try reactor.onSignal(SIGTERM) { [unowned self] _ in self.shutdown(reason: "SIGTERM") }
            try reactor.onSignal(SIGINT) { [unowned self] _ in self.shutdown(reason: "SIGINT") }
            try reactor.onSignal(SIGHUP) { [unowned self] _ in self.reload() }
            if let interval = notifier.watchdogInterval {
                // From the loop itself, so a stalled loop stops the pings and systemd restarts us.
                try reactor.addTimer(after: interval, repeating: interval) { [notifier] in notifier.watchdog() }
                logger.debug("systemd watchdog on", metadata: ["interval": "\(GoDuration.format(interval))"])
            }
            try startEndpoints()
            for component in components {
                try component.start(self)
                self.components.append(component)
            }
        } catch {
            logger.critical("cannot start: \(error)")
            notifier.stopping(status: "Failed to start: \(error)")
            return 1
        }
        started = true
        if components.isEmpty { readiness = { .ready } }
        logger.info(
            "spillwayd \(SpillwayVersion.current) started",
            metadata: ["config": "\(settings.configFile ?? "none")", "log_format": "\(logging.formatName)"])
        if pendingReady == 0 {
            becomeReady()
        } else {
            status.phase = .syncing
        }
        do {
            try reactor.run()
        } catch {
            logger.critical("event loop failed: \(error)")
            return 1
        }
        logger.info("stopped")
        return 0
    }

    /// For a component whose `start` returns before it can serve (informers still listing): call
    /// it in `start`, and call what it returns once ready. READY=1 goes out when every such
    /// component has called back.
    public func readyLater() -> () -> Void {
        pendingReady += 1
        var called = false
        return { [unowned self] in
            guard !called else { return }
            called = true
            self.pendingReady -= 1
            if self.pendingReady == 0 && self.started { self.becomeReady() }
        }
    }

    private func becomeReady() {
        guard !sentReady, !stopping else { return }
        sentReady = true
        status.phase = .running
        notifier.ready(status: status.line)
        logger.info("ready")
    }

    private func startEndpoints() throws {
        let health: [String: HTTPEndpoint.Route] = [
            // Answered from the loop itself, so an answer proves the loop turns.
            "/healthz": { .text(200, "ok\n") },
            "/readyz": { [unowned self] in
                let readiness = self.readiness()
                return .text(readiness.isReady ? 200 : 503, readiness.reason + "\n")
            },
        ]
        let metrics: [String: HTTPEndpoint.Route] = [
            "/metrics": { [unowned self] in
                HTTPEndpoint.Response(
                    status: 200, contentType: "text/plain; version=0.0.4; charset=utf-8",
                    body: self.metrics.exposition())
            }
        ]
        var byAddress: [(address: BindAddress, routes: [String: HTTPEndpoint.Route], names: [String])] = []
        for (address, routes, name) in [
            (settings.metricsBindAddress, metrics, "metrics"), (settings.healthProbeBindAddress, health, "health"),
        ] {
            guard let address else { continue }
            if let index = byAddress.firstIndex(where: { $0.address == address && address.port != 0 }) {
                byAddress[index].routes.merge(routes) { first, _ in first }
                byAddress[index].names.append(name)
            } else {
                byAddress.append((address, routes, [name]))
            }
        }
        for (address, routes, names) in byAddress {
            let endpoint = try HTTPEndpoint(address: address, routes: routes, reactor: reactor)
            endpoints.append(endpoint)
            var bound = address
            bound.port = endpoint.port
            logger.info(
                "serving \(routes.keys.sorted().joined(separator: " "))",
                metadata: ["endpoint": "\(names.joined(separator: ","))", "address": "\(bound)"])
        }
    }

    /// SIGHUP: RELOADING=1, read the configuration again, hand it over, READY=1. A bad new
    /// configuration is refused whole and the running one stays.
    private func reload() {
        // Before READY=1 systemd is still starting us; a reload then has nothing to hand over.
        guard sentReady, !stopping else {
            logger.notice("SIGHUP ignored: not ready yet")
            return
        }
        notifier.reloading()
        do {
            let new = try loader.load()
            for component in components { try component.reload(new) }
            if new.metricsBindAddress != settings.metricsBindAddress
                || new.healthProbeBindAddress != settings.healthProbeBindAddress || new.logFormat != settings.logFormat
            {
                logger.notice("listen addresses and log format change only at restart")
            }
            settings = new
            logging.apply(new)
            status.lastError = nil
            logger.info("configuration reloaded", metadata: ["config": "\(new.configFile ?? "none")"])
            logger.notice("\(reloadScope(new))")
        } catch {
            logger.error("configuration not reloaded, keeping the running one: \(error)")
            status.lastError = "reload refused: \(error)"
        }
        notifier.ready(status: status.line)
    }

    /// What a SIGHUP picked up and what it cannot, for the log line after every reload: under
    /// the shipped unit the kubeconfig is systemd's copy (LoadCredential=, made at start) and
    /// the environment (EnvironmentFile=) is read only when the process starts.
    func reloadScope(_ settings: Settings) -> String {
        if let credentialsDirectory, let kubeconfig = settings.kubeconfig, kubeconfig.hasPrefix(credentialsDirectory + "/") {
            return "the config file was read again; the kubeconfig is the copy systemd made at start (LoadCredential=) and "
                + "SPILLWAY_* variables (EnvironmentFile=) are fixed at start too: after changing /etc/spillway/kubeconfig "
                + "or spillway.env, run `systemctl restart spillwayd`"
        }
        return "the config file and the kubeconfig were read again; flags and SPILLWAY_* environment variables are "
            + "fixed at start: a restart applies changes to them"
    }

    /// SIGTERM/SIGINT: STOPPING=1, stop components newest first, close endpoints, end the loop.
    private func shutdown(reason: String) {
        guard !stopping else { return }
        stopping = true
        logger.info("stopping", metadata: ["signal": "\(reason)"])
        status.phase = .stopping
        notifier.stopping(status: status.line)
        readiness = { .notReady("stopping") }
        stopComponents(Array(components.reversed())) { [unowned self] in
            for endpoint in self.endpoints { endpoint.stop() }
            self.endpoints = []
            self.reactor.stop()
        }
    }

    private func stopComponents(_ remaining: [DaemonComponent], then done: @escaping () -> Void) {
        guard let first = remaining.first else { return done() }
        first.stop { [unowned self] in self.stopComponents(Array(remaining.dropFirst()), then: done) }
    }
}
