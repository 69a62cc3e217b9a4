import Foundation
import KubeWire

/// A CustomResourceDefinition (`apiextensions.k8s.io/v1`) read into the kinds that serve it:
/// one ``ResourceType`` per served version. The storage version holds the objects; the other
/// versions are views of it that differ in `apiVersion` only (conversion strategy `None`, as a
/// CRD without a conversion webhook has). Each version gets the CRD's names, scope, schema
/// (pruning and validation, see ``StructuralSchema``), status subresource and printer columns,
/// and tracks `metadata.generation`.
public struct CustomResourceDefinition: Sendable {
    public let group: String
    public let kind: String
    public let plural: String
    public let singular: String
    public let namespaced: Bool
    public let shortNames: [String]
    public let categories: [String]
    let versions: [JSONValue]
    public let storageVersion: String
    /// The manifest as read: what ``KubeEmulator/register(_:)-(CustomResourceDefinition)`` stores.
    public let manifest: JSONValue

    /// Reads a CRD manifest (JSON; YAML documents go through ``init(yaml:)``).
    public init(_ crd: JSONValue) throws {
        func fail(_ why: String) -> StatusError { .badRequest("CustomResourceDefinition: \(why)") }
        guard crd["kind"]?.stringValue == "CustomResourceDefinition" else { throw fail("not a CustomResourceDefinition") }
        let spec = crd["spec"]
        guard let group = spec?["group"]?.stringValue, let names = spec?["names"],
              let kind = names["kind"]?.stringValue, let plural = names["plural"]?.stringValue
        else { throw fail("spec.group, spec.names.kind and spec.names.plural are required") }
        self.group = group
        self.kind = kind
        self.plural = plural
        self.singular = names["singular"]?.stringValue ?? kind.lowercased()
        self.shortNames = (names["shortNames"]?.arrayValue ?? []).compactMap(\.stringValue)
        self.categories = (names["categories"]?.arrayValue ?? []).compactMap(\.stringValue)
        self.namespaced = spec?["scope"]?.stringValue != "Cluster"
        self.versions = spec?["versions"]?.arrayValue ?? []
        let storage = versions.filter { $0["storage"]?.boolValue == true }
        guard storage.count == 1, let storageVersion = storage[0]["name"]?.stringValue else {
            throw fail("exactly one version must be the storage version")
        }
        self.storageVersion = storageVersion
        self.manifest = crd
    }

    /// Reads the first document of a YAML (or JSON) manifest.
    public init(yaml: String) throws {
        try self.init(try YAMLToJSON.document(Array(yaml.utf8)))
    }

    /// The kinds to register: the storage version first, then the other served versions.
    public var resourceTypes: [ResourceType] {
        let served = versions.filter { $0["served"]?.boolValue == true }
            .sorted { ($0["storage"]?.boolValue == true ? 0 : 1) < ($1["storage"]?.boolValue == true ? 0 : 1) }
        let storageType = ResourceType(group: group, version: storageVersion, kind: kind, plural: plural,
                                       singular: singular, namespaced: namespaced)
        return served.compactMap { version in
            guard let name = version["name"]?.stringValue else { return nil }
            var type = ResourceType(group: group, version: name, kind: kind, plural: plural, singular: singular,
                                    namespaced: namespaced)
            type.shortNames = shortNames
            type.categories = categories
            type.tracksGeneration = true
            type.statusSubresource = version["subresources"]?["status"] != nil
            if let schema = version["schema"]?["openAPIV3Schema"] {
                let structural = StructuralSchema(schema)
                type.schema = structural
                type.validate = { object, _ in structural.validate(object) }
            }
            let columns = version["additionalPrinterColumns"]?.arrayValue ?? []
            type.columns = columns.compactMap(Self.column)
            type.ageColumn = columns.isEmpty
            if name != storageVersion {
                let storageAPIVersion = storageType.apiVersion
                let apiVersion = type.apiVersion
                type.view = StorageView(
                    storageID: storageType.id,
                    toStorage: { object in
                        var stored = object
                        stored["apiVersion"] = .string(storageAPIVersion)
                        return stored
                    },
                    fromStorage: { object in
                        var shown = object
                        shown["apiVersion"] = .string(apiVersion)
                        return shown
                    })
            }
            return type
        }
    }

    /// A printer column: the value at its JSONPath; a `date` as the time since then.
    static func column(_ definition: JSONValue) -> PrinterColumn? {
        guard let name = definition["name"]?.stringValue, let path = definition["jsonPath"]?.stringValue else { return nil }
        let type = definition["type"]?.stringValue ?? "string"
        let description = definition["description"]?.stringValue
            ?? "Custom resource definition column (in JSONPath format): \(path)"
        let steps = JSONPathSubset.parse(path)
        return PrinterColumn(name: name, type: type, format: definition["format"]?.stringValue ?? "", description: description,
                             priority: Int(definition["priority"]?.intValue ?? 0)) { object in
            guard let value = JSONPathSubset.first(steps, in: object) else { return .null }
            if type == "date" { return Tables.age(value) }
            // A list or an object is shown as its JSON, as the apiextensions server prints it.
            if value.arrayValue != nil || value.objectValue != nil { return .string(String(decoding: value.encoded(), as: UTF8.self)) }
            return value
        }
    }
}

/// The JSONPath that printer columns use, in the forms CRDs write: `.a.b`, `.a[0]`,
/// `.a[*].b` and `.a[?(@.key=="value")].b`.
enum JSONPathSubset {
    enum Step: Sendable {
        case member(String)
        case index(Int)
        case all
        case filter(key: String, value: String)
    }

    static func parse(_ path: String) -> [Step] {
        var steps: [Step] = []
        var rest = Substring(path.hasPrefix("{") && path.hasSuffix("}") ? String(path.dropFirst().dropLast()) : path)
        while let first = rest.first {
            if first == "." {
                rest = rest.dropFirst()
                let name = rest.prefix { $0 != "." && $0 != "[" }
                if !name.isEmpty { steps.append(.member(String(name))) }
                rest = rest.dropFirst(name.count)
            } else if first == "[" {
                guard let close = rest.firstIndex(of: "]") else { break }
                let inside = rest[rest.index(after: rest.startIndex)..<close]
                rest = rest[rest.index(after: close)...]
                if inside == "*" {
                    steps.append(.all)
                } else if let index = Int(inside) {
                    steps.append(.index(index))
                } else if inside.hasPrefix("?(@."), inside.hasSuffix(")") {
                    let condition = inside.dropFirst(4).dropLast()
                    let parts = condition.components(separatedBy: "==")
                    guard parts.count == 2 else { break }
                    let value = parts[1].trimmingCharacters(in: CharacterSet(charactersIn: "\"' "))
                    steps.append(.filter(key: parts[0].trimmingCharacters(in: .whitespaces), value: value))
                } else {
                    steps.append(.member(inside.trimmingCharacters(in: CharacterSet(charactersIn: "'\""))))
                }
            } else {
                let name = rest.prefix { $0 != "." && $0 != "[" }
                steps.append(.member(String(name)))
                rest = rest.dropFirst(name.count)
            }
        }
        return steps
    }

    /// The first value the path reaches, or nil.
    static func first(_ steps: [Step], in object: JSONValue) -> JSONValue? {
        var current: [JSONValue] = [object]
        for step in steps {
            current = current.flatMap { value -> [JSONValue] in
                switch step {
                case .member(let name): value[name].map { [$0] } ?? []
                case .index(let index):
                    (value.arrayValue).flatMap { index < $0.count && index >= 0 ? [$0[index]] : nil } ?? []
                case .all: value.arrayValue ?? []
                case .filter(let key, let wanted):
                    (value.arrayValue ?? []).filter { $0[key]?.stringValue == wanted }
                }
            }
        }
        return current.first
    }
}

extension ResourceType {
    /// CustomResourceDefinitions themselves, as objects: creating one serves its kind, deleting
    /// one deletes its objects first (see `Store`), as the apiextensions server does.
    public static let customResourceDefinition: ResourceType = {
        var r = ResourceType(group: "apiextensions.k8s.io", version: "v1", kind: "CustomResourceDefinition",
                             plural: "customresourcedefinitions", singular: "customresourcedefinition", namespaced: false)
        r.shortNames = ["crd", "crds"]
        r.categories = ["api-extensions"]
        r.tracksGeneration = true
        r.fields = ["apiVersion", "kind", "metadata", "spec", "status"]
        r.columns = [.path("Created At", "metadata.creationTimestamp", description: "The time the object was created")]
        r.ageColumn = false
        r.prepare = { object, old in
            let definition = try CustomResourceDefinition(object)
            let name = object["metadata"]?["name"]?.stringValue ?? ""
            guard name == "\(definition.plural).\(definition.group)" else {
                throw StatusError.invalid(ResourceType.customResourceDefinition, name, [.invalid(
                    "metadata.name", .string(name), "must be spec.names.plural+\".\"+spec.group")])
            }
            object["status"] = definition.acceptedStatus(keeping: old?["status"])
        }
        return r
    }()
}

extension CustomResourceDefinition {
    /// The status the apiextensions controllers give a definition whose names are free: names
    /// accepted, established, the storage version recorded. Conditions keep their transition
    /// times (and a Terminating one) from `old`.
    func acceptedStatus(keeping old: JSONValue?) -> JSONValue {
        let now = JSONValue.string(APITime.timestamp())
        let oldConditions = old?["conditions"]?.arrayValue ?? []
        func condition(_ type: String, _ reason: String, _ message: String) -> JSONValue {
            let since = oldConditions.first { $0["type"]?.stringValue == type }?["lastTransitionTime"] ?? now
            return ["type": .string(type), "status": "True", "lastTransitionTime": since, "reason": .string(reason),
                    "message": .string(message)]
        }
        var conditions = [condition("NamesAccepted", "NoConflicts", "no conflicts found"),
                          condition("Established", "InitialNamesAccepted", "the initial names have been accepted")]
        conditions += oldConditions.filter { $0["type"]?.stringValue == "Terminating" }
        var stored = (old?["storedVersions"]?.arrayValue ?? []).compactMap(\.stringValue)
        if !stored.contains(storageVersion) { stored.append(storageVersion) }
        var accepted = manifest["spec"]?["names"] ?? [:]
        if accepted["singular"] == nil { accepted["singular"] = .string(singular) }
        if accepted["listKind"] == nil { accepted["listKind"] = .string(kind + "List") }
        return ["acceptedNames": accepted, "conditions": .array(conditions), "storedVersions": .array(stored.map { .string($0) })]
    }
}

extension KubeEmulator {
    /// Serves a custom resource: stores the definition (as `kubectl apply -f crd.yaml` would),
    /// which serves every served version of its kind, with its status subresource, watches,
    /// discovery and `kubectl get` columns. A definition already stored is left as it is.
    public func register(_ crd: CustomResourceDefinition) {
        do {
            try store.create(.customResourceDefinition, namespace: "", crd.manifest)
        } catch let error as StatusError where error.code == 409 {
            return
        } catch {
            // Parsed already, so only a name that does not match its kind gets here.
            for type in crd.resourceTypes { register(type) }
        }
    }
}
