import Foundation
import KubeWire

/// Another kind's storage seen through this kind: conversions both ways.
public struct StorageView: Sendable {
    public var storageID: String
    public var toStorage: @Sendable (JSONValue) -> JSONValue
    public var fromStorage: @Sendable (JSONValue) -> JSONValue

    public init(storageID: String, toStorage: @escaping @Sendable (JSONValue) -> JSONValue, fromStorage: @escaping @Sendable (JSONValue) -> JSONValue) {
        self.storageID = storageID
        self.toStorage = toStorage
        self.fromStorage = fromStorage
    }
}

/// How a kind's names are checked.
public enum NameRule: Sendable {
    case dns1123Subdomain, dns1123Label
}

/// A kind the emulator serves: where it lives in the API, how it is validated and printed.
/// The built-in kinds are values of this type; a custom resource is registered the same way
/// (`KubeEmulator.register(_:)`).
public struct ResourceType: Sendable {
    public var group: String
    public var version: String
    public var kind: String
    public var plural: String
    public var singular: String
    public var namespaced: Bool
    public var shortNames: [String] = []
    public var categories: [String] = []
    public var nameRule: NameRule = .dns1123Subdomain
    /// Field selector labels beyond metadata.name/metadata.namespace, with how to read them.
    public var fieldLabels: [String: @Sendable (JSONValue) -> String] = [:]
    /// Columns after NAME (AGE is appended last for every kind).
    public var columns: [PrinterColumn] = []
    /// Defaulting and normalization before validation (e.g. Secret stringData → data).
    /// Throws an APIError for input the decoder would reject (400).
    public var prepare: @Sendable (inout JSONValue, _ old: JSONValue?) throws -> Void = { _, _ in }
    /// Field errors for a create (old == nil) or an update.
    public var validate: @Sendable (_ new: JSONValue, _ old: JSONValue?) -> [StatusError.Cause] = { _, _ in [] }
    /// Whether metadata.generation is set and bumped on non-metadata changes (custom resources
    /// do this; Secrets, ConfigMaps, Namespaces and Leases do not carry a generation).
    public var tracksGeneration = false
    /// The top-level fields of the kind. Others are dropped on write, as decoding into the
    /// API's Go types drops them (or refused with `fieldValidation=Strict`). nil keeps all.
    public var fields: Set<String>?
    /// Set when this kind is another API's view of a stored kind (events.k8s.io/v1 Event
    /// over core/v1 Event, or a custom resource's other served versions): both read and write
    /// the same objects.
    public var view: StorageView?
    /// A custom resource with the `status` subresource: writes to the object keep its stored
    /// status, writes to `/status` change nothing but the status, and a create drops it.
    public var statusSubresource = false
    /// Whether `kubectl get` shows AGE after the columns (every built-in kind; a custom resource
    /// only when its CRD declares no printer columns).
    public var ageColumn = true
    /// A custom resource's schema: pruning, strict field validation and the schema's checks.
    var schema: StructuralSchema?

    public init(group: String, version: String, kind: String, plural: String, singular: String, namespaced: Bool) {
        self.group = group
        self.version = version
        self.kind = kind
        self.plural = plural
        self.singular = singular
        self.namespaced = namespaced
    }

    public var apiVersion: String { group.isEmpty ? version : "\(group)/\(version)" }
    /// `secrets`, `leases.coordination.k8s.io`: how messages name the resource.
    public var qualifiedPlural: String { groupResource.description }
    /// How error messages name the resource.
    public var groupResource: GroupResource { GroupResource(group: group, resource: plural) }
    /// How 422 messages name the kind.
    public var groupKind: GroupKind { GroupKind(group: group, kind: kind) }
    /// `Secret`, `Lease.coordination.k8s.io`: how 422 messages name the kind.
    public var qualifiedKind: String { group.isEmpty ? kind : "\(kind).\(group)" }
    /// The store's key for this resource.
    public var id: String { "\(group)/\(version)/\(plural)" }
    public var listKind: String { kind + "List" }
    /// The id of the table holding this kind's objects.
    var storageID: String { view?.storageID ?? id }

    /// The object as this kind shows it.
    func present(_ o: StoredObject) -> StoredObject {
        guard let view else { return o }
        return StoredObject(json: view.fromStorage(o.json), resourceVersion: o.resourceVersion)
    }
    var allFieldLabels: [String] { ["metadata.name", "metadata.namespace"] + fieldLabels.keys.sorted() }

    static let metadataFields: Set<String> = [
        "name", "generateName", "namespace", "selfLink", "uid", "resourceVersion", "generation", "creationTimestamp",
        "deletionTimestamp", "deletionGracePeriodSeconds", "labels", "annotations", "ownerReferences", "finalizers", "managedFields",
    ]

    /// The paths of `obj`'s fields this kind does not have, as the strict decoder names them.
    func unknownFields(_ obj: JSONValue) -> [String] {
        if let schema {
            var out = schema.unknownFields(obj)
            if let meta = obj["metadata"]?.objectValue {
                out += meta.keys.filter { !Self.metadataFields.contains($0) }.sorted().map { "metadata.\($0)" }
            }
            return out
        }
        guard let fields, case .object(let o) = obj else { return [] }
        var out = o.keys.filter { !fields.contains($0) }.sorted()
        if let meta = o["metadata"]?.objectValue {
            out += meta.keys.filter { !Self.metadataFields.contains($0) }.sorted().map { "metadata.\($0)" }
        }
        return out
    }

    /// Drops the fields this kind does not have.
    func prune(_ obj: inout JSONValue) {
        if let schema {
            schema.prune(&obj)
            for path in unknownFields(obj) where path.hasPrefix("metadata.") {
                obj["metadata"]?[String(path.dropFirst("metadata.".count))] = nil
            }
            return
        }
        for path in unknownFields(obj) {
            if path.hasPrefix("metadata.") {
                obj["metadata"]?[String(path.dropFirst("metadata.".count))] = nil
            } else {
                obj[path] = nil
            }
        }
    }

    func fieldValue(_ obj: StoredObject, _ label: String) -> String {
        switch label {
        case "metadata.name": return obj.name
        case "metadata.namespace": return obj.namespace
        default: return fieldLabels[label]?(obj.json) ?? ""
        }
    }
}

// MARK: - The built-in kinds

extension ResourceType {
    static func dataCount(_ obj: JSONValue) -> JSONValue {
        .int(Int64((obj["data"]?.objectValue?.count ?? 0) + (obj["binaryData"]?.objectValue?.count ?? 0)))
    }

    public static let namespace: ResourceType = {
        var r = ResourceType(group: "", version: "v1", kind: "Namespace", plural: "namespaces", singular: "namespace", namespaced: false)
        r.shortNames = ["ns"]
        r.nameRule = .dns1123Label
        r.fields = ["apiVersion", "kind", "metadata", "spec", "status"]
        r.fieldLabels = ["status.phase": { $0["status"]?["phase"]?.stringValue ?? "" }]
        r.columns = [.path("Status", "status.phase", description: "The status of the namespace")]
        r.prepare = { obj, old in
            if let old {
                // Status is a subresource: a PUT of the main resource keeps the stored status.
                obj["status"] = old["status"]
                obj["spec"] = old["spec"]
            } else {
                obj["spec"] = ["finalizers": ["kubernetes"]]
                obj["status"] = ["phase": "Active"]
            }
            var labels = obj["metadata"]?["labels"]?.objectValue ?? [:]
            labels["kubernetes.io/metadata.name"] = obj["metadata"]?["name"] ?? .string("")
            obj["metadata"]?["labels"] = .object(labels)
        }
        return r
    }()

    public static let secret: ResourceType = {
        var r = ResourceType(group: "", version: "v1", kind: "Secret", plural: "secrets", singular: "secret", namespaced: true)
        r.fields = ["apiVersion", "kind", "metadata", "data", "stringData", "type", "immutable"]
        r.fieldLabels = ["type": { $0["type"]?.stringValue ?? "" }]
        // The descriptions are the API's field docs, as the real server's Table carries them.
        r.columns = [
            .path("Type", "type", description: "Used to facilitate programmatic handling of secret data. More info: https://kubernetes.io/docs/concepts/configuration/secret/#secret-types"),
            PrinterColumn(name: "Data", description: "Data contains the secret data. Each key must consist of alphanumeric characters, '-', '_' or '.'. The serialized form of the secret data is a base64 encoded string, representing the arbitrary (possibly non-string) data value here. Described in https://tools.ietf.org/html/rfc4648#section-4") { ResourceType.dataCount($0) },
        ]
        r.prepare = { obj, _ in try prepareSecret(&obj) }
        r.validate = validateSecret
        return r
    }()

    public static let configMap: ResourceType = {
        var r = ResourceType(group: "", version: "v1", kind: "ConfigMap", plural: "configmaps", singular: "configmap", namespaced: true)
        r.shortNames = ["cm"]
        r.fields = ["apiVersion", "kind", "metadata", "data", "binaryData", "immutable"]
        r.columns = [
            PrinterColumn(name: "Data", description: "Data contains the configuration data. Each key must consist of alphanumeric characters, '-', '_' or '.'. Values with non-UTF-8 byte sequences must use the BinaryData field. The keys stored in Data must not overlap with the keys in the BinaryData field, this is enforced during validation process.") { ResourceType.dataCount($0) },
        ]
        r.prepare = { obj, _ in try prepareConfigMap(&obj) }
        r.validate = validateConfigMap
        return r
    }()

    public static let lease: ResourceType = {
        var r = ResourceType(group: "coordination.k8s.io", version: "v1", kind: "Lease", plural: "leases", singular: "lease", namespaced: true)
        r.fields = ["apiVersion", "kind", "metadata", "spec"]
        r.columns = [.path("Holder", "spec.holderIdentity", description: "holderIdentity contains the identity of the holder of a current lease. If Coordinated Leader Election is used, the holder identity must be equal to the elected LeaseCandidate.metadata.name field.")]
        r.validate = { obj, _ in
            var causes: [StatusError.Cause] = []
            if let d = obj["spec"]?["leaseDurationSeconds"], let v = d.intValue, v <= 0 {
                causes.append(.invalid("spec.leaseDurationSeconds", d, "must be greater than 0"))
            }
            if let t = obj["spec"]?["leaseTransitions"], let v = t.intValue, v < 0 {
                causes.append(.invalid("spec.leaseTransitions", t, "must be greater than or equal to 0"))
            }
            return causes
        }
        return r
    }()

    static let eventColumns: [PrinterColumn] = [
        .path("Type", "type"), .path("Reason", "reason"),
        PrinterColumn(name: "Object") { obj in
            let ref = obj["involvedObject"] ?? obj["regarding"]
            let kind = ref?["kind"]?.stringValue ?? ""
            return .string("\(kind.lowercased())/\(ref?["name"]?.stringValue ?? "")")
        },
        PrinterColumn(name: "Message") { obj in obj["message"] ?? obj["note"] ?? .string("") },
    ]

    public static let event: ResourceType = {
        var r = ResourceType(group: "", version: "v1", kind: "Event", plural: "events", singular: "event", namespaced: true)
        r.shortNames = ["ev"]
        r.fields = ["apiVersion", "kind", "metadata", "involvedObject", "reason", "message", "source", "firstTimestamp", "lastTimestamp",
                    "count", "type", "eventTime", "series", "action", "related", "reportingComponent", "reportingInstance"]
        r.fieldLabels = [
            "involvedObject.kind": { $0["involvedObject"]?["kind"]?.stringValue ?? "" },
            "involvedObject.name": { $0["involvedObject"]?["name"]?.stringValue ?? "" },
            "involvedObject.namespace": { $0["involvedObject"]?["namespace"]?.stringValue ?? "" },
            "involvedObject.uid": { $0["involvedObject"]?["uid"]?.stringValue ?? "" },
            "reason": { $0["reason"]?.stringValue ?? "" },
            "type": { $0["type"]?.stringValue ?? "" },
        ]
        r.columns = eventColumns
        r.validate = { obj, _ in
            obj["involvedObject"] == nil ? [.required("involvedObject")] : []
        }
        return r
    }()

    public static let eventsV1: ResourceType = {
        var r = ResourceType(group: "events.k8s.io", version: "v1", kind: "Event", plural: "events", singular: "event", namespaced: true)
        r.shortNames = ["ev"]
        r.fields = ["apiVersion", "kind", "metadata", "eventTime", "series", "reportingController", "reportingInstance", "action", "reason",
                    "regarding", "related", "note", "type", "deprecatedSource", "deprecatedFirstTimestamp", "deprecatedLastTimestamp", "deprecatedCount"]
        r.columns = eventColumns
        r.view = StorageView(storageID: ResourceType.event.id, toStorage: { eventRename($0, eventsV1ToCore, apiVersion: "v1") },
                             fromStorage: { stored in
                                 // Go encodes the zero EventSource as {} and zero Times as null.
                                 var o = eventRename(stored, eventsV1ToCore.map { ($1, $0) }, apiVersion: "events.k8s.io/v1")
                                 let zeros: [(String, JSONValue)] = [("deprecatedSource", [:]), ("deprecatedFirstTimestamp", .null), ("deprecatedLastTimestamp", .null)]
                                 for (key, zero) in zeros where o[key] == nil { o[key] = zero }
                                 return o
                             })
        r.validate = { obj, _ in
            var causes: [StatusError.Cause] = []
            if obj["eventTime"] == nil || obj["eventTime"] == .null { causes.append(.required("eventTime")) }
            if (obj["reportingController"]?.stringValue ?? "").isEmpty { causes.append(.required("reportingController")) }
            if (obj["reportingInstance"]?.stringValue ?? "").isEmpty { causes.append(.required("reportingInstance")) }
            if (obj["action"]?.stringValue ?? "").isEmpty { causes.append(.required("action")) }
            if (obj["reason"]?.stringValue ?? "").isEmpty { causes.append(.required("reason")) }
            if let t = obj["type"]?.stringValue, t != "Normal" && t != "Warning" {
                causes.append(.notSupported("type", t, ["Normal", "Warning"]))
            }
            return causes
        }
        return r
    }()

    /// events.k8s.io/v1 field → core/v1 field (pkg/apis/events/v1 conversion).
    static let eventsV1ToCore: [(String, String)] = [
        ("regarding", "involvedObject"), ("note", "message"), ("reportingController", "reportingComponent"),
        ("deprecatedSource", "source"), ("deprecatedFirstTimestamp", "firstTimestamp"),
        ("deprecatedLastTimestamp", "lastTimestamp"), ("deprecatedCount", "count"),
    ]

    static func eventRename(_ obj: JSONValue, _ pairs: [(String, String)], apiVersion: String) -> JSONValue {
        var o = obj
        for (from, to) in pairs {
            let v = o[from]
            o[from] = nil
            if let v { o[to] = v }
        }
        o["apiVersion"] = .string(apiVersion)
        return o
    }

    public static let builtIn: [ResourceType] = [.namespace, .secret, .configMap, .event, .eventsV1, .lease, .customResourceDefinition]
}

// MARK: - Secret and ConfigMap rules (pkg/apis/core/validation)

let maxSecretSize = 1024 * 1024

private func decodeError(_ kind: String, _ message: String) -> StatusError {
    StatusError.badRequest("\(kind) in version \"v1\" cannot be handled as a \(kind): \(message)")
}

private func prepareSecret(_ obj: inout JSONValue) throws {
    var data = obj["data"]?.objectValue ?? [:]
    if let d = obj["data"], d != .null, d.objectValue == nil {
        throw decodeError("Secret", "json: cannot unmarshal \(d.typeName) into Go struct field Secret.data of type map[string][]uint8")
    }
    for (k, v) in data {
        guard let s = v.stringValue else {
            if v == .null { data[k] = .string(""); continue }
            throw decodeError("Secret", "json: cannot unmarshal \(v.typeName) into Go struct field Secret.data of type []uint8")
        }
        if case (_, let e?) = Validation.decodeBase64(s) { throw decodeError("Secret", e) }
    }
    if let sd = obj["stringData"] {
        guard let m = sd.objectValue else {
            throw decodeError("Secret", "json: cannot unmarshal \(sd.typeName) into Go struct field Secret.stringData of type map[string]string")
        }
        for (k, v) in m {
            guard let s = v.stringValue else {
                throw decodeError("Secret", "json: cannot unmarshal \(v.typeName) into Go struct field Secret.stringData of type string")
            }
            data[k] = .string(Data(s.utf8).base64EncodedString())
        }
        obj["stringData"] = nil
    }
    obj["data"] = data.isEmpty ? nil : .object(data)
    if (obj["type"]?.stringValue ?? "").isEmpty { obj["type"] = "Opaque" }
}

private func validateDataKeys(_ field: String, _ keys: [String]) -> [StatusError.Cause] {
    var out: [StatusError.Cause] = []
    for k in keys.sorted() {
        for p in NameValidation.configKeyProblems(k) { out.append(.invalid("\(field)[\(k)]", .string(k), p)) }
    }
    return out
}

private func validateSecret(_ obj: JSONValue, _ old: JSONValue?) -> [StatusError.Cause] {
    var causes: [StatusError.Cause] = []
    let type = obj["type"]?.stringValue ?? "Opaque"
    // An update's own checks come first, as ValidateSecretUpdate reports them.
    if let old {
        let oldType = old["type"]?.stringValue ?? "Opaque"
        if oldType != type { causes.append(.invalid("type", .string(type), "field is immutable")) }
        causes += immutabilityErrors(obj, old, fields: ["data"])
    }
    let data = obj["data"]?.objectValue ?? [:]
    causes += validateDataKeys("data", Array(data.keys))
    var total = 0
    for v in data.values { total += ((v.stringValue?.utf8.count ?? 0) * 3) / 4 }
    if total > maxSecretSize { causes.append(.tooLong("data", maxSecretSize)) }
    func requireKey(_ k: String) {
        if data[k] == nil { causes.append(.required("data[\(k)]")) }
    }
    switch type {
    case "kubernetes.io/tls":
        requireKey("tls.crt")
        requireKey("tls.key")
    case "kubernetes.io/dockerconfigjson":
        requireKey(".dockerconfigjson")
        if let v = data[".dockerconfigjson"]?.stringValue, let raw = Data(base64Encoded: v) {
            do { _ = try JSONParser.parse(Array(raw)) } catch {
                causes.append(.invalid("data[.dockerconfigjson]", "<secret contents redacted>", "\(error)"))
            }
        }
    case "kubernetes.io/dockercfg":
        requireKey(".dockercfg")
    case "kubernetes.io/ssh-auth":
        requireKey("ssh-privatekey")
    case "kubernetes.io/basic-auth":
        if data["username"] == nil && data["password"] == nil {
            causes.append(.required("data[username]"))
            causes.append(.required("data[password]"))
        }
    case "kubernetes.io/service-account-token":
        if (obj["metadata"]?["annotations"]?["kubernetes.io/service-account.name"]?.stringValue ?? "").isEmpty {
            causes.append(.required("metadata.annotations[kubernetes.io/service-account.name]"))
        }
    default:
        break
    }
    return causes
}

private func immutabilityErrors(_ obj: JSONValue, _ old: JSONValue, fields: [String]) -> [StatusError.Cause] {
    guard old["immutable"]?.boolValue == true else { return [] }
    var causes: [StatusError.Cause] = []
    if obj["immutable"]?.boolValue != true {
        causes.append(.forbidden("immutable", "field is immutable when `immutable` is set"))
    }
    for f in fields where (obj[f] ?? .null) != (old[f] ?? .null) {
        causes.append(.forbidden(f, "field is immutable when `immutable` is set"))
    }
    return causes
}

private func prepareConfigMap(_ obj: inout JSONValue) throws {
    if let d = obj["data"], d != .null {
        guard let m = d.objectValue else {
            throw decodeError("ConfigMap", "json: cannot unmarshal \(d.typeName) into Go struct field ConfigMap.data of type map[string]string")
        }
        for v in m.values where v.stringValue == nil {
            throw decodeError("ConfigMap", "json: cannot unmarshal \(v.typeName) into Go struct field ConfigMap.data of type string")
        }
        if m.isEmpty { obj["data"] = nil }
    } else if obj["data"] == .null {
        obj["data"] = nil
    }
    if let b = obj["binaryData"], b != .null {
        guard let m = b.objectValue else {
            throw decodeError("ConfigMap", "json: cannot unmarshal \(b.typeName) into Go struct field ConfigMap.binaryData of type map[string][]uint8")
        }
        for v in m.values {
            guard let s = v.stringValue else {
                throw decodeError("ConfigMap", "json: cannot unmarshal \(v.typeName) into Go struct field ConfigMap.binaryData of type []uint8")
            }
            if case (_, let e?) = Validation.decodeBase64(s) { throw decodeError("ConfigMap", e) }
        }
    } else if obj["binaryData"] == .null {
        obj["binaryData"] = nil
    }
}

private func validateConfigMap(_ obj: JSONValue, _ old: JSONValue?) -> [StatusError.Cause] {
    var causes: [StatusError.Cause] = []
    // An update's own checks come first, as ValidateConfigMapUpdate reports them.
    if let old { causes += immutabilityErrors(obj, old, fields: ["data", "binaryData"]) }
    let data = obj["data"]?.objectValue ?? [:]
    let binary = obj["binaryData"]?.objectValue ?? [:]
    causes += validateDataKeys("data", Array(data.keys))
    causes += validateDataKeys("binaryData", Array(binary.keys))
    for k in data.keys.sorted() where binary[k] != nil {
        causes.append(.invalid("data[\(k)]", .string(k), "duplicate of key present in binaryData"))
    }
    var total = 0
    for (k, v) in data { total += k.utf8.count + (v.stringValue?.utf8.count ?? 0) }
    for (k, v) in binary { total += k.utf8.count + ((v.stringValue?.utf8.count ?? 0) * 3) / 4 }
    if total > maxSecretSize { causes.append(.tooLong("", maxSecretSize)) }
    return causes
}
