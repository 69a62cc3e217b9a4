import KubeWire

// The emulator answers errors with KubeWire's StatusError, built exactly as the apiserver
// words it (k8s.io/apimachinery/pkg/api/errors; held to recorded answers of a real server by
// GoldenTests). These are the emulator's shorthands for a kind it serves.

extension StatusError {
    static func notFound(_ r: ResourceType, _ name: String) -> StatusError {
        .notFound(r.groupResource, name: name)
    }
    static func namespaceNotFound(_ ns: String) -> StatusError {
        .notFound(GroupResource(group: "", resource: "namespaces"), name: ns)
    }
    static func alreadyExists(_ r: ResourceType, _ name: String) -> StatusError {
        .alreadyExists(r.groupResource, name: name)
    }
    static func conflict(_ r: ResourceType, _ name: String, _ why: String) -> StatusError {
        .conflict(r.groupResource, name: name, why)
    }
    static func modifiedConflict(_ r: ResourceType, _ name: String) -> StatusError {
        .modified(r.groupResource, name: name)
    }
    static func invalid(_ r: ResourceType, _ name: String, _ causes: [Cause]) -> StatusError {
        .invalid(r.groupKind, name: name, causes)
    }
    static func forbidden(_ r: ResourceType, _ name: String, _ why: String, causes: [Cause] = []) -> StatusError {
        .forbidden(r.groupResource, name: name, why, causes: causes)
    }
    static func namespaceTerminating(_ r: ResourceType, _ name: String, _ ns: String) -> StatusError {
        forbidden(r, name, "unable to create new content in namespace \(ns) because it is being terminated",
                  causes: [Cause(reason: "NamespaceTerminating", message: "namespace \(ns) is being terminated", field: "metadata.namespace")])
    }
    static func gone(_ message: String) -> StatusError {
        .expired(message)
    }
    static func methodNotAllowed(_ method: String) -> StatusError {
        StatusError(code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource",
                    details: Details())
    }
    static let pathNotFound = StatusError(
        code: 404, reason: "NotFound", message: "the server could not find the requested resource",
        details: Details(causes: [Cause(reason: "UnexpectedServerResponse", message: "404 page not found", field: "")]))
    static let unauthorized = StatusError(code: 401, reason: "Unauthorized", message: "Unauthorized", details: nil)
    static func unsupportedMediaType(_ ct: String) -> StatusError {
        StatusError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf", details: nil)
    }

    /// Response headers beside the body: Retry-After for 429 and 504.
    var headers: [(String, String)] {
        retryAfterSeconds.map { [("Retry-After", String($0))] } ?? []
    }
}

/// An error's text as the real server would show it: a JSON syntax error in Go's words.
func goMessage(_ error: any Error) -> String {
    (error as? JSONParseError)?.message ?? "\(error)"
}

extension JSONValue {
    /// The type name Go's decoder puts in its messages (`cannot unmarshal number into …`).
    var typeName: String {
        switch self {
        case .null: return "null"
        case .bool: return "boolean"
        case .int, .double: return "number"
        case .string: return "string"
        case .array: return "array"
        case .object: return "object"
        }
    }
}
