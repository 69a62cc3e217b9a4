/// The metadata the engine needs of every object it sees, and nothing more.
///
/// Metadata-only watches (PartialObjectMetadata) decode into this compact form so that the
/// hundred-thousandth unrelated Secret costs a few hundred bytes while it is looked at and
/// nothing once the consumer drops it.
public struct ObjectMeta: Sendable, Hashable {
    public var name: String
    public var namespace: String?
    public var uid: String
    public var resourceVersion: String
    public var generation: Int64
    public var creationTimestamp: String?
    public var deletionTimestamp: String?
    public var labels: [String: String]
    public var annotations: [String: String]
    public var finalizers: [String]

    public init(
        name: String, namespace: String? = nil, uid: String = "", resourceVersion: String = "",
        generation: Int64 = 0, creationTimestamp: String? = nil, deletionTimestamp: String? = nil,
        labels: [String: String] = [:], annotations: [String: String] = [:], finalizers: [String] = []
    ) {
        self.name = name
        self.namespace = namespace
        self.uid = uid
        self.resourceVersion = resourceVersion
        self.generation = generation
        self.creationTimestamp = creationTimestamp
        self.deletionTimestamp = deletionTimestamp
        self.labels = labels
        self.annotations = annotations
        self.finalizers = finalizers
    }

    /// Decodes `metadata` of an object (full or PartialObjectMetadata). Returns nil when the
    /// object has no metadata or no name.
    public init?(object: JSONValue) {
        guard let m = object["metadata"], let name = m["name"]?.stringValue else { return nil }
        self.name = name
        self.namespace = m["namespace"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        self.uid = m["uid"]?.stringValue ?? ""
        self.resourceVersion = m["resourceVersion"]?.stringValue ?? ""
        self.generation = m["generation"]?.intValue ?? 0
        self.creationTimestamp = m["creationTimestamp"]?.stringValue
        self.deletionTimestamp = m["deletionTimestamp"]?.stringValue
        self.labels = m["labels"]?.stringMap ?? [:]
        self.annotations = m["annotations"]?.stringMap ?? [:]
        self.finalizers = m["finalizers"]?.arrayValue?.compactMap(\.stringValue) ?? []
    }

    /// Decodes the `metadata` of the one JSON object in `bytes`, skipping everything else
    /// without building it (``decode(jsonObject:)``). Nil when the bytes are not JSON or the
    /// object has no name.
    public init?(jsonObject bytes: UnsafeRawBufferPointer) {
        guard case .success(let meta?) = ObjectMeta.decode(jsonObject: bytes) else { return nil }
        self = meta
    }

    /// `namespace/name`, or `name` for cluster-scoped objects: the key informers and stores use.
    public var key: NamespacedName { NamespacedName(namespace: namespace, name: name) }
}

/// Identity of an object within one resource (apimachinery `types.NamespacedName`).
public struct NamespacedName: Sendable, Hashable, Comparable, CustomStringConvertible {
    public var namespace: String?
    public var name: String

    public init(namespace: String?, name: String) {
        self.namespace = namespace
        self.name = name
    }

    public var description: String {
        if let namespace { return "\(namespace)/\(name)" }
        return name
    }

    public static func < (a: NamespacedName, b: NamespacedName) -> Bool {
        ((a.namespace ?? ""), a.name) < ((b.namespace ?? ""), b.name)
    }
}

/// An object as a watch or list delivered it: its decoded metadata, and the whole JSON object
/// unless the informer runs metadata-only (then `object` is nil and nothing else is retained).
public struct KubeObject: Sendable, Hashable {
    public var metadata: ObjectMeta
    public var object: JSONValue?

    public init(metadata: ObjectMeta, object: JSONValue?) {
        self.metadata = metadata
        self.object = object
    }

    /// Decodes a JSON object; `keepBody` false drops everything but the metadata.
    public init?(json: JSONValue, keepBody: Bool) {
        guard let meta = ObjectMeta(object: json) else { return nil }
        self.metadata = meta
        self.object = keepBody ? json : nil
    }

    public var key: NamespacedName { metadata.key }
}
