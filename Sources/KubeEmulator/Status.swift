// metav1.Status, the body of every API error, built exactly as the apiserver words it
// (k8s.io/apimachinery/pkg/api/errors). Clients branch on `reason` and `code`, and people
// read `message`, so both must match the real server.

/// One field error of a 422 Invalid answer (`details.causes[]`).
public struct StatusCause: Sendable, Equatable {
    public var reason: String
    public var message: String
    public var field: String

    public init(reason: String, message: String, field: String) {
        self.reason = reason
        self.message = message
        self.field = field
    }

    /// `field.Invalid`: `<field>: Invalid value: <value>: <detail>`.
    static func invalid(_ field: String, _ value: JSON, _ detail: String) -> StatusCause {
        let shown: String
        switch value {
        case .string(let s): shown = "\"\(s)\""
        case .int(let i): shown = String(i)
        case .bool(let b): shown = String(b)
        default: shown = "\"\(value.encodedString)\""
        }
        return StatusCause(reason: "FieldValueInvalid", message: "Invalid value: \(shown): \(detail)", field: field)
    }
    static func required(_ field: String, _ detail: String = "") -> StatusCause {
        StatusCause(reason: "FieldValueRequired", message: "Required value" + (detail.isEmpty ? "" : ": \(detail)"), field: field)
    }
    static func forbidden(_ field: String, _ detail: String) -> StatusCause {
        StatusCause(reason: "FieldValueForbidden", message: "Forbidden: \(detail)", field: field)
    }
    static func tooLong(_ field: String, _ max: Int) -> StatusCause {
        StatusCause(reason: "FieldValueTooLong", message: "Too long: may not be more than \(max) bytes", field: field)
    }
    static func notSupported(_ field: String, _ value: String, _ supported: [String]) -> StatusCause {
        let list = supported.map { "\"\($0)\"" }.joined(separator: ", ")
        return StatusCause(reason: "FieldValueNotSupported", message: "Unsupported value: \"\(value)\": supported values: \(list)", field: field)
    }

    /// `<field>: <message>` as the aggregate error text shows it.
    var text: String { field.isEmpty ? message : "\(field): \(message)" }
}

/// An API error: the HTTP code and the Status body. Thrown by the store and the handlers.
public struct APIError: Error, Sendable, CustomStringConvertible {
    public var code: Int
    public var reason: String
    public var message: String
    public var details: JSON?
    /// Extra response headers (Retry-After for 429/504).
    public var headers: [(String, String)] = []

    public var description: String { "\(code) \(reason): \(message)" }

    public var status: JSON {
        var o: [String: JSON] = [
            "kind": "Status", "apiVersion": "v1", "metadata": .object([:]),
            "status": "Failure", "message": .string(message), "code": .int(Int64(code)),
        ]
        if !reason.isEmpty { o["reason"] = .string(reason) }
        if let details { o["details"] = details }
        return .object(o)
    }

    static func details(name: String?, group: String, kind: String, causes: [StatusCause] = [], retryAfter: Int? = nil) -> JSON {
        var d: [String: JSON] = [:]
        if let name, !name.isEmpty { d["name"] = .string(name) }
        if !group.isEmpty { d["group"] = .string(group) }
        if !kind.isEmpty { d["kind"] = .string(kind) }
        if !causes.isEmpty {
            d["causes"] = .array(causes.map { c in
                var o: [String: JSON] = ["reason": .string(c.reason), "message": .string(c.message)]
                if !c.field.isEmpty { o["field"] = .string(c.field) }
                return .object(o)
            })
        }
        if let retryAfter { d["retryAfterSeconds"] = .int(Int64(retryAfter)) }
        return .object(d)
    }

    static func notFound(_ r: ResourceType, _ name: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "\(r.qualifiedPlural) \"\(name)\" not found",
                 details: details(name: name, group: r.group, kind: r.plural))
    }
    static func namespaceNotFound(_ ns: String) -> APIError {
        APIError(code: 404, reason: "NotFound", message: "namespaces \"\(ns)\" not found",
                 details: details(name: ns, group: "", kind: "namespaces"))
    }
    static func alreadyExists(_ r: ResourceType, _ name: String) -> APIError {
        APIError(code: 409, reason: "AlreadyExists", message: "\(r.qualifiedPlural) \"\(name)\" already exists",
                 details: details(name: name, group: r.group, kind: r.plural))
    }
    static func conflict(_ r: ResourceType, _ name: String, _ why: String) -> APIError {
        APIError(code: 409, reason: "Conflict",
                 message: "Operation cannot be fulfilled on \(r.qualifiedPlural) \"\(name)\": \(why)",
                 details: details(name: name, group: r.group, kind: r.plural))
    }
    static func modifiedConflict(_ r: ResourceType, _ name: String) -> APIError {
        conflict(r, name, "the object has been modified; please apply your changes to the latest version and try again")
    }
    static func invalid(_ r: ResourceType, _ name: String, _ causes: [StatusCause]) -> APIError {
        let texts = causes.map(\.text)
        let joined = texts.count == 1 ? texts[0] : "[" + texts.joined(separator: ", ") + "]"
        return APIError(code: 422, reason: "Invalid", message: "\(r.qualifiedKind) \"\(name)\" is invalid: \(joined)",
                        details: details(name: name, group: r.group, kind: r.kind, causes: causes))
    }
    static func badRequest(_ message: String) -> APIError {
        APIError(code: 400, reason: "BadRequest", message: message)
    }
    static func forbidden(_ r: ResourceType, _ name: String, _ why: String, causes: [StatusCause] = []) -> APIError {
        let subject = name.isEmpty ? r.qualifiedPlural : "\(r.qualifiedPlural) \"\(name)\""
        return APIError(code: 403, reason: "Forbidden", message: "\(subject) is forbidden: \(why)",
                        details: details(name: name, group: r.group, kind: r.plural, causes: causes))
    }
    static func namespaceTerminating(_ r: ResourceType, _ name: String, _ ns: String) -> APIError {
        forbidden(r, name, "unable to create new content in namespace \(ns) because it is being terminated",
                  causes: [StatusCause(reason: "NamespaceTerminating", message: "namespace \(ns) is being terminated", field: "metadata.namespace")])
    }
    static func gone(_ message: String) -> APIError {
        APIError(code: 410, reason: "Expired", message: message)
    }
    static func methodNotAllowed(_ method: String) -> APIError {
        APIError(code: 405, reason: "MethodNotAllowed", message: "the server does not allow this method on the requested resource",
                 details: .object([:]))
    }
    static let pathNotFound = APIError(code: 404, reason: "NotFound", message: "the server could not find the requested resource",
                                       details: .object(["causes": .array([.object(["reason": "UnexpectedServerResponse", "message": "404 page not found"])])]))
    static let unauthorized = APIError(code: 401, reason: "Unauthorized", message: "Unauthorized")
    static func unsupportedMediaType(_ ct: String) -> APIError {
        APIError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json, application/yaml, application/vnd.kubernetes.protobuf")
    }
    static func internalError(_ message: String) -> APIError {
        APIError(code: 500, reason: "InternalError", message: "Internal error occurred: \(message)",
                 details: .object(["causes": .array([.object(["message": .string(message)])])]))
    }
}
