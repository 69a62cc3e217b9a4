import KubeWire
import SpillwayContract

/// The reads one reconcile waits for before it plans (stale content, stale blockers). Each is a
/// GET with an answer ticket (``AnswerTickets``); when the last has answered, `then` runs with
/// whether any answer was overtaken by a watch event about its object — the reconcile then plans
/// again once that news is read, rather than from an older state.
final class ReconcileReads {
    private var outstanding = 0
    private var sealed = false
    private var overtaken = false
    private let then: (_ overtaken: Bool) -> Void

    init(then: @escaping (_ overtaken: Bool) -> Void) {
        self.then = then
    }

    /// Every read has been started: `then` runs now if none is outstanding, else after the last.
    func seal() {
        sealed = true
        finishIfDone()
    }

    fileprivate func begin() {
        outstanding += 1
    }

    fileprivate func end(current: Bool) {
        if !current { overtaken = true }
        outstanding -= 1
        finishIfDone()
    }

    private func finishIfDone() {
        guard sealed, outstanding == 0 else { return }
        sealed = false
        then(overtaken)
    }
}

/// What a read found: the object, or that it does not exist.
enum ReadAnswer {
    case found(JSONValue)
    case gone
}

extension Engine {
    /// GETs `key` as one of `reads`. `apply` gets the answer only while it is the newest word
    /// about the object; an answer a watch event overtook goes to `overtaken` instead (when found),
    /// and makes the reconcile plan again. A failure other than 404 goes to `failed`.
    /// `link` is the cluster it is read from (nil: the watched cluster).
    func read(_ key: ObjectKey, in link: ClusterLink? = nil, as reads: ReconcileReads, failed: @escaping (String) -> Void,
              overtaken: ((JSONValue) -> Void)? = nil, apply: @escaping (ReadAnswer) -> Void) {
        reads.begin()
        let link = link ?? local!
        let ticket = link.state.tickets.issue(for: key)
        link.client.get(ObjectCoding.resource(key.kind), namespace: key.namespace, name: key.name) { [weak self] result in
            guard self != nil else { return }
            let current = link.state.tickets.redeem(ticket)
            switch result {
            case .success(let object): if current { apply(.found(object)) } else { overtaken?(object) }
            case .failure(let error) where error.status?.isNotFound == true: if current { apply(.gone) }
            case .failure(let error): failed("reading \(link.describe(key)) failed: \(error)")
            }
            reads.end(current: current)
        }
    }

    /// Reads, as part of `reads`, the unmanaged objects of `key`'s name a create ran into whose
    /// content is stale, in the cluster `link` (nil: the watched cluster).
    func readStaleBlockers(of key: ObjectKey, in link: ClusterLink? = nil, as reads: ReconcileReads,
                           failed: @escaping (String) -> Void) {
        let link = link ?? local!
        for blocker in link.state.staleBlockers(for: key) {
            read(blocker, in: link, as: reads, failed: failed) { [weak self] answer in
                switch answer {
                case .found(let object): self?.observeExisting(blocker, object, in: link)
                case .gone: link.state.refreshBlocker(blocker, nil)
                }
            }
        }
    }
}
