import KubeWire
import SpillwayReactor

/// What the client's own traffic says about the API server: when it last said anything, and
/// whether it can be worked with. Every answer to a request, every byte of a watch stream and
/// every transport failure updates it; nothing is sent to find out (see ``SilenceProbe`` for
/// the one exception, after a silence).
public struct ServerContact: Sendable, Equatable {
    /// When the server last said anything: an answer to any request, bytes on a watch.
    public var lastHeard: MonotonicInstant
    /// The last attempt that got no answer (connection refused or reset, TLS, timeout), until
    /// the server is heard from again.
    public var unreachable: String?
    /// The server refuses these credentials (401 after the client's own refresh), until any
    /// request succeeds.
    public var credentialsRejected: String?
    /// Resources the server refuses to let us list or watch (403), by the collection's path,
    /// until a list or watch of that path succeeds.
    public var refusedReads: [String: String] = [:]

    /// Why the server cannot be worked with right now, or nil.
    public var problem: String? {
        if let unreachable { return unreachable }
        if let credentialsRejected { return "credentials rejected: \(credentialsRejected)" }
        return refusedReads.sorted { $0.key < $1.key }.first.map(\.value)
    }
}

extension KubeClient {
    /// The server answered (any status): it is there.
    func heard(_ call: Call, status: Int) {
        contact.lastHeard = transport.now
        guard (200..<300).contains(status) else {
            let changed = contact.unreachable != nil
            contact.unreachable = nil
            if changed { contactChanged() }
            return
        }
        var changed = contact.unreachable != nil || contact.credentialsRejected != nil
        contact.unreachable = nil
        contact.credentialsRejected = nil
        if call.verb == .list || call.verb == .watch, contact.refusedReads.removeValue(forKey: Self.collection(call.path)) != nil {
            changed = true
        }
        if changed { contactChanged() }
    }

    /// Bytes of a watch stream arrived.
    func heardStream() {
        contact.lastHeard = transport.now
        if contact.unreachable != nil {
            contact.unreachable = nil
            contactChanged()
        }
    }

    /// A request's final answer was a refusal (the 401 refresh and retries are behind it).
    func refused(_ call: Call, _ status: StatusError) {
        switch status.code {
        case 401:
            contact.credentialsRejected = "\(status)"
        case 403 where call.verb == .list || call.verb == .watch:
            let path = Self.collection(call.path)
            let resource = path.split(separator: "/").last.map(String.init) ?? path
            contact.refusedReads[path] = "not allowed to read \(resource): \(status)"
        default:
            return
        }
        contactChanged()
    }

    /// An attempt got no answer.
    func unreachable(_ error: KubeClientError) {
        let message = "\(error)"
        guard contact.unreachable != message else { return }
        contact.unreachable = message
        contactChanged()
    }

    private func contactChanged() {
        onContactChange?(contact)
    }

    /// The path without its query: a collection's identity.
    private static func collection(_ path: String) -> String {
        path.firstIndex(of: "?").map { String(path[..<$0]) } ?? path
    }
}

/// Asks the API server whether it is there only when it has been silent: after `silence`
/// without a word from it — no answer, no watch event, no bookmark — one cheap request (a
/// metadata-only GET of a namespace) goes out, and its answer or failure updates
/// ``KubeClient/contact`` like any other. A client whose watches deliver — events, bookmarks,
/// or the answer to an informer reopening a watch that went idle — therefore sends nothing to
/// find out, given a `silence` longer than the informers' idle timeout.
///
/// libcurl would be the natural place for an HTTP/2 PING instead, but the libcurl this runs
/// on (7.88) sends one only from `curl_easy_upkeep`, which covers the connections of
/// `curl_easy_perform`'s private multi handle, not those of the reactor's own multi handle.
public final class SilenceProbe {
    public let silence: Duration
    private let client: KubeClient
    private let namespace: String
    private var timer: ReactorSource?
    private var probing = false
    private var running = false

    /// Probes by reading `namespace` (metadata only; any answer, even 404, proves the server is there).
    public init(client: KubeClient, silence: Duration, namespace: String = "kube-system") {
        self.client = client
        self.silence = silence
        self.namespace = namespace
    }

    /// Requests sent so far.
    public private(set) var probes = 0

    public func start() {
        guard !running else { return }
        running = true
        arm()
    }

    public func stop() {
        running = false
        client.transport.cancelTimer(timer)
        timer = nil
    }

    /// The start of the current silence: the server's last word, or the last probe if it
    /// went unanswered (a failed probe is repeated after another silence, not at once;
    /// meanwhile the watches retry every second or two anyway).
    private var quietSince: MonotonicInstant {
        guard let lastProbe else { return client.contact.lastHeard }
        return max(lastProbe, client.contact.lastHeard)
    }
    private var lastProbe: MonotonicInstant?

    private func arm() {
        guard running else { return }
        timer = client.transport.schedule(after: silence - (client.transport.now - quietSince)) { [weak self] in
            guard let self else { return }
            self.timer = nil
            self.check()
        }
    }

    private func check() {
        guard running, !probing else { return }
        guard client.transport.now - quietSince >= silence else { return arm() }
        probing = true
        probes += 1
        lastProbe = client.transport.now
        client.get(.namespaces, namespace: nil, name: namespace, metadataOnly: true) { [weak self] _ in
            // The answer, or the failure, has updated the client's contact like any request's.
            guard let self else { return }
            self.probing = false
            self.arm()
        }
    }
}
