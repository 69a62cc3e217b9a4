import SpillwayContract

/// One copy of the values many cached objects carry alike. Every replica of a source has the
/// same labels, the same annotations and the same content fingerprint, and its namespace's name
/// is shared with every other replica there; decoded from each replica's own bytes, they would
/// be as many copies (a dictionary and its strings each, about a kilobyte per replica at
/// 10,000 replicas: BENCHMARKS.md, "Memory"). Swift's values share their storage when one is
/// assigned from another, so handing out the copy already held keeps one.
///
/// Values that no object uses any more are not tracked: the table is dropped whole once it
/// holds `limit` values (edited sources leave old fingerprints behind), and objects cached
/// before keep the storage they share.
struct SharedValues<Value: Hashable> {
    private var values: Set<Value> = []
    private let limit: Int

    init(limit: Int = 4096) {
        self.limit = limit
    }

    /// `value`, or the equal value already held.
    mutating func share(_ value: Value) -> Value {
        let (inserted, member) = values.insert(value)
        if inserted && values.count > limit {
            values = [value]
        }
        return member
    }
}

/// The shared values of cached objects' metadata and content summaries.
struct SharedMetadata {
    private var maps = SharedValues<[String: String]>()
    private var strings = SharedValues<String>()

    /// `object` with its labels, annotations, namespace and fingerprint shared with equal ones.
    mutating func share(_ object: ObservedObject) -> ObservedObject {
        var shared = object
        shared.labels = maps.share(object.labels)
        shared.annotations = maps.share(object.annotations)
        shared.namespace = strings.share(object.namespace)
        if let fingerprint = object.content?.fingerprint { shared.content?.fingerprint = strings.share(fingerprint) }
        return shared
    }
}
