import FoundationEssentials
import KubeWire

/// The two kinds of object spillway replicates.
public enum Kind: String, Sendable, Equatable, Hashable, Codable, CaseIterable, CustomStringConvertible {
    case secret = "Secret"
    case configMap = "ConfigMap"

    public var description: String { rawValue }
}

/// `Kind/namespace/name`: one object, and the format of the `source-from` annotation.
public struct ObjectKey: Sendable, Equatable, Hashable, Codable, CustomStringConvertible, Comparable {
    public var kind: Kind
    public var namespace: String
    public var name: String

    public init(kind: Kind, namespace: String, name: String) {
        self.kind = kind
        self.namespace = namespace
        self.name = name
    }

    /// Parses `Kind/namespace/name`; nil for anything else.
    ///
    /// Read on every replica the engine caches (its `source-from`), so it finds the two slashes
    /// in the UTF-8 view rather than splitting into an array.
    public init?(_ text: String) {
        let utf8 = text.utf8
        let slash = UInt8(ascii: "/")
        guard let first = utf8.firstIndex(of: slash) else { return nil }
        let afterFirst = utf8.index(after: first)
        guard let second = utf8[afterFirst...].firstIndex(of: slash) else { return nil }
        let afterSecond = utf8.index(after: second)
        guard let kind = Kind(rawValue: String(text[..<first])),
              afterFirst < second, afterSecond < utf8.endIndex,
              !utf8[afterSecond...].contains(slash)
        else { return nil }
        self.init(kind: kind, namespace: String(text[afterFirst..<second]), name: String(text[afterSecond...]))
    }

    public var description: String { "\(kind.rawValue)/\(namespace)/\(name)" }

    /// The same name and kind in another namespace.
    public func inNamespace(_ namespace: String) -> ObjectKey {
        ObjectKey(kind: kind, namespace: namespace, name: name)
    }

    public static func < (a: ObjectKey, b: ObjectKey) -> Bool { a.description < b.description }
}

/// The content of a Secret or a ConfigMap, in one shape for both kinds so one engine serves
/// both.
///
/// - Secret: `data` holds the decoded bytes of each key (base64 on the wire); `binaryData` is
///   empty; `secretType` is the Secret's `type` (an absent or empty type is `Opaque`, as the
///   API server defaults it).
/// - ConfigMap: `data` holds the UTF-8 bytes of each string value (the engine writes them back
///   as strings, so the round trip is exact); `binaryData` holds the decoded bytes of
///   `binaryData`; `secretType` is nil.
///
/// `immutable` absent and `false` mean the same to the API, so both are `false` here.
public struct Payload: Sendable, Equatable, Hashable {
    public var secretType: String?
    public var immutable: Bool
    public var data: [String: [UInt8]]
    public var binaryData: [String: [UInt8]]

    public init(kind: Kind, secretType: String? = nil, immutable: Bool = false,
                data: [String: [UInt8]] = [:], binaryData: [String: [UInt8]] = [:]) {
        switch kind {
        case .secret:
            self.secretType = (secretType?.isEmpty ?? true) ? SecretType.opaque : secretType
        case .configMap:
            self.secretType = nil
        }
        self.immutable = immutable
        self.data = data
        self.binaryData = binaryData
    }

    /// Every key, of `data` and `binaryData`.
    public var keys: Set<String> { Set(data.keys).union(binaryData.keys) }

    /// The summary the planner compares: see ``ContentDigest``.
    public var digest: ContentDigest {
        ContentDigest(secretType: secretType, immutable: immutable, fingerprint: Fingerprint.of(self))
    }
}

/// Well-known Secret types (the ones whose payload the API validates).
public enum SecretType {
    public static let opaque = "Opaque"
    public static let tls = "kubernetes.io/tls"
    public static let dockerConfigJSON = "kubernetes.io/dockerconfigjson"
    public static let dockerCfg = "kubernetes.io/dockercfg"
    public static let basicAuth = "kubernetes.io/basic-auth"
    public static let sshAuth = "kubernetes.io/ssh-auth"
    public static let serviceAccountToken = "kubernetes.io/service-account-token"
    public static let bootstrapToken = "bootstrap.kubernetes.io/token"
}

/// What the planner needs to know about an object's content without holding it: its type,
/// whether it is immutable (both decide between update and delete+recreate) and the
/// fingerprint of everything (``Fingerprint``). The engine keeps this, never the data, for
/// each replica.
public struct ContentDigest: Sendable, Equatable, Hashable, Codable {
    public var secretType: String?
    public var immutable: Bool
    public var fingerprint: String

    public init(secretType: String?, immutable: Bool, fingerprint: String) {
        self.secretType = secretType
        self.immutable = immutable
        self.fingerprint = fingerprint
    }
}

/// A namespace as target selection sees it.
public struct NamespaceInfo: Sendable, Equatable {
    public var name: String
    public var labels: [String: String]
    public var annotations: [String: String]
    /// `status.phase == "Terminating"` (or a deletionTimestamp): no replica is created there.
    public var isTerminating: Bool

    public init(name: String, labels: [String: String] = [:], annotations: [String: String] = [:],
                isTerminating: Bool = false) {
        self.name = name
        self.labels = labels
        self.annotations = annotations
        self.isTerminating = isTerminating
    }
}

/// A source Secret or ConfigMap, with its content.
public struct SourceObject: Sendable, Equatable {
    public var key: ObjectKey
    public var uid: String
    public var resourceVersion: String
    public var labels: [String: String]
    public var annotations: [String: String]
    public var finalizers: [String]
    /// Set once deletion was requested; the finalizer holds the object until its replicas are gone.
    public var deletionTimestamp: Date?
    /// The content. Only read when replicas are rendered: for a terminating source, or one that
    /// stopped replicating, an empty payload will do.
    public var payload: Payload

    public init(key: ObjectKey, uid: String, resourceVersion: String, labels: [String: String] = [:],
                annotations: [String: String] = [:], finalizers: [String] = [],
                deletionTimestamp: Date? = nil, payload: Payload) {
        self.key = key
        self.uid = uid
        self.resourceVersion = resourceVersion
        self.labels = labels
        self.annotations = annotations
        self.finalizers = finalizers
        self.deletionTimestamp = deletionTimestamp
        self.payload = payload
    }

    public var isTerminating: Bool { deletionTimestamp != nil }
    /// Holds spillwayd's own finalizer.
    public var hasFinalizer: Bool { finalizers.contains(Vocabulary.finalizer) }
    /// Holds the original spillway's finalizer, which spillwayd takes over or releases.
    public var hasLegacyFinalizer: Bool { finalizers.contains(Vocabulary.legacyFinalizer) }
}

/// An object of the source's kind and name in another namespace, as the engine observed it:
/// a managed replica (from the metadata watch plus the digest of its content), or an unmanaged
/// same-name object it learned about (for instance from a 409 AlreadyExists on create).
public struct ObservedObject: Sendable, Equatable {
    public var namespace: String
    /// `metadata.uid`; held in 16 bytes when it is a UUID, since the caches keep one per replica.
    public var uid: String {
        get { storedUID.text }
        set { storedUID = CompactUID(newValue) }
    }
    private var storedUID: CompactUID
    public var resourceVersion: String
    public var labels: [String: String]
    public var annotations: [String: String]
    /// The content summary; nil when the engine has not read the content (the planner then
    /// assumes it differs from the desired content).
    public var content: ContentDigest?
    public var deletionTimestamp: Date?

    public init(namespace: String, uid: String, resourceVersion: String, labels: [String: String] = [:],
                annotations: [String: String] = [:], content: ContentDigest? = nil,
                deletionTimestamp: Date? = nil) {
        self.namespace = namespace
        storedUID = CompactUID(uid)
        self.resourceVersion = resourceVersion
        self.labels = labels
        self.annotations = annotations
        self.content = content
        self.deletionTimestamp = deletionTimestamp
    }

    public var isManaged: Bool { Vocabulary.isManaged(labels: labels) }

    /// The source named by `source-from`, when it parses.
    public var sourceFrom: ObjectKey? { annotations[Vocabulary.sourceFrom].flatMap(ObjectKey.init) }

    /// The uid and resourceVersion a write to this object must be conditioned on.
    public var precondition: Precondition { Precondition(uid: uid, resourceVersion: resourceVersion) }
}

/// The uid and resourceVersion a delete (DeleteOptions.preconditions) or an update
/// (metadata.uid / metadata.resourceVersion) is conditioned on, so that spillway never
/// touches an object that changed hands since it was observed.
public struct Precondition: Sendable, Equatable, Hashable, Codable {
    public var uid: String
    public var resourceVersion: String

    public init(uid: String, resourceVersion: String) {
        self.uid = uid
        self.resourceVersion = resourceVersion
    }
}

/// The daemon flags that change the contract.
public struct Options: Sendable, Equatable {
    /// Namespaces that `all`, `*`, globs and label selectors never reach; only an explicit
    /// name in `replicate-to` does (`--protected-namespaces`).
    public var protectedNamespaces: Set<String>
    /// Deny replication into namespaces without `accept-from` (`--require-namespace-consent`).
    public var requireNamespaceConsent: Bool
    /// Let `force-adopt: "true"` take over unmanaged objects (`--allow-force-adopt`).
    public var allowForceAdopt: Bool
    /// Annotation key prefixes never copied to replicas, nor managed on them
    /// (`--annotation-deny-prefixes`).
    public var annotationDenyPrefixes: [String]
    /// Label key prefixes never copied to replicas, nor managed on them (`--label-deny-prefixes`).
    public var labelDenyPrefixes: [String]
    /// Secret types never replicated (`--deny-secret-types`): a source of such a type gets a
    /// Warning event and nothing is written for it.
    public var deniedSecretTypes: Set<String>

    public static let defaultProtectedNamespaces: Set<String> = ["kube-system"]
    public static let defaultAnnotationDenyPrefixes = [
        "kubectl.kubernetes.io/", "meta.helm.sh/", "helm.sh/", "argocd.argoproj.io/",
        "config.kubernetes.io/", "kustomize.toolkit.fluxcd.io/", "fluxcd.io/", "weave.works/",
    ]
    /// Credentials of the cluster itself: a service account's token, and the tokens that let
    /// nodes join (kube-system). A copy in another namespace hands them to whoever reads there.
    public static let defaultDeniedSecretTypes: Set<String> = [SecretType.serviceAccountToken, SecretType.bootstrapToken]

    public init(protectedNamespaces: Set<String> = Options.defaultProtectedNamespaces,
                requireNamespaceConsent: Bool = false,
                allowForceAdopt: Bool = false,
                annotationDenyPrefixes: [String] = Options.defaultAnnotationDenyPrefixes,
                labelDenyPrefixes: [String] = [],
                deniedSecretTypes: Set<String> = Options.defaultDeniedSecretTypes) {
        self.protectedNamespaces = protectedNamespaces
        self.requireNamespaceConsent = requireNamespaceConsent
        self.allowForceAdopt = allowForceAdopt
        self.annotationDenyPrefixes = annotationDenyPrefixes
        self.labelDenyPrefixes = labelDenyPrefixes
        self.deniedSecretTypes = deniedSecretTypes
    }
}
