/// The engine's own requests race its watches: the answer to a write or a read can arrive
/// after the watch event of a later change of the same object (the server answered, then the
/// object changed, and the event overtook the answer on its way). Cached, such an answer would
/// put the older state back where nothing corrects it: the watch has already said its last
/// word about the object, and self-heal replans from the caches. A source deleted while the
/// answer to its finalizer patch was on its way would be held as alive for ever.
///
/// So each request takes a ticket for the object it concerns, and every watch event about
/// that object while tickets are out marks them; an answer whose ticket was marked is older
/// than (or as old as) what the watch said, and is not cached: the watch delivers that
/// version, or a newer one, anyway. Nothing is compared but the order of arrival, so
/// resourceVersions stay opaque, and nothing is kept for objects no request is waiting on.
///
/// A replica create or update takes a write ticket: while one is out, a watch event about the
/// object is, as a rule, the echo of that write arriving before its answer
/// (``isBeingWritten(_:)``).
struct AnswerTickets<Key: Hashable> {
    struct Ticket {
        let key: Key
        fileprivate let issuedAt: UInt64
        fileprivate let isWrite: Bool
    }

    /// Tickets out for one object, and how many of them are writes.
    private struct Out {
        var tickets = 0
        var writes = 0

        mutating func add(writing: Bool) {
            tickets += 1
            if writing { writes += 1 }
        }
    }

    private var outstanding: [Key: Out] = [:]
    /// The last watch news of an object tickets are out for.
    private var lastNews: [Key: UInt64] = [:]
    private var clock: UInt64 = 0

    var isEmpty: Bool { outstanding.isEmpty && lastNews.isEmpty }

    /// A ticket for a request about `key`; `writing` for a create or update of it.
    mutating func issue(for key: Key, writing: Bool = false) -> Ticket {
        outstanding[key, default: Out()].add(writing: writing)
        return Ticket(key: key, issuedAt: clock, isWrite: writing)
    }

    /// Whether a create or update of the object is waiting for its answer.
    func isBeingWritten(_ key: Key) -> Bool {
        !outstanding.isEmpty && (outstanding[key]?.writes ?? 0) > 0
    }

    /// A watch event (or a relist) said something about `key`.
    mutating func news(of key: Key) {
        guard outstanding[key] != nil else { return }
        clock += 1
        lastNews[key] = clock
    }

    /// Whether the answer the ticket was taken for is still the newest word about its object;
    /// gives the ticket back.
    mutating func redeem(_ ticket: Ticket) -> Bool {
        let current = (lastNews[ticket.key] ?? 0) <= ticket.issuedAt
        if var out = outstanding[ticket.key], out.tickets > 1 {
            out.tickets -= 1
            if ticket.isWrite { out.writes -= 1 }
            outstanding[ticket.key] = out
        } else {
            outstanding[ticket.key] = nil
            lastNews[ticket.key] = nil
        }
        return current
    }
}
