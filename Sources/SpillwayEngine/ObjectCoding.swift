import FoundationEssentials
import KubeClient
import KubeWire
import SpillwayContract

/// Translation between the API's JSON objects and the contract's plain values.
enum ObjectCoding {
    static func resource(_ kind: Kind) -> Resource {
        switch kind {
        case .secret: .secrets
        case .configMap: .configMaps
        }
    }

    /// The content of a full Secret or ConfigMap (see ``Payload`` for the shape).
    static func payload(kind: Kind, object: JSONValue) -> Payload {
        let immutable = object["immutable"]?.boolValue ?? false
        switch kind {
        case .secret:
            // `stringData` only appears in manifests (the API folds it into `data`, and it wins
            // there too): `spillwayd plan` reads manifests.
            var data = decodeBase64Map(object["data"])
            for (key, text) in object["stringData"]?.stringMap ?? [:] { data[key] = Array(text.utf8) }
            return Payload(kind: .secret, secretType: object["type"]?.stringValue, immutable: immutable, data: data)
        case .configMap:
            let data = (object["data"]?.stringMap ?? [:]).mapValues { Array($0.utf8) }
            return Payload(kind: .configMap, immutable: immutable, data: data,
                           binaryData: decodeBase64Map(object["binaryData"]))
        }
    }

    /// Base64 values decoded; a value the API would never send (not base64) is kept as its
    /// text bytes, so it still fingerprints differently from any valid content.
    private static func decodeBase64Map(_ value: JSONValue?) -> [String: [UInt8]] {
        (value?.stringMap ?? [:]).mapValues { text in
            Data(base64Encoded: text).map { Array($0) } ?? Array(text.utf8)
        }
    }

    /// The JSON body that writes `replica`; with a precondition, the PUT body that is refused
    /// (409) unless the object still has that uid and resourceVersion.
    static func body(of replica: Replica, precondition: Precondition? = nil) -> JSONValue {
        var metadata: JSONValue = [
            "name": .string(replica.key.name),
            "namespace": .string(replica.key.namespace),
            "labels": .stringMap(replica.labels),
            "annotations": .stringMap(replica.annotations),
        ]
        if let precondition {
            metadata["uid"] = .string(precondition.uid)
            metadata["resourceVersion"] = .string(precondition.resourceVersion)
        }
        var object: JSONValue = [
            "apiVersion": "v1",
            "kind": .string(replica.key.kind.rawValue),
            "metadata": metadata,
        ]
        for (field, value) in content(of: replica.payload, kind: replica.key.kind) {
            object[field] = value
        }
        return object
    }

    /// The content fields of an object: `data` (and a ConfigMap's `binaryData`, when it has
    /// any), a Secret's `type`, and `immutable` when set.
    static func content(of payload: Payload, kind: Kind) -> [(field: String, value: JSONValue)] {
        var fields: [(field: String, value: JSONValue)] = []
        if payload.immutable { fields.append(("immutable", true)) }
        switch kind {
        case .secret:
            fields.append(("type", .string(payload.secretType ?? SecretType.opaque)))
            fields.append(("data", .stringMap(payload.data.mapValues { Data($0).base64EncodedString() })))
        case .configMap:
            fields.append(("data", .stringMap(payload.data.mapValues { String(decoding: $0, as: UTF8.self) })))
            if !payload.binaryData.isEmpty {
                fields.append(("binaryData", .stringMap(payload.binaryData.mapValues { Data($0).base64EncodedString() })))
            }
        }
        return fields
    }

    static func namespace(_ object: KubeObject) -> NamespaceInfo {
        let phase = object.object?["status"]?["phase"]?.stringValue
        return NamespaceInfo(name: object.metadata.name, labels: object.metadata.labels,
                             annotations: object.metadata.annotations,
                             isTerminating: phase == "Terminating" || object.metadata.deletionTimestamp != nil)
    }

    /// An observed object from its metadata, with the digest of its content when it came
    /// with one.
    static func observed(_ meta: ObjectMeta, content: ContentDigest?) -> ObservedObject {
        ObservedObject(namespace: meta.namespace ?? "", uid: meta.uid, resourceVersion: meta.resourceVersion,
                       labels: meta.labels, annotations: meta.annotations, content: content,
                       deletionTimestamp: deletionDate(meta))
    }

    static func source(_ key: ObjectKey, _ meta: ObjectMeta, payload: Payload?) -> SourceObject {
        SourceObject(key: key, uid: meta.uid, resourceVersion: meta.resourceVersion, labels: meta.labels,
                     annotations: meta.annotations, finalizers: meta.finalizers,
                     deletionTimestamp: deletionDate(meta), payload: payload ?? Payload(kind: key.kind))
    }

    /// The deletion time; an unparseable one still means "being deleted".
    static func deletionDate(_ meta: ObjectMeta) -> Date? {
        meta.deletionTimestamp.map { Timestamp.parse($0) ?? Date(timeIntervalSince1970: 0) }
    }

    static func key(kind: Kind, _ meta: ObjectMeta) -> ObjectKey {
        ObjectKey(kind: kind, namespace: meta.namespace ?? "", name: meta.name)
    }
}
