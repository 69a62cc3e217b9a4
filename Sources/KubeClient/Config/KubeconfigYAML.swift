import KubeWire

/// A kubeconfig's YAML as plain values (`[String: Any]`, `[Any]`, `String`, `Int`, `Double`,
/// `Bool`, `YAMLNull`) for the field reader. A mapping key that is not a scalar (`? [a]: b`) is
/// an error naming the file, like any other malformed field: a kubeconfig is user input.
enum KubeconfigYAML {
    /// A YAML null (`~`, `null`, nothing) where the field reader expects a value.
    struct YAMLNull {}

    static func plain(_ node: YAMLNode, file: String) throws(ConfigurationError) -> Any {
        switch node {
        case .scalar(let scalar):
            switch YAMLReader.tag(of: node) {
            case .null: return YAMLNull()
            case .bool: return scalar.bool ?? scalar.string
            case .int: return scalar.int ?? scalar.string
            case .float: return scalar.float ?? scalar.string
            default: return scalar.string
            }
        case .sequence(let sequence):
            var items: [Any] = []
            for item in sequence { items.append(try plain(item, file: file)) }
            return items
        case .mapping(let mapping):
            var object: [String: Any] = [:]
            var merged: [[String: Any]] = []
            for (key, value) in mapping {
                guard case .scalar(let k) = key else {
                    throw ConfigurationError("kubeconfig \(file): a mapping key at line \(key.mark.line) is not a string")
                }
                if YAMLReader.isMergeKey(key) {
                    // YAML merge keys (`<<: *defaults`), as Go's YAML reader honours them.
                    switch try plain(value, file: file) {
                    case let m as [String: Any]: merged.append(m)
                    case let list as [Any]: merged += list.compactMap { $0 as? [String: Any] }
                    default: throw ConfigurationError("kubeconfig \(file): a merge key (<<) needs a mapping")
                    }
                    continue
                }
                object[k.string] = try plain(value, file: file)
            }
            for m in merged { object.merge(m) { own, _ in own } }
            return object
        }
    }
}
