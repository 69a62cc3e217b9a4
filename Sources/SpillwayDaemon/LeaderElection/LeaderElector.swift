import FoundationEssentials
import KubeClient
import KubeWire
import Logging
import SpillwayReactor

/// Timings and names of a leader election (docs/kubernetes.md §5).
public struct LeaderElectionConfiguration: Sendable, Equatable {
    public var namespace: String
    public var name: String
    /// This process's name in `holderIdentity`: `hostname_uuid`, unique per start.
    public var identity: String
    /// How long a candidate waits, on its own clock, after it last saw the record change before it
    /// takes the lease over.
    public var leaseDuration: Duration
    /// How long a leader keeps leading without a successful renewal. Shorter than the lease
    /// duration, so a leader that cannot renew stops writing before anyone may take over.
    public var renewDeadline: Duration
    /// The pause between attempts to acquire or renew.
    public var retryPeriod: Duration

    /// client-go's check: the lease outlives the renew deadline, which outlives a jittered retry.
    public static let jitterFactor = 1.2

    public init(
        namespace: String, name: String, identity: String = Self.defaultIdentity(),
        leaseDuration: Duration = .seconds(15), renewDeadline: Duration = .seconds(10), retryPeriod: Duration = .seconds(2)
    ) {
        self.namespace = namespace
        self.name = name
        self.identity = identity
        self.leaseDuration = leaseDuration
        self.renewDeadline = renewDeadline
        self.retryPeriod = retryPeriod
    }

    /// What the Lease says: whole seconds, at least one.
    var leaseDurationSeconds: Int64 {
        let components = leaseDuration.components
        return max(1, components.seconds + (components.attoseconds > 0 ? 1 : 0))
    }

    /// `hostname_uuid`, as client-go-based controllers name themselves: the host says where the
    /// leader runs, the UUID tells two processes on one host apart.
    public static func defaultIdentity() -> String {
        let host = HostName.current() ?? "unknown"
        return "\(host)_\(UUID().uuidString.lowercased())"
    }
}

/// Leader election on a coordination.k8s.io/v1 Lease, on the reactor thread.
///
/// The holder renews with a PUT every `retryPeriod`. Everyone else reads the Lease, creates it
/// when it does not exist, and takes it over (PUT on the resourceVersion it read, so a race
/// loses with 409) once the record has not changed for a lease duration on the local clock —
/// clocks are never compared across machines. Leadership is valid until `renewDeadline` after
/// the *sending* of the last successful renewal: the server committed that renewal no earlier,
/// and a candidate saw it no earlier than that, so our deadline passes at least
/// `leaseDuration - renewDeadline` before any candidate may take over. When it passes the
/// elector reports `.standby` at once, before anything else can run, and keeps trying.
///
/// A standby also watches the one Lease object: it sees every renewal the moment it is written
/// (so its lease-duration clock starts at the renewal, not at its next poll), takes a released
/// lease as soon as the release is written, and tries again exactly when a lease it watched
/// expires. The poll every `retryPeriod` stays as the fallback while the watch is down.
///
/// `onRoleChange` is the gate: writes are allowed between `.leader` and the next `.standby`.
public final class LeaderElector {
    public enum Role: Equatable, Sendable {
        case leader
        /// Not leading; `holder` is the identity holding the lease, when known.
        case standby(holder: String?)
    }

    public let configuration: LeaderElectionConfiguration
    /// Replaced on reload (a re-read kubeconfig); the next request uses the new one.
    public var client: KubeClient {
        didSet {
            guard running, client !== oldValue else { return }
            watchLease()
        }
    }
    public var onRoleChange: ((Role) -> Void)?
    /// The outcome of the latest request to the API server: nil after a success, else what
    /// went wrong. Readiness uses it to tell a healthy standby from one cut off from the API.
    public private(set) var lastError: String?
    public private(set) var role: Role = .standby(holder: nil)

    private let reactor: Reactor
    /// For the Lease's MicroTimes; validity is judged on the reactor's monotonic clock.
    private let wallClock: WallClock
    private let logger: Logger
    /// The Lease as last read or written: its resourceVersion conditions the next PUT.
    private var lease: JSONValue?
    /// The record as last seen, and when (local monotonic clock) it was first seen that way.
    private var observedRecord: LeaseRecord?
    private var observedAt: MonotonicInstant?
    /// Leading is valid until then; nil when not leading.
    private var validUntil: MonotonicInstant?
    private var deadlineTimer: ReactorSource?
    private var retryTimer: ReactorSource?
    /// At most one request in flight; results of an attempt from before `stop` are ignored.
    private var requestInFlight = false
    /// The watch saw something worth acting on while a request was in flight: act after it.
    private var attemptAfterRequest = false
    private var running = false
    private var leaseWatch: Informer?

    public init(configuration: LeaderElectionConfiguration, client: KubeClient, reactor: Reactor, logger: Logger,
                wallClock: WallClock = .system) {
        self.configuration = configuration
        self.client = client
        self.reactor = reactor
        self.wallClock = wallClock
        self.logger = logger
    }

    public var isLeader: Bool { role == .leader }

    /// Starts campaigning at once.
    public func start() {
        guard !running else { return }
        running = true
        logger.info(
            "leader election started",
            metadata: ["lease": "\(configuration.namespace)/\(configuration.name)", "identity": "\(configuration.identity)"])
        watchLease()
        attempt()
    }

    /// (Re)starts the watch on the Lease object, with the current client.
    private func watchLease() {
        leaseWatch?.stop()
        let options = Informer.Options(
            resource: .leases, namespace: configuration.namespace,
            selectors: Selectors(field: "metadata.name=\(configuration.name)"), streamingList: false)
        let watch = Informer(client: client, options: options) { [weak self] event in
            switch event {
            case .listed(let object), .added(let object), .modified(let object):
                if let lease = object.object { self?.watched(lease) }
            case .replaceBegin, .replaceEnd, .deleted:
                break
            }
        }
        leaseWatch = watch
        watch.start()
    }

    /// A standby saw the Lease change: note when (our clock), and take it if it was released,
    /// else come back exactly when it would expire.
    private func watched(_ lease: JSONValue) {
        guard running, !isLeader else { return }
        let record = LeaseRecord(lease: lease)
        guard record.holderIdentity != configuration.identity else { return }
        if record != observedRecord {
            observedRecord = record
            observedAt = reactor.now
            self.lease = lease
        }
        if requestInFlight {
            attemptAfterRequest = true
            return
        }
        if record.holderIdentity.isEmpty {
            if let retryTimer { reactor.cancel(retryTimer) }
            retryTimer = nil
            judge(lease)
        } else if let observedAt {
            let expires = observedAt + .seconds(record.leaseDurationSeconds)
            if reactor.now < expires {
                // The watch names the holder, as a read would. It must: while the holder's
                // renewals keep arriving they keep deferring the poll, so a standby that lost
                // the race to create the lease would never read it and never learn who leads.
                standBy(behind: record, expires: expires)
            } else {
                scheduleAttempt(after: .zero)
            }
        }
    }

    /// A request ended; if the watch saw a change meanwhile, judge again now.
    private func requestEnded() {
        guard attemptAfterRequest, !requestInFlight else { return }
        attemptAfterRequest = false
        if running, !isLeader { scheduleAttempt(after: .zero) }
    }

    /// Stops campaigning. A leader first stops leading (the gate closes), then releases the
    /// lease — holder "" and a one-second duration — so a standby takes over within its next
    /// retry instead of a whole lease duration. `done` runs once the release is answered, or
    /// after `bound` if the server does not answer in time.
    public func stop(releaseWithin bound: Duration, done: @escaping () -> Void) {
        guard running else { return done() }
        running = false
        leaseWatch?.stop()
        leaseWatch = nil
        cancelTimers()
        guard isLeader, let lease, validUntil.map({ reactor.now < $0 }) == true else {
            if isLeader { demote(reason: "stopping") }
            return done()
        }
        demote(reason: "stopping")
        var finished = false
        let finish = { [weak self] in
            guard !finished else { return }
            finished = true
            if let timer = self?.retryTimer { self?.reactor.cancel(timer) }
            self?.retryTimer = nil
            done()
        }
        retryTimer = try? reactor.addTimer(after: bound) { [weak self] in
            self?.retryTimer = nil
            self?.logger.warning("lease release not answered in time; the lease expires on its own")
            finish()
        }
        release(lease, retryOnConflict: true, finish: finish)
    }

    /// PUTs holder "" on `lease`. A renewal still in flight may have moved the resourceVersion
    /// on: on 409 read the lease once more and release it if it is still ours.
    private func release(_ lease: JSONValue, retryOnConflict: Bool, finish: @escaping () -> Void) {
        let now = Timestamp.microTime(wallClock.now)
        let record = LeaseRecord(
            holderIdentity: "", leaseDurationSeconds: 1, acquireTime: now, renewTime: now,
            leaseTransitions: LeaseRecord(lease: lease).leaseTransitions)
        let (namespace, name) = (configuration.namespace, configuration.name)
        client.update(.leases, namespace: namespace, name: name, object: record.replacingSpec(of: lease)) { [weak self] result in
            guard let self else { return finish() }
            switch result {
            case .success:
                self.logger.info("lease released")
                finish()
            case .failure(let error) where error.status?.isConflict == true && retryOnConflict:
                self.client.get(.leases, namespace: namespace, name: name) { [weak self] result in
                    guard let self, case .success(let current) = result,
                        LeaseRecord(lease: current).holderIdentity == self.configuration.identity
                    else { return finish() }
                    self.release(current, retryOnConflict: false, finish: finish)
                }
            case .failure(let error):
                self.logger.warning("lease release failed; the lease expires on its own: \(error)")
                finish()
            }
        }
    }

    // MARK: - The loop

    private func scheduleAttempt(after delay: Duration) {
        guard running else { return }
        if let retryTimer { reactor.cancel(retryTimer) }
        retryTimer = nil
        do {
            retryTimer = try reactor.addTimer(after: delay) { [weak self] in
                self?.retryTimer = nil
                self?.attempt()
            }
        } catch {
            // Only exhaustion of the timer heap fails; try again from the loop's next turn.
            logger.error("cannot arm the leader election timer: \(error)")
            reactor.runSoon { [weak self] in self?.attempt() }
        }
    }

    /// Candidates wait between `retryPeriod` and `jitterFactor × retryPeriod` so that several of
    /// them do not hit the server in lockstep; a leader renews every `retryPeriod`.
    private func nextDelay() -> Duration {
        if isLeader { return configuration.retryPeriod }
        return configuration.retryPeriod * Double.random(in: 1..<LeaderElectionConfiguration.jitterFactor)
    }

    private func attempt() {
        guard running, !requestInFlight else { return }
        if isLeader, let lease {
            renew(lease)
        } else {
            read()
        }
    }

    /// The leader's fast path: PUT on the Lease as we last wrote it. A 409 means someone else
    /// wrote it since: read it and judge again.
    private func renew(_ lease: JSONValue) {
        var record = LeaseRecord(lease: lease)
        record.renewTime = Timestamp.microTime(wallClock.now)
        record.leaseDurationSeconds = configuration.leaseDurationSeconds
        write(record.replacingSpec(of: lease), create: false)
    }

    private func read() {
        requestInFlight = true
        client.get(.leases, namespace: configuration.namespace, name: configuration.name) { [weak self] result in
            guard let self else { return }
            defer { self.requestEnded() }
            self.requestInFlight = false
            guard self.running else { return }
            switch result {
            case .success(let lease):
                self.lastError = nil
                self.judge(lease)
            case .failure(let error) where error.status?.isNotFound == true:
                self.lastError = nil
                self.create()
            case .failure(let error):
                self.failed("cannot read the lease", error)
            }
        }
    }

    private func judge(_ lease: JSONValue) {
        self.lease = lease
        let record = LeaseRecord(lease: lease)
        let now = reactor.now
        if record != observedRecord {
            observedRecord = record
            observedAt = now
        }
        let expires = observedAt! + .seconds(record.leaseDurationSeconds)
        if !record.holderIdentity.isEmpty, record.holderIdentity != configuration.identity, now < expires {
            demote(reason: "the lease is held by \(record.holderIdentity)")
            standBy(behind: record, expires: expires)
            return
        }
        let time = Timestamp.microTime(wallClock.now)
        var next = record
        if record.holderIdentity != configuration.identity {
            next.acquireTime = time
            next.leaseTransitions = record.leaseTransitions + 1
        }
        next.holderIdentity = configuration.identity
        next.renewTime = time
        next.leaseDurationSeconds = configuration.leaseDurationSeconds
        write(next.replacingSpec(of: lease), create: false)
    }

    private func create() {
        let time = Timestamp.microTime(wallClock.now)
        let record = LeaseRecord(
            holderIdentity: configuration.identity, leaseDurationSeconds: configuration.leaseDurationSeconds,
            acquireTime: time, renewTime: time, leaseTransitions: 0)
        write(record.newLease(namespace: configuration.namespace, name: configuration.name), create: true)
    }

    /// Sends a create or a conditional PUT that makes us the holder. Leadership then lasts until
    /// `renewDeadline` after this moment, the sending, not the answer.
    private func write(_ object: JSONValue, create: Bool) {
        let sent = reactor.now
        requestInFlight = true
        let completion: (Result<JSONValue, KubeClientError>) -> Void = { [weak self] result in
            guard let self else { return }
            defer { self.requestEnded() }
            self.requestInFlight = false
            guard self.running else { return }
            switch result {
            case .success(let written):
                self.lastError = nil
                self.lease = written
                self.observedRecord = LeaseRecord(lease: written)
                self.observedAt = self.reactor.now
                self.renewed(sentAt: sent)
            case .failure(let error) where error.status?.isConflict == true || error.status?.isAlreadyExists == true:
                // Someone else wrote the lease between our read and our write: read it again.
                self.lastError = nil
                self.logger.debug("lease changed under us; reading it again")
                self.lease = nil
                self.scheduleAttempt(after: self.isLeader ? .zero : self.nextDelay())
            case .failure(let error):
                self.failed(create ? "cannot create the lease" : "cannot write the lease", error)
            }
        }
        if create {
            client.create(.leases, namespace: configuration.namespace, object: object, completion: completion)
        } else {
            client.update(.leases, namespace: configuration.namespace, name: configuration.name, object: object, completion: completion)
        }
    }

    private func renewed(sentAt sent: MonotonicInstant) {
        let until = sent + configuration.renewDeadline
        guard reactor.now < until else {
            // The answer came too late to count; the lease is ours, so the next attempt renews it.
            logger.warning("lease renewal answered after the renew deadline; not leading on it")
            scheduleAttempt(after: .zero)
            return
        }
        validUntil = until
        armDeadline(until)
        if !isLeader {
            logger.notice(
                "became the leader",
                metadata: ["lease": "\(configuration.namespace)/\(configuration.name)", "identity": "\(configuration.identity)"])
            role = .leader
            onRoleChange?(.leader)
        }
        scheduleAttempt(after: nextDelay())
    }

    private func armDeadline(_ deadline: MonotonicInstant) {
        if let deadlineTimer, reactor.rearm(deadlineTimer, at: deadline) { return }
        deadlineTimer = try? reactor.addTimer(at: deadline) { [weak self] in
            guard let self else { return }
            self.deadlineTimer = nil
            guard let validUntil = self.validUntil, self.reactor.now >= validUntil else { return }
            self.demote(reason: "no successful renewal within the renew deadline (\(self.configuration.renewDeadline))")
            self.scheduleAttempt(after: .zero)
        }
        if deadlineTimer == nil {
            // Without a timer we cannot bound our leadership: do not take it.
            demote(reason: "cannot arm the renew-deadline timer")
        }
    }

    private func failed(_ what: String, _ error: KubeClientError) {
        let message = "\(what): \(error)"
        // A lasting problem (a missing namespace, the API down) is said once, not every retry.
        logger.log(
            level: message == lastError ? .debug : .warning, "\(message)",
            metadata: ["lease": "\(configuration.namespace)/\(configuration.name)"])
        lastError = message
        scheduleAttempt(after: nextDelay())
    }

    private func demote(reason: String) {
        validUntil = nil
        if let deadlineTimer { reactor.cancel(deadlineTimer) }
        deadlineTimer = nil
        guard isLeader else { return }
        logger.warning("stopped leading: \(reason)", metadata: ["identity": "\(configuration.identity)"])
        role = .standby(holder: nil)
        onRoleChange?(role)
    }

    /// Someone else holds a live lease: say who, and try again at the next poll or the moment
    /// the lease would expire, whichever comes first (the watch usually brings the next
    /// change before either).
    private func standBy(behind record: LeaseRecord, expires: MonotonicInstant) {
        let standby = Role.standby(holder: record.holderIdentity)
        if role != standby {
            logger.info("standing by", metadata: ["leader": "\(record.holderIdentity)"])
            role = standby
            onRoleChange?(standby)
        }
        scheduleAttempt(after: max(.zero, min(nextDelay(), reactor.now.duration(to: expires))))
    }

    private func cancelTimers() {
        if let retryTimer { reactor.cancel(retryTimer) }
        if let deadlineTimer { reactor.cancel(deadlineTimer) }
        retryTimer = nil
        deadlineTimer = nil
    }
}
