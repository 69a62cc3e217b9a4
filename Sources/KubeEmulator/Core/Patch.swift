import Foundation
import KubeWire

// PATCH bodies: JSON merge patch (RFC 7386), JSON patch (RFC 6902) and the strategic merge
// patch kubectl sends for built-in kinds. For Secrets, ConfigMaps, Namespaces, Leases and
// Events every field is a map or a scalar except a few lists, so strategic merge is merge
// patch plus its directives ($patch, $retainKeys, $setElementOrder, $deleteFromPrimitiveList)
// and the merge strategy of metadata.finalizers (a set) and metadata.ownerReferences (by uid).

public enum PatchType: String, Sendable {
    case json = "application/json-patch+json"
    case merge = "application/merge-patch+json"
    case strategic = "application/strategic-merge-patch+json"
    case apply = "application/apply-patch+yaml"
}

enum Patching {
    struct Failure: Error {
        let message: String
        /// 422 for a failed `test` op or a bad path, 400 for an unreadable patch.
        let code: Int
    }

    static func mergePatch(_ target: JSONValue, _ patch: JSONValue) -> JSONValue {
        guard case .object(let p) = patch else { return patch }
        var t = target.objectValue ?? [:]
        for (k, v) in p {
            if v == .null { t[k] = nil } else { t[k] = mergePatch(t[k] ?? .null, v) }
        }
        return .object(t)
    }

    /// Lists whose strategic patch strategy is "merge" (a set of strings), by path.
    static let mergedPrimitiveLists: Set<String> = ["metadata.finalizers"]
    /// Lists of objects merged by a key, by path.
    static let mergedObjectLists: [String: String] = ["metadata.ownerReferences": "uid"]

    static func strategicMerge(_ target: JSONValue, _ patch: JSONValue, path: String = "") throws(Failure) -> JSONValue {
        guard case .object(var p) = patch else { return patch }
        if let directive = p.removeValue(forKey: "$patch")?.stringValue {
            switch directive {
            case "replace": return .object(p.filter { !$0.key.hasPrefix("$") })
            case "delete": return .null
            default: throw Failure(message: "Unknown patch directive \"\(directive)\"", code: 400)
            }
        }
        var t = target.objectValue ?? [:]
        if let retain = p.removeValue(forKey: "$retainKeys")?.arrayValue {
            let keep = Set(retain.compactMap(\.stringValue))
            t = t.filter { keep.contains($0.key) }
        }
        for (k, v) in p where k.hasPrefix("$deleteFromPrimitiveList/") {
            let field = String(k.dropFirst("$deleteFromPrimitiveList/".count))
            let remove = Set((v.arrayValue ?? []).compactMap(\.stringValue))
            if let list = t[field]?.arrayValue {
                t[field] = .array(list.filter { !remove.contains($0.stringValue ?? "") })
            }
        }
        for (k, v) in p where !k.hasPrefix("$") {
            let childPath = path.isEmpty ? k : "\(path).\(k)"
            if v == .null {
                t[k] = nil
            } else if mergedPrimitiveLists.contains(childPath), case .array(let add) = v {
                var list = t[k]?.arrayValue ?? []
                for item in add where !list.contains(item) { list.append(item) }
                t[k] = .array(list)
            } else if let key = mergedObjectLists[childPath], case .array(let items) = v {
                var list = t[k]?.arrayValue ?? []
                for item in items {
                    let id = item[key]
                    if item["$patch"]?.stringValue == "delete" {
                        list.removeAll { $0[key] == id }
                    } else if let i = list.firstIndex(where: { $0[key] == id }) {
                        list[i] = try strategicMerge(list[i], item, path: childPath)
                    } else {
                        list.append(try strategicMerge(.null, item, path: childPath))
                    }
                }
                t[k] = .array(list)
            } else if case .object = v {
                let merged = try strategicMerge(t[k] ?? .null, v, path: childPath)
                t[k] = merged == .null ? nil : merged
            } else {
                t[k] = v
            }
        }
        return .object(t)
    }

    static func jsonPatch(_ target: JSONValue, _ patch: JSONValue) throws(Failure) -> JSONValue {
        guard case .array(let ops) = patch else {
            throw Failure(message: "json: cannot unmarshal \(patch.typeName) into Go value of type jsonpatch.Patch", code: 400)
        }
        var doc = target
        for op in ops {
            guard let name = op["op"]?.stringValue else { throw Failure(message: "Unexpected kind: missing op", code: 400) }
            guard let path = op["path"]?.stringValue else { throw Failure(message: "doc is missing path: \"\(name)\": missing value", code: 422) }
            let pointer = try parsePointer(path)
            switch name {
            case "add":
                guard let v = op["value"] else { throw Failure(message: "missing value", code: 422) }
                doc = try set(doc, pointer[...], v, insert: true)
            case "replace":
                guard let v = op["value"] else { throw Failure(message: "missing value", code: 422) }
                guard get(doc, pointer[...]) != nil else {
                    throw Failure(message: "replace operation does not apply: doc is missing key: \(path): missing value", code: 422)
                }
                doc = try set(doc, pointer[...], v, insert: false)
            case "remove":
                guard get(doc, pointer[...]) != nil else {
                    throw Failure(message: "remove operation does not apply: doc is missing path: \"\(path)\": missing value", code: 422)
                }
                doc = try remove(doc, pointer[...])
            case "test":
                let actual = get(doc, pointer[...])
                if actual != (op["value"] ?? .null) {
                    throw Failure(message: "testing value \(path) failed: test failed", code: 422)
                }
            case "move", "copy":
                guard let fromText = op["from"]?.stringValue else { throw Failure(message: "missing from", code: 422) }
                let from = try parsePointer(fromText)
                guard let v = get(doc, from[...]) else {
                    throw Failure(message: "\(name) operation does not apply: doc is missing from path: \(fromText): missing value", code: 422)
                }
                if name == "move" { doc = try remove(doc, from[...]) }
                doc = try set(doc, pointer[...], v, insert: true)
            default:
                throw Failure(message: "Unexpected kind: \(name)", code: 422)
            }
        }
        return doc
    }

    private static func parsePointer(_ path: String) throws(Failure) -> [String] {
        if path.isEmpty { return [] }
        guard path.hasPrefix("/") else { throw Failure(message: "JSON pointer must be empty or start with a \"/\": \(path)", code: 422) }
        return path.dropFirst().split(separator: "/", omittingEmptySubsequences: false).map {
            $0.replacingOccurrences(of: "~1", with: "/").replacingOccurrences(of: "~0", with: "~")
        }
    }

    private static func get(_ doc: JSONValue, _ p: ArraySlice<String>) -> JSONValue? {
        guard let first = p.first else { return doc }
        switch doc {
        case .object(let o): return o[first].flatMap { get($0, p.dropFirst()) }
        case .array(let a):
            guard let i = Int(first), i >= 0, i < a.count else { return nil }
            return get(a[i], p.dropFirst())
        default: return nil
        }
    }

    private static func set(_ doc: JSONValue, _ p: ArraySlice<String>, _ value: JSONValue, insert: Bool) throws(Failure) -> JSONValue {
        guard let first = p.first else { return value }
        let rest = p.dropFirst()
        switch doc {
        case .object(var o):
            if rest.isEmpty {
                o[first] = value
            } else {
                guard let child = o[first] else {
                    throw Failure(message: "add operation does not apply: doc is missing path: \"/\(p.joined(separator: "/"))\": missing value", code: 422)
                }
                o[first] = try set(child, rest, value, insert: insert)
            }
            return .object(o)
        case .array(var a):
            if rest.isEmpty {
                if first == "-" && insert { a.append(value); return .array(a) }
                guard let i = Int(first), i >= 0, i <= a.count, insert || i < a.count else {
                    throw Failure(message: "add operation does not apply: doc is missing path: \"/\(first)\": missing value", code: 422)
                }
                if insert { a.insert(value, at: i) } else { a[i] = value }
            } else {
                guard let i = Int(first), i >= 0, i < a.count else {
                    throw Failure(message: "doc is missing path: \"/\(first)\": missing value", code: 422)
                }
                a[i] = try set(a[i], rest, value, insert: insert)
            }
            return .array(a)
        default:
            throw Failure(message: "doc is missing path: \"/\(p.joined(separator: "/"))\": missing value", code: 422)
        }
    }

    private static func remove(_ doc: JSONValue, _ p: ArraySlice<String>) throws(Failure) -> JSONValue {
        guard let first = p.first else { return .null }
        let rest = p.dropFirst()
        switch doc {
        case .object(var o):
            if rest.isEmpty { o[first] = nil } else if let c = o[first] { o[first] = try remove(c, rest) }
            return .object(o)
        case .array(var a):
            guard let i = Int(first), i >= 0, i < a.count else {
                throw Failure(message: "remove operation does not apply: doc is missing path: \"/\(first)\": missing value", code: 422)
            }
            if rest.isEmpty { a.remove(at: i) } else { a[i] = try remove(a[i], rest) }
            return .array(a)
        default:
            return doc
        }
    }
}
