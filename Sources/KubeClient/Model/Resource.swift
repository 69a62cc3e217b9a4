/// Where a kind of object lives in the API: enough to build every URL the client needs.
public struct Resource: Sendable, Hashable, CustomStringConvertible {
    /// API group; "" for the core group (`/api/v1`).
    public var group: String
    public var version: String
    /// Plural resource name as it appears in URLs (`secrets`).
    public var plural: String
    public var kind: String
    public var namespaced: Bool

    public init(group: String, version: String, plural: String, kind: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.plural = plural
        self.kind = kind
        self.namespaced = namespaced
    }

    public static let namespaces = Resource(group: "", version: "v1", plural: "namespaces", kind: "Namespace", namespaced: false)
    public static let secrets = Resource(group: "", version: "v1", plural: "secrets", kind: "Secret", namespaced: true)
    public static let configMaps = Resource(group: "", version: "v1", plural: "configmaps", kind: "ConfigMap", namespaced: true)
    public static let leases = Resource(group: "coordination.k8s.io", version: "v1", plural: "leases", kind: "Lease", namespaced: true)
    public static let events = Resource(group: "events.k8s.io", version: "v1", plural: "events", kind: "Event", namespaced: true)

    /// `v1` or `group/version`, as objects carry it in `apiVersion`.
    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }

    public var description: String { group.isEmpty ? plural : "\(plural).\(group)" }

    /// The collection path: cluster-wide when `namespace` is nil (or the resource is
    /// cluster-scoped), else within the namespace.
    public func path(namespace: String?, name: String? = nil) -> String {
        var p = group.isEmpty ? "/api/\(version)" : "/apis/\(group)/\(version)"
        if namespaced, let namespace { p += "/namespaces/\(Self.escape(namespace))" }
        p += "/\(plural)"
        if let name { p += "/\(Self.escape(name))" }
        return p
    }

    /// Percent-encodes a path segment (names are DNS labels, but a bad one must not break the URL).
    static func escape(_ segment: String) -> String {
        segment.addingPercentEncodingForPath()
    }
}

extension String {
    func addingPercentEncodingForPath() -> String {
        var out = ""
        for b in utf8 {
            switch b {
            case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"),
                UInt8(ascii: "0")...UInt8(ascii: "9"), UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"),
                UInt8(ascii: "~"):
                out.unicodeScalars.append(Unicode.Scalar(b))
            default:
                out += "%" + (b < 16 ? "0" : "") + String(b, radix: 16, uppercase: true)
            }
        }
        return out
    }
}

/// Label and field selectors, passed through to the server verbatim.
public struct Selectors: Sendable, Hashable {
    public var label: String?
    public var field: String?

    public init(label: String? = nil, field: String? = nil) {
        self.label = label
        self.field = field
    }

    var queryItems: [(String, String)] {
        var q: [(String, String)] = []
        if let label, !label.isEmpty { q.append(("labelSelector", label)) }
        if let field, !field.isEmpty { q.append(("fieldSelector", field)) }
        return q
    }
}

/// Encodes query parameters (RFC 3986 unreserved characters kept).
func encodeQuery(_ items: [(String, String)]) -> String {
    items.map { "\($0.0.addingPercentEncodingForPath())=\($0.1.addingPercentEncodingForPath())" }
        .joined(separator: "&")
}
