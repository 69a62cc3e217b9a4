/// ``ObjectMeta`` read straight from an object's bytes (``JSONScanner``): the fields it keeps
/// become values; everything else — a Secret's `data`, `managedFields`, `ownerReferences` — is
/// checked and skipped without building anything. This is what a metadata-only informer pays
/// for each of the 100,000 unrelated Secrets it is shown, and what a write's answer costs.
///
/// It reads exactly what ``ObjectMeta/init(object:)`` reads from the parsed object: a member
/// given twice counts with its last value, a kept field of the wrong type is absent.
extension ObjectMeta {
    /// The `metadata` of the object at `s` (which is left after it), and whether it has a
    /// name (a watch's BOOKMARK has none; ``init(object:)`` requires one). Nil when the object
    /// has no `metadata` object. `other` is handed every other member, positioned at its value
    /// (left alone, the value is skipped). A value that is not an object is an error.
    public static func read(
        object s: inout JSONScanner,
        other: (inout JSONScanner, JSONScanner.Key) throws(JSONParseError) -> Void = { _, _ throws(JSONParseError) in }
    ) throws(JSONParseError) -> (meta: ObjectMeta, named: Bool)? {
        var found: (meta: ObjectMeta, named: Bool)?
        try s.object { s, key throws(JSONParseError) in
            if key == "metadata" {
                found = try read(metadata: &s)
            } else {
                try other(&s, key)
            }
        }
        return found
    }

    /// The `metadata` value at `s`; nil (and skipped) when it is not an object. A missing name
    /// reads as "" with `named` false.
    public static func read(metadata s: inout JSONScanner) throws(JSONParseError) -> (meta: ObjectMeta, named: Bool)? {
        guard s.peekKind() == .object else {
            try s.skipValue()
            return nil
        }
        var name: String?, namespace: String?, uid: String?, resourceVersion: String?
        var generation: Int64?, created: String?, deleted: String?
        var labels: [String: String]?, annotations: [String: String]?, finalizers: [String]?
        try s.object { s, key throws(JSONParseError) in
            // The kept fields, roughly by how often they are there; anything else is skipped.
            if key == "name" {
                name = try s.string()
            } else if key == "namespace" {
                namespace = try s.string()
            } else if key == "uid" {
                uid = try s.string()
            } else if key == "resourceVersion" {
                resourceVersion = try s.string()
            } else if key == "creationTimestamp" {
                created = try s.string()
            } else if key == "labels" {
                labels = try s.stringMap()
            } else if key == "annotations" {
                annotations = try s.stringMap()
            } else if key == "finalizers" {
                finalizers = try s.stringArray()
            } else if key == "generation" {
                generation = try s.int()
            } else if key == "deletionTimestamp" {
                deleted = try s.string()
            }
        }
        let meta = ObjectMeta(
            name: name ?? "", namespace: namespace.flatMap { $0.isEmpty ? nil : $0 }, uid: uid ?? "",
            resourceVersion: resourceVersion ?? "", generation: generation ?? 0, creationTimestamp: created,
            deletionTimestamp: deleted, labels: labels ?? [:], annotations: annotations ?? [:], finalizers: finalizers ?? [])
        return (meta, name != nil)
    }

    /// The metadata of the one JSON object filling `bytes`, read without building the object;
    /// a failure when the bytes are not JSON. Nil inside the success when the object has no
    /// `metadata.name` (or the document is not an object), as ``init(object:)`` says.
    public static func decode(jsonObject bytes: UnsafeRawBufferPointer) -> Result<ObjectMeta?, JSONParseError> {
        var s = JSONScanner(bytes)
        do throws(JSONParseError) {
            try s.begin()
            var read: (meta: ObjectMeta, named: Bool)?
            if s.peekKind() == .object {
                read = try ObjectMeta.read(object: &s)
            } else {
                try s.skipValue()
            }
            try s.end()
            guard let read, read.named else { return .success(nil) }
            return .success(read.meta)
        } catch {
            return .failure(error)
        }
    }
}
