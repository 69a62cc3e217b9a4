import SpillwayContract

/// A kind and a name: every object of it, in whatever namespace, competes for the same
/// replica slots (two sources with one name, a replica and an unmanaged object of that name).
struct NameKey: Hashable, Sendable {
    var kind: Kind
    var name: String

    init(kind: Kind, name: String) {
        self.kind = kind
        self.name = name
    }

    init(_ key: ObjectKey) {
        self.init(kind: key.kind, name: key.name)
    }

    func key(in namespace: String) -> ObjectKey {
        ObjectKey(kind: kind, namespace: namespace, name: name)
    }
}

/// A one-to-many index: `NameKey` → namespaces, owner → replica keys.
struct MultiIndex<Key: Hashable, Value: Hashable> {
    private(set) var storage: [Key: Set<Value>] = [:]

    subscript(key: Key) -> Set<Value> { storage[key] ?? [] }

    mutating func insert(_ value: Value, at key: Key) {
        storage[key, default: []].insert(value)
    }

    mutating func remove(_ value: Value, at key: Key) {
        // In place: a copy of the set would cost its size on every remove (a source's replicas
        // are one set, and every write to one of them goes through here).
        guard let index = storage.index(forKey: key) else { return }
        storage.values[index].remove(value)
        if storage.values[index].isEmpty { storage.remove(at: index) }
    }
}
