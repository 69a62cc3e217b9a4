import Foundation
import Yams

// Request bodies in `application/yaml`, which the real API server accepts beside JSON
// (handy with curl). Timestamps stay strings: Kubernetes times are strings in JSON too.

enum YAMLBody {
    static func parse(_ bytes: [UInt8]) throws -> JSON {
        let text = String(decoding: bytes, as: UTF8.self)
        return convert(try Yams.load(yaml: text, Resolver.default.removing(.timestamp)))
    }

    private static func convert(_ v: Any?) -> JSON {
        switch v {
        case nil, is NSNull: return .null
        case let b as Bool: return .bool(b)
        case let i as Int: return .int(Int64(i))
        case let d as Double: return .double(d)
        case let s as String: return .string(s)
        case let a as [Any]: return .array(a.map(convert))
        case let m as [String: Any]: return .object(m.mapValues(convert))
        case let m as [AnyHashable: Any]:
            return .object(Dictionary(m.map { (String(describing: $0.key), convert($0.value)) }, uniquingKeysWith: { $1 }))
        default: return .string(String(describing: v!))
        }
    }
}
