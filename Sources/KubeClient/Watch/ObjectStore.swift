import KubeWire

/// A consumer that keeps every object an informer delivers: for small resources (namespaces)
/// and for tests. It turns the informer's bracketed relists into plain changes, so `onChange`
/// sees additions, updates and the deletions of whatever vanished while the watch was down.
public final class ObjectStore {
    public enum Change: Sendable {
        case added(KubeObject)
        case updated(old: KubeObject, new: KubeObject)
        case deleted(KubeObject)
    }

    public private(set) var objects: [NamespacedName: KubeObject] = [:]
    /// Called for every change, on the thread that feeds the store (the reactor thread).
    public var onChange: ((Change) -> Void)?
    private var seen: Set<NamespacedName>?

    public init(onChange: ((Change) -> Void)? = nil) {
        self.onChange = onChange
    }

    public subscript(key: NamespacedName) -> KubeObject? { objects[key] }

    /// Feeds one informer event; pass this as (or from) the informer's handler.
    public func apply(_ event: InformerEvent) {
        switch event {
        case .replaceBegin:
            seen = []
        case .listed(let o):
            seen?.insert(o.key)
            upsert(o)
        case .replaceEnd:
            guard let seen else { return }
            self.seen = nil
            for (key, old) in objects where !seen.contains(key) {
                objects[key] = nil
                onChange?(.deleted(old))
            }
        case .added(let o), .modified(let o):
            upsert(o)
        case .deleted(let o):
            if let old = objects.removeValue(forKey: o.key) { onChange?(.deleted(old)) }
        }
    }

    private func upsert(_ o: KubeObject) {
        if let old = objects.updateValue(o, forKey: o.key) {
            if old.metadata.resourceVersion != o.metadata.resourceVersion { onChange?(.updated(old: old, new: o)) }
        } else {
            onChange?(.added(o))
        }
    }
}
