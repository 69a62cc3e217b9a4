import Foundation
import KubeWire

// The Table transform: `kubectl get` asks for `as=Table` and prints the server's columns.
// Each kind's columns are in its ResourceType (`columns`); the core hands tables to
// `Tables` (API.render, API.listBody and the watch stream).

/// One column of `kubectl get` output, served through the Table transform.
public struct PrinterColumn: Sendable {
    public var name: String
    public var type: String
    public var format: String
    public var description: String
    public var priority: Int
    public var value: @Sendable (JSONValue) -> JSONValue

    public init(name: String, type: String = "string", format: String = "", description: String = "", priority: Int = 0,
                value: @escaping @Sendable (JSONValue) -> JSONValue) {
        self.name = name
        self.type = type
        self.format = format
        self.description = description
        self.priority = priority
        self.value = value
    }

    /// A column showing a string at a dotted path (`spec.holderIdentity`), empty when absent.
    public static func path(_ name: String, _ path: String, description: String = "", priority: Int = 0) -> PrinterColumn {
        let parts = path.split(separator: ".").map(String.init)
        return PrinterColumn(name: name, description: description, priority: priority) { obj in
            var cur: JSONValue? = obj
            for p in parts { cur = cur?[p] }
            return cur ?? .string("")
        }
    }
}

/// The Table transform (`kubectl get`'s human-readable output is built by the server).
enum Tables {
    static func columns(_ type: ResourceType) -> [PrinterColumn] {
        [PrinterColumn(name: "Name", format: "name", description: "Name must be unique within a namespace. Is required when creating resources, although some resources may allow a client to request the generation of an appropriate name automatically. Name is primarily intended for creation idempotence and configuration definition. Cannot be updated. More info: https://kubernetes.io/docs/concepts/overview/working-with-objects/names#names") { .string($0["metadata"]?["name"]?.stringValue ?? "") }]
            + type.columns
            + (type.ageColumn ? [PrinterColumn(name: "Age", description: "CreationTimestamp is a timestamp representing the server time when this object was created. It is not guaranteed to be set in happens-before order across separate operations. Clients may not set this value. It is represented in RFC3339 form and is in UTC.\n\nPopulated by the system. Read-only. Null for lists. More info: https://git.k8s.io/community/contributors/devel/sig-architecture/api-conventions.md#metadata") { obj in
                age(obj["metadata"]?["creationTimestamp"])
            }] : [])
    }

    /// A timestamp shown as the time since then (`5m`), as the server prints dates.
    static func age(_ value: JSONValue?) -> JSONValue {
        guard let ts = value?.stringValue, let d = APITime.parse(ts) else { return "<unknown>" }
        return .string(APITime.humanDuration(Int(Date().timeIntervalSince(d))))
    }

    static func row(_ type: ResourceType, _ o: StoredObject, includeObject: String?) -> JSONValue {
        var row: [String: JSONValue] = ["cells": .array(columns(type).map { $0.value(o.json) })]
        switch includeObject ?? "Metadata" {
        case "None": break
        case "Object": row["object"] = o.json
        default: row["object"] = o.partialMetadata
        }
        return .object(row)
    }

    static func table(type: ResourceType, objects: [StoredObject], rv: UInt64, continueToken: String?, version: String, includeObject: String?, headers: Bool) -> JSONValue {
        var meta: [String: JSONValue] = ["resourceVersion": .string(String(rv))]
        if let continueToken { meta["continue"] = .string(continueToken) }
        var t: [String: JSONValue] = ["kind": "Table", "apiVersion": .string("meta.k8s.io/\(version)"), "metadata": .object(meta),
                                 "rows": .array(objects.map { row(type, $0, includeObject: includeObject) })]
        t["columnDefinitions"] = headers
            ? .array(columns(type).map { c in
                ["name": .string(c.name), "type": .string(c.type), "format": .string(c.format), "description": .string(c.description), "priority": .int(Int64(c.priority))]
            })
            : .null
        return .object(t)
    }
}
