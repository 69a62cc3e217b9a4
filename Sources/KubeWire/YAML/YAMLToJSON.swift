/// Kubernetes manifests and request bodies in YAML, read as the API reads them: each document
/// becomes the JSON value kubectl would send. Scalars keep the type YAML resolves for them
/// (`replicas: 3` stays a number, `"3"` a string); timestamps stay strings, as Kubernetes
/// times are strings in JSON too. A JSON document is YAML, so this reads JSON as well.
public enum YAMLToJSON {
    /// Every document of a YAML stream (`---` separated), empty documents left out.
    public static func documents(_ text: String) throws(YAMLSyntaxError) -> [JSONValue] {
        do {
            return try YAMLReader.composeAll(text).map(json)
        } catch {
            throw YAMLSyntaxError(description: "\(error)")
        }
    }

    /// The one document of `bytes` (null when there is none).
    public static func document(_ bytes: [UInt8]) throws(YAMLSyntaxError) -> JSONValue {
        do {
            return try YAMLReader.compose(String(decoding: bytes, as: UTF8.self)).map(json) ?? .null
        } catch {
            throw YAMLSyntaxError(description: "\(error)")
        }
    }

    static func json(_ node: YAMLNode) -> JSONValue {
        switch node {
        case .scalar(let scalar):
            switch YAMLReader.tag(of: node) {
            case .null: return .null
            case .bool: return scalar.bool.map(JSONValue.bool) ?? .string(scalar.string)
            case .int: return scalar.int.map { .int(Int64($0)) } ?? .string(scalar.string)
            case .float: return scalar.float.map(JSONValue.double) ?? .string(scalar.string)
            default: return .string(scalar.string)
            }
        case .mapping(let mapping):
            var object: [String: JSONValue] = [:]
            for (key, value) in mapping { object[key.string ?? ""] = json(value) }
            return .object(object)
        case .sequence(let sequence):
            return .array(sequence.map(json))
        }
    }
}

/// Text that is not YAML, with libyaml's words: `line 3, column 1: did not find expected '-' indicator`.
public struct YAMLSyntaxError: Error, Sendable, CustomStringConvertible {
    public var description: String
}
