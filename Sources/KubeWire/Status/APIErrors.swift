// The Status bodies of k8s.io/apimachinery/pkg/api/errors and the field errors of
// pkg/util/validation/field, worded exactly as the API server words them (checked against
// responses recorded from a real kube-apiserver: Tests/Golden).

/// A resource within its API group, as error messages name it: `secrets`,
/// `leases.coordination.k8s.io`.
public struct GroupResource: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var resource: String

    public init(group: String, resource: String) {
        self.group = group
        self.resource = resource
    }

    public var description: String { group.isEmpty ? resource : "\(resource).\(group)" }
}

/// A kind within its API group, as 422 messages name it: `Secret`, `Lease.coordination.k8s.io`.
public struct GroupKind: Sendable, Hashable, CustomStringConvertible {
    public var group: String
    public var kind: String

    public init(group: String, kind: String) {
        self.group = group
        self.kind = kind
    }

    public var description: String { group.isEmpty ? kind : "\(kind).\(group)" }
}

extension StatusError.Cause {
    /// `field.Invalid`: `Invalid value: <value>: <detail>`.
    public static func invalid(_ field: String, _ value: JSONValue, _ detail: String) -> Self {
        let shown: String
        switch value {
        case .string(let s): shown = "\"\(s)\""
        case .int(let i): shown = String(i)
        case .bool(let b): shown = String(b)
        default: shown = "\"\(value.jsonString)\""
        }
        return Self(reason: "FieldValueInvalid", message: "Invalid value: \(shown): \(detail)", field: field)
    }

    public static func required(_ field: String, _ detail: String = "") -> Self {
        Self(reason: "FieldValueRequired", message: "Required value" + (detail.isEmpty ? "" : ": \(detail)"), field: field)
    }

    public static func forbidden(_ field: String, _ detail: String) -> Self {
        Self(reason: "FieldValueForbidden", message: "Forbidden: \(detail)", field: field)
    }

    public static func tooLong(_ field: String, _ max: Int) -> Self {
        Self(reason: "FieldValueTooLong", message: "Too long: may not be more than \(max) bytes", field: field)
    }

    public static func notSupported(_ field: String, _ value: String, _ supported: [String]) -> Self {
        let list = supported.map { "\"\($0)\"" }.joined(separator: ", ")
        return Self(reason: "FieldValueNotSupported", message: "Unsupported value: \"\(value)\": supported values: \(list)", field: field)
    }

    /// `<field>: <message>`, as the aggregate text of a 422 shows each cause.
    public var text: String { field.isEmpty ? message : "\(field): \(message)" }
}

extension StatusError {
    public static func notFound(_ resource: GroupResource, name: String) -> Self {
        Self(code: 404, reason: "NotFound", message: "\(resource) \"\(name)\" not found",
             details: Details(name: name, group: resource.group, kind: resource.resource))
    }

    public static func alreadyExists(_ resource: GroupResource, name: String) -> Self {
        Self(code: 409, reason: "AlreadyExists", message: "\(resource) \"\(name)\" already exists",
             details: Details(name: name, group: resource.group, kind: resource.resource))
    }

    /// A 409 Conflict; `why` follows `Operation cannot be fulfilled on <resource> "<name>": `.
    public static func conflict(_ resource: GroupResource, name: String, _ why: String) -> Self {
        Self(code: 409, reason: "Conflict", message: "Operation cannot be fulfilled on \(resource) \"\(name)\": \(why)",
             details: Details(name: name, group: resource.group, kind: resource.resource))
    }

    /// The 409 of a write on a stale resourceVersion.
    public static func modified(_ resource: GroupResource, name: String) -> Self {
        conflict(resource, name: name, "the object has been modified; please apply your changes to the latest version and try again")
    }

    /// A 422 Invalid: one cause is shown as is, several as `[a, b]`.
    public static func invalid(_ kind: GroupKind, name: String, _ causes: [Cause]) -> Self {
        let texts = causes.map(\.text)
        let joined = texts.count == 1 ? texts[0] : "[" + texts.joined(separator: ", ") + "]"
        return Self(code: 422, reason: "Invalid", message: "\(kind) \"\(name)\" is invalid: \(joined)",
                    details: Details(name: name, group: kind.group, kind: kind.kind, causes: causes))
    }

    public static func badRequest(_ message: String) -> Self {
        Self(code: 400, reason: "BadRequest", message: message, details: nil)
    }

    public static func forbidden(_ resource: GroupResource, name: String, _ why: String, causes: [Cause] = []) -> Self {
        let subject = name.isEmpty ? resource.description : "\(resource) \"\(name)\""
        return Self(code: 403, reason: "Forbidden", message: "\(subject) is forbidden: \(why)",
                    details: Details(name: name, group: resource.group, kind: resource.resource, causes: causes))
    }

    /// 410 Expired: history too old for a watch, a list at an exact resourceVersion, or a
    /// continue token.
    public static func expired(_ message: String) -> Self {
        Self(code: 410, reason: "Expired", message: message, details: nil)
    }

    public static func internalError(_ message: String) -> Self {
        Self(code: 500, reason: "InternalError", message: "Internal error occurred: \(message)",
             details: Details(causes: [Cause(reason: "", message: message, field: "")]))
    }
}
