import Foundation
import KubeWire

/// A custom resource's structural OpenAPI v3 schema, as the API server applies it on every
/// write: unknown fields pruned (or named, for `fieldValidation=Strict`), then the value checked
/// with the server's words — type, required, enum, pattern, lengths, item and property counts,
/// minimum and maximum, and the uniqueness of `x-kubernetes-list-type: set` and `map` lists.
///
/// CEL rules (`x-kubernetes-validations`) are not evaluated: as the real server does when the
/// schema already refused the object, a note says some rules were not checked. Only a real
/// server checks them (the SpillwayProfile CRD's rules are tested on one).
struct StructuralSchema: Sendable {
    let root: JSONValue

    init(_ root: JSONValue) {
        self.root = root
    }

    // MARK: Pruning

    /// Drops the fields the schema does not declare (`metadata` is left to the metadata rules),
    /// and null values of fields that are not nullable, as the server's pruning and defaulting do.
    func prune(_ value: inout JSONValue) {
        Self.prune(&value, root, isRoot: true)
    }

    private static func prune(_ value: inout JSONValue, _ schema: JSONValue, isRoot: Bool = false) {
        if schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true { return }
        switch value {
        case .object(var object):
            let properties = schema["properties"]?.objectValue
            let additional = schema["additionalProperties"]
            for key in object.keys.sorted() {
                if isRoot && (key == "metadata" || key == "apiVersion" || key == "kind") { continue }
                if let child = properties?[key] {
                    if object[key] == .null && child["nullable"]?.boolValue != true {
                        object[key] = nil
                        continue
                    }
                    prune(&object[key]!, child)
                } else if let additional, additional.objectValue != nil {
                    prune(&object[key]!, additional)
                } else if additional?.boolValue != true {
                    object[key] = nil
                }
            }
            value = .object(object)
        case .array(var items):
            if let itemSchema = schema["items"] {
                for index in items.indices { prune(&items[index], itemSchema) }
            }
            value = .array(items)
        default:
            break
        }
    }

    /// The paths of the fields pruning would drop, as the strict decoder names them.
    func unknownFields(_ value: JSONValue) -> [String] {
        var out: [String] = []
        Self.unknown(value, root, path: "", isRoot: true, &out)
        return out
    }

    private static func unknown(_ value: JSONValue, _ schema: JSONValue, path: String, isRoot: Bool = false, _ out: inout [String]) {
        if schema["x-kubernetes-preserve-unknown-fields"]?.boolValue == true { return }
        switch value {
        case .object(let object):
            let properties = schema["properties"]?.objectValue
            let additional = schema["additionalProperties"]
            for key in object.keys.sorted() {
                if isRoot && (key == "metadata" || key == "apiVersion" || key == "kind") { continue }
                let child = path.isEmpty ? key : "\(path).\(key)"
                if let childSchema = properties?[key] ?? (additional?.objectValue != nil ? additional : nil) {
                    unknown(object[key]!, childSchema, path: child, &out)
                } else if additional?.boolValue != true {
                    out.append(child)
                }
            }
        case .array(let items):
            guard let itemSchema = schema["items"] else { return }
            for (index, item) in items.enumerated() { unknown(item, itemSchema, path: "\(path)[\(index)]", &out) }
        default:
            break
        }
    }

    // MARK: Validation

    /// The field errors of `value` (metadata excluded), in the server's words.
    func validate(_ value: JSONValue) -> [StatusError.Cause] {
        var causes: [StatusError.Cause] = []
        var lists: [StatusError.Cause] = []
        var hasRules = false
        Self.check(value, root, path: "", isRoot: true, &causes, &lists, &hasRules)
        causes += lists
        if !causes.isEmpty && hasRules {
            causes.append(.invalid("<nil>", .string("null"), "some validation rules were not checked because the object was invalid; correct the existing errors to complete validation"))
        }
        return causes
    }

    /// The JSON type names of the schema (`integer` for whole numbers).
    private static func typeName(_ value: JSONValue) -> String {
        switch value {
        case .null: "null"
        case .bool: "boolean"
        case .int: "integer"
        case .double: "number"
        case .string: "string"
        case .array: "array"
        case .object: "object"
        }
    }

    private static func matchesType(_ value: JSONValue, _ type: String) -> Bool {
        switch (type, value) {
        case ("object", .object), ("array", .array), ("string", .string), ("boolean", .bool), ("integer", .int): true
        case ("number", .int), ("number", .double): true
        default: false
        }
    }

    private static func check(_ value: JSONValue, _ schema: JSONValue, path: String, isRoot: Bool = false,
                              _ causes: inout [StatusError.Cause], _ lists: inout [StatusError.Cause], _ hasRules: inout Bool) {
        if schema["x-kubernetes-validations"] != nil { hasRules = true }
        if let type = schema["type"]?.stringValue, !matchesType(value, type) {
            let actual = typeName(value)
            causes.append(StatusError.Cause(
                reason: "FieldValueTypeInvalid",
                message: "Invalid value: \"\(actual)\": \(path) in body must be of type \(type): \"\(actual)\"", field: path))
            return
        }
        if let allowed = schema["enum"]?.arrayValue, !allowed.contains(value) {
            let list = allowed.map { $0.stringValue.map { "\"\($0)\"" } ?? $0.jsonString }.joined(separator: ", ")
            let shown = value.stringValue.map { "\"\($0)\"" } ?? value.jsonString
            causes.append(StatusError.Cause(reason: "FieldValueNotSupported",
                                            message: "Unsupported value: \(shown): supported values: \(list)", field: path))
        }
        switch value {
        case .string(let text):
            let length = text.count
            if let max = schema["maxLength"]?.intValue, length > max { causes.append(.tooLong(path, Int(max))) }
            if let min = schema["minLength"]?.intValue, length < min {
                causes.append(.invalid(path, value, "\(path) in body should be at least \(min) chars long"))
            }
            if let pattern = schema["pattern"]?.stringValue, !matches(text, pattern) {
                causes.append(.invalid(path, value, "\(path) in body should match '\(pattern)'"))
            }
        case .int, .double:
            let number = Self.number(value) ?? 0
            if let min = schema["minimum"], let bound = Self.number(min), number < bound {
                causes.append(.invalid(path, value, "\(path) in body should be greater than or equal to \(min.jsonString)"))
            }
            if let max = schema["maximum"], let bound = Self.number(max), number > bound {
                causes.append(.invalid(path, value, "\(path) in body should be less than or equal to \(max.jsonString)"))
            }
        case .array(let items):
            if let max = schema["maxItems"]?.intValue, items.count > max {
                causes.append(tooMany(path, items.count, Int(max)))
            }
            if let min = schema["minItems"]?.intValue, items.count < min {
                causes.append(.invalid(path, .int(Int64(items.count)), "\(path) in body should have at least \(min) items"))
            }
            if let itemSchema = schema["items"] {
                for (index, item) in items.enumerated() {
                    check(item, itemSchema, path: "\(path)[\(index)]", &causes, &lists, &hasRules)
                }
            }
            lists += duplicates(items, schema, path: path)
        case .object(let object):
            if let max = schema["maxProperties"]?.intValue, object.count > max {
                causes.append(tooMany(path, object.count, Int(max)))
            }
            let properties = schema["properties"]?.objectValue ?? [:]
            for key in object.keys.sorted() {
                if isRoot && (key == "metadata" || key == "apiVersion" || key == "kind") { continue }
                let child = path.isEmpty ? key : "\(path).\(key)"
                if let childSchema = properties[key] {
                    check(object[key]!, childSchema, path: child, &causes, &lists, &hasRules)
                } else if let additional = schema["additionalProperties"], additional.objectValue != nil {
                    check(object[key]!, additional, path: child, &causes, &lists, &hasRules)
                }
            }
            for required in (schema["required"]?.arrayValue ?? []).compactMap(\.stringValue) where object[required] == nil {
                causes.append(.required(path.isEmpty ? required : "\(path).\(required)"))
            }
        default:
            break
        }
    }

    private static func number(_ value: JSONValue) -> Double? {
        switch value {
        case .int(let i): Double(i)
        case .double(let d): d
        default: nil
        }
    }

    private static func tooMany(_ path: String, _ count: Int, _ max: Int) -> StatusError.Cause {
        StatusError.Cause(reason: "FieldValueTooMany", message: "Too many: \(count): must have at most \(max) items", field: path)
    }

    /// `x-kubernetes-list-type: set` lists hold each value once; `map` lists each combination of
    /// their `x-kubernetes-list-map-keys` once.
    private static func duplicates(_ items: [JSONValue], _ schema: JSONValue, path: String) -> [StatusError.Cause] {
        var causes: [StatusError.Cause] = []
        switch schema["x-kubernetes-list-type"]?.stringValue {
        case "set":
            var seen: Set<JSONValue> = []
            for (index, item) in items.enumerated() where !seen.insert(item).inserted {
                let shown = item.stringValue.map { "\"\($0)\"" } ?? item.jsonString
                causes.append(StatusError.Cause(reason: "FieldValueDuplicate", message: "Duplicate value: \(shown)", field: "\(path)[\(index)]"))
            }
        case "map":
            let keys = (schema["x-kubernetes-list-map-keys"]?.arrayValue ?? []).compactMap(\.stringValue).sorted()
            var seen: Set<[JSONValue]> = []
            for (index, item) in items.enumerated() {
                let identity = keys.map { item[$0] ?? .null }
                guard seen.insert(identity).inserted else {
                    // Go prints the key map as map[string]interface {}{"k":v, ...}.
                    let fields = zip(keys, identity).map { "\"\($0)\":\($1.jsonString)" }.joined(separator: ", ")
                    causes.append(StatusError.Cause(reason: "FieldValueDuplicate",
                                                    message: "Duplicate value: map[string]interface {}{\(fields)}", field: "\(path)[\(index)]"))
                    continue
                }
            }
        default:
            break
        }
        return causes
    }

    /// ECMA-262 patterns as Go's regexp reads them; the common subset matches the same strings
    /// under NSRegularExpression.
    private static func matches(_ text: String, _ pattern: String) -> Bool {
        guard let regex = try? NSRegularExpression(pattern: pattern) else { return true }
        return regex.firstMatch(in: text, range: NSRange(text.startIndex..., in: text)) != nil
    }
}
