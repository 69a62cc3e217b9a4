/// Composes the one-line STATUS= that `systemctl status spillwayd` shows, from the figures the
/// engine and leader election feed it, and sends it only when the line changes. Confined to the
/// reactor thread, like everything that feeds it.
public final class StatusReporter {
    public enum Phase: Equatable, Sendable {
        case starting, syncing, running, stopping
    }

    public enum Role: Equatable, Sendable {
        /// Leader election is off: this process is the only writer.
        case single
        case leader
        /// A warm standby; the name is the current holder if known.
        case standby(leader: String?)
    }

    public var phase: Phase = .starting { didSet { publish() } }
    public var role: Role = .single { didSet { publish() } }
    public var sources = 0 { didSet { publish() } }
    public var replicas = 0 { didSet { publish() } }
    public var conflicts = 0 { didSet { publish() } }
    /// The latest error an operator should see; nil clears it.
    public var lastError: String? { didSet { publish() } }
    /// The target clusters that are not ready, each as `name: state` (empty: all are, or none is
    /// configured).
    public var clusters: [String] = [] { didSet { publish() } }

    private let send: (String) -> Void
    private var lastSent: String?

    /// `send` receives each new line (the daemon passes `Notifier.status`).
    public init(send: @escaping (String) -> Void) {
        self.send = send
    }

    public var line: String {
        var parts: [String] = []
        switch phase {
        case .starting: parts.append("Starting")
        case .syncing: parts.append("Syncing caches")
        case .running: parts.append("\(sources) sources, \(replicas) replicas, \(conflicts) conflicts")
        case .stopping: parts.append("Stopping")
        }
        switch role {
        case .single: break
        case .leader: parts.append("leader")
        case .standby(let leader?): parts.append("standby (leader: \(leader))")
        case .standby(nil): parts.append("standby")
        }
        if !clusters.isEmpty { parts.append("clusters not ready: \(clusters.joined(separator: ", "))") }
        if let lastError { parts.append("last error: \(lastError)") }
        return parts.joined(separator: "; ")
    }

    private func publish() {
        let current = line
        guard current != lastSent else { return }
        lastSent = current
        send(current)
    }
}
