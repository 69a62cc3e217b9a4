import Foundation
import KubeWire
import Yams

/// A kubeconfig's YAML as plain values (`[String: Any]`, `[Any]`, `String`, `Int`, `Double`,
/// `Bool`, `NSNull`) for the field reader. Converted here rather than by `Yams.load`, which
/// stops the process on a mapping key that is not a scalar (`? [a]: b`): a kubeconfig is user
/// input, so such a key is an error naming the file, like any other malformed field.
enum KubeconfigYAML {
    static func plain(_ node: Node, file: String) throws(ConfigurationError) -> Any {
        switch node {
        case .scalar(let scalar):
            switch YAMLReader.tag(of: node).rawValue {
            case Tag.Name.null.rawValue: return NSNull()
            case Tag.Name.bool.rawValue: return node.bool ?? scalar.string
            case Tag.Name.int.rawValue: return node.int ?? scalar.string
            case Tag.Name.float.rawValue: return node.float ?? scalar.string
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
                    throw ConfigurationError("kubeconfig \(file): a mapping key at line \(key.mark?.line ?? 0) is not a string")
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
        case .alias:
            throw ConfigurationError("kubeconfig \(file): YAML aliases are not supported")
        }
    }
}
