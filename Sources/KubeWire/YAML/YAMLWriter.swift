/// YAML text for a tree, in flow style with every scalar double-quoted (JSON's escapes, which
/// are YAML's too): reading it back gives every scalar's text, typed as strings.
public enum YAMLWriter {
    public static func flow(_ node: YAMLNode) -> String {
        switch node {
        case .scalar(let scalar):
            return JSONValue.string(scalar.string).jsonString
        case .sequence(let sequence):
            return "[" + sequence.map(flow).joined(separator: ", ") + "]"
        case .mapping(let mapping):
            return "{" + mapping.map { flow($0.key) + ": " + flow($0.value) }.joined(separator: ", ") + "}"
        }
    }
}
