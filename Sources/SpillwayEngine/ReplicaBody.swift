import KubeWire
import SpillwayContract

/// The JSON of a replica write, encoded once and reused for every replica of a pass that has
/// the same content: a source's replicas differ only in their namespace (and in `expires-at`,
/// when set), and the namespace is left out of the body, since the request's path names it and
/// the API server fills it in. An update adds its precondition (uid, resourceVersion) to the
/// metadata members; the rest of the bytes are the shared encoding.
///
/// Without it, a pass writing one source into N namespaces built and encoded N JSON trees
/// (every label, annotation and data value, Secret data in base64) that differ in one field.
struct ReplicaBody {
    /// The replica this was encoded from, its namespace blanked.
    private let shape: Replica
    /// `"annotations":{…},"labels":{…},"name":"…"`: the metadata object's members.
    private let metadataMembers: [UInt8]
    /// `"apiVersion":"v1","data":{…},"kind":"…",…`: the object's other members.
    private let otherMembers: [UInt8]
    /// The digest of the content, cached with each replica the body writes (one SHA-256 per
    /// encoding, not one per write answer).
    let digest: ContentDigest

    init(_ replica: Replica) {
        shape = Self.shape(of: replica)
        digest = replica.payload.digest
        guard case .object(var object) = ObjectCoding.body(of: shape),
              case .object(var metadata)? = object.removeValue(forKey: "metadata") else {
            preconditionFailure("ObjectCoding.body is an object with a metadata object")
        }
        metadata["namespace"] = nil
        metadataMembers = Self.members(of: .object(metadata))
        otherMembers = Self.members(of: .object(object))
    }

    /// Whether `replica` has this body's content, in whatever namespace. Replicas rendered from
    /// one template share their dictionaries' storage, so this compares in constant time.
    func fits(_ replica: Replica) -> Bool {
        replica.key.kind == shape.key.kind && replica.key.name == shape.key.name && replica.labels == shape.labels
            && replica.annotations == shape.annotations && replica.payload == shape.payload
    }

    /// The body of a create, or with a precondition the body of the update that the server
    /// refuses (409) unless the object still has that uid and resourceVersion.
    func bytes(precondition: Precondition? = nil) -> [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity(metadataMembers.count + otherMembers.count + 96)
        out.append(contentsOf: #"{"metadata":{"#.utf8)
        if let precondition {
            out.append(contentsOf: #""resourceVersion":"#.utf8)
            JSONValue.encodeString(precondition.resourceVersion, into: &out)
            out.append(contentsOf: #","uid":"#.utf8)
            JSONValue.encodeString(precondition.uid, into: &out)
            out.append(UInt8(ascii: ","))
        }
        out.append(contentsOf: metadataMembers)
        out.append(contentsOf: "},".utf8)
        out.append(contentsOf: otherMembers)
        out.append(UInt8(ascii: "}"))
        return out
    }

    private static func shape(of replica: Replica) -> Replica {
        var shape = replica
        shape.key.namespace = ""
        return shape
    }

    /// An object's encoding without its braces; never empty here (a replica's metadata has a
    /// name, the object an apiVersion).
    private static func members(of object: JSONValue) -> [UInt8] {
        let encoded = object.encoded()
        return Array(encoded.dropFirst().dropLast())
    }
}

extension Reconciliation {
    /// The encoding that writes `replica`: the pass's last one when the replica has its content
    /// (the common case: every write of one source's pass), else a new one kept for the next.
    func body(of replica: Replica) -> ReplicaBody {
        if let encoded = replicaBody, encoded.fits(replica) { return encoded }
        let encoded = ReplicaBody(replica)
        replicaBody = encoded
        return encoded
    }
}
