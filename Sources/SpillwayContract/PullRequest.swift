import KubeWire

/// What an object's `replicate-from` asks for, and what the planner knows of the object.
public enum PullRequest {
    /// Parses `namespace/name`: a source of the asking object's own `kind` (a Secret pulls a
    /// Secret, a ConfigMap a ConfigMap). Whitespace around the value is ignored.
    public static func parse(_ text: String, kind: Kind) throws(SyntaxError) -> ObjectKey {
        let trimmed = text.trimmingWhitespaceAndNewlines()
        let parts = trimmed.split(separator: "/", omittingEmptySubsequences: false).map(String.init)
        guard parts.count == 2 else {
            throw SyntaxError("expected namespace/name of a \(kind) to copy, e.g. platform/wildcard-tls")
        }
        guard NameValidation.isDNS1123Label(parts[0]) else {
            throw SyntaxError("\"\(parts[0])\" is not a namespace name (lowercase letters, digits and '-', at most 63 characters)")
        }
        guard NameValidation.isDNS1123Subdomain(parts[1]) else {
            throw SyntaxError("\"\(parts[1])\" is not a \(kind) name (lowercase letters, digits, '-' and '.', at most 253 characters)")
        }
        return ObjectKey(kind: kind, namespace: parts[0], name: parts[1])
    }
}

/// An object that asks for a copy (`replicate-from`), or a pulled copy, as the planner sees it.
public struct PullTarget: Sendable, Equatable {
    /// What an object spillway does not manage holds, once read: whether it has data of its own.
    public struct HeldData: Sendable, Equatable, Hashable {
        /// Every value of `data` and `binaryData` is empty (or there is none): nothing to lose.
        public var isEmpty: Bool
        /// ``Fingerprint/ofData(_:)`` of its content: equal to the source's (projected) data means
        /// it already holds exactly the copy, so taking it over loses nothing either.
        public var fingerprint: String

        public init(isEmpty: Bool, fingerprint: String) {
            self.isEmpty = isEmpty
            self.fingerprint = fingerprint
        }

        public init(_ payload: Payload) {
            self.init(isEmpty: payload.data.values.allSatisfy(\.isEmpty) && payload.binaryData.values.allSatisfy(\.isEmpty),
                      fingerprint: Fingerprint.ofData(payload))
        }
    }

    /// Its own `Kind/namespace/name` (a pulled copy keeps the name its namespace gave it).
    public var key: ObjectKey
    /// Its metadata and, for a managed copy, the digest of its content.
    public var object: ObservedObject
    /// For an object spillway does not manage: what it holds, once read; nil when not read.
    public var held: HeldData?

    public init(key: ObjectKey, object: ObservedObject, held: HeldData? = nil) {
        self.key = key
        self.object = object
        self.held = held
    }

    /// A pulled copy (managed by spillway, labelled as pulled).
    public var isPulledCopy: Bool { Vocabulary.isPulledCopy(labels: object.labels) }
}

extension Fingerprint {
    /// The fingerprint of `data` and `binaryData` alone (type and `immutable` left out): whether
    /// an object already holds a source's data, whatever its type.
    public static func ofData(_ payload: Payload) -> String {
        of(Payload(kind: .configMap, data: payload.data, binaryData: payload.binaryData))
    }
}
