import FoundationEssentials
import KubeWire

/// An object spillway writes: a replica in one namespace.
public struct Replica: Sendable, Equatable {
    public var key: ObjectKey
    public var labels: [String: String]
    public var annotations: [String: String]
    public var payload: Payload

    public init(key: ObjectKey, labels: [String: String], annotations: [String: String], payload: Payload) {
        self.key = key
        self.labels = labels
        self.annotations = annotations
        self.payload = payload
    }
}

/// What every replica of one source has in common: everything but its namespace and
/// `expires-at`. ownerReferences and managedFields are never part of it (owner references
/// cannot cross namespaces; managed fields belong to the API server).
public struct ReplicaTemplate: Sendable, Equatable {
    public var source: ObjectKey
    public var labels: [String: String]
    public var annotations: [String: String]
    public var payload: Payload

    /// Renders the desired replica content of `source` under `spec`:
    /// - `data`, `binaryData`, `type`, `immutable` copied, then projected by the keys
    ///   (``project(_:includeKeys:excludeKeys:)``) and typed by ``replicaType(_:keys:)``;
    /// - labels copied except `spillway.kroy.io/` keys and `labelDenyPrefixes`, plus
    ///   `spillway.kroy.io/managed-by=spillway`;
    /// - annotations copied except `spillway.kroy.io/` keys and `annotationDenyPrefixes`, plus
    ///   `spillway.kroy.io/source-from: Kind/namespace/name`, and in a target cluster
    ///   `spillway.kroy.io/source-cluster` with the watched cluster's name;
    /// - for a SpillwayProfile's replica, `spillway.kroy.io/profile-ref: namespace/name` too.
    public init(source: SourceObject, spec: ReplicationSpec, options: Options, profile: NamespacedName? = nil,
                placement: Placement = .local) {
        self.source = source.key
        var labels = Self.copyable(source.labels, deny: options.labelDenyPrefixes)
        labels[Vocabulary.managedByLabel] = Vocabulary.managedByValue
        var annotations = Self.copyable(source.annotations, deny: options.annotationDenyPrefixes)
        annotations[Vocabulary.sourceFrom] = source.key.description
        if let profile { annotations[Vocabulary.profileRef] = profile.description }
        if let cluster = placement.replicaSourceCluster {
            annotations[Vocabulary.sourceCluster] = cluster
        }
        self.labels = labels
        self.annotations = annotations
        var payload = Self.project(source.payload, includeKeys: spec.includeKeys, excludeKeys: spec.excludeKeys)
        if let type = payload.secretType {
            payload.secretType = Self.replicaType(type, keys: payload.keys)
        }
        self.payload = payload
    }

    /// The replica for `namespace`, with `expires-at` when given (RFC 3339).
    public func replica(in namespace: String, expiresAt: String?) -> Replica {
        var replica = Replica(key: source.inNamespace(namespace), labels: labels, annotations: annotations, payload: payload)
        if let expiresAt {
            replica.annotations[Vocabulary.expiresAt] = expiresAt
        }
        return replica
    }

    /// Key projection. With `includeKeys`, exactly those keys are kept (of `data` and
    /// `binaryData`) and `excludeKeys` is ignored: include wins, so a key named in both is
    /// kept. Without it, the `excludeKeys` are removed.
    public static func project(_ payload: Payload, includeKeys: Set<String>?, excludeKeys: Set<String>) -> Payload {
        var projected = payload
        let keep: (String) -> Bool = includeKeys.map { include in { include.contains($0) } }
            ?? { !excludeKeys.contains($0) }
        projected.data = payload.data.filter { keep($0.key) }
        projected.binaryData = payload.binaryData.filter { keep($0.key) }
        return projected
    }

    /// The type a replica with these keys can have. A typed Secret stays typed only when the
    /// keys still satisfy what the API validates for that type, else it becomes `Opaque`:
    /// `kubernetes.io/tls` needs `tls.crt` and `tls.key`; `kubernetes.io/dockerconfigjson`
    /// `.dockerconfigjson`; `kubernetes.io/dockercfg` `.dockercfg`; `kubernetes.io/basic-auth`
    /// `username` or `password`; `kubernetes.io/ssh-auth` `ssh-privatekey`.
    /// `kubernetes.io/service-account-token` is always `Opaque`: the API would bind such a
    /// replica to a service account of the target namespace. Other types are kept.
    public static func replicaType(_ type: String, keys: Set<String>) -> String {
        let valid: Bool
        switch type {
        case SecretType.tls: valid = keys.isSuperset(of: ["tls.crt", "tls.key"])
        case SecretType.dockerConfigJSON: valid = keys.contains(".dockerconfigjson")
        case SecretType.dockerCfg: valid = keys.contains(".dockercfg")
        case SecretType.basicAuth: valid = keys.contains("username") || keys.contains("password")
        case SecretType.sshAuth: valid = keys.contains("ssh-privatekey")
        case SecretType.serviceAccountToken: valid = false
        default: valid = true
        }
        return valid ? type : SecretType.opaque
    }

    /// The entries spillway copies: not its own (`spillway.kroy.io/`), not under a deny prefix.
    static func copyable(_ map: [String: String], deny: [String]) -> [String: String] {
        map.filter { entry in
            !entry.key.hasPrefix(Vocabulary.prefix) && !deny.contains(where: entry.key.hasPrefix)
        }
    }

    /// The entries under a deny prefix: spillway neither copies nor manages them, so they are
    /// kept as they are on a replica (a PUT would otherwise strip, say, a kubectl annotation
    /// someone put on it, and spillway would fight whoever put it there).
    static func unmanaged(_ map: [String: String], deny: [String]) -> [String: String] {
        func kept(_ key: String) -> Bool {
            !key.hasPrefix(Vocabulary.prefix) && deny.contains(where: key.hasPrefix)
        }
        // Usually there are none: then no dictionary is built (planned for every replica).
        guard !deny.isEmpty, map.keys.contains(where: kept) else { return [:] }
        return map.filter { kept($0.key) }
    }
}
