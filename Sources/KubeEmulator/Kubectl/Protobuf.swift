import Foundation
import KubeWire

// kubectl (1.32) sends create and replace bodies of built-in kinds as Kubernetes protobuf:
// the 4-byte magic "k8s\0", then a runtime.Unknown {typeMeta, raw} whose `raw` is the
// object's generated.proto message. The emulator decodes the kinds it serves into its JSON
// model (it always answers in JSON, which clients accept). Field numbers are those of
// k8s.io/api/{core,coordination}/v1 and apimachinery meta/v1 generated.proto.

enum Protobuf {
    static let magic: [UInt8] = [0x6b, 0x38, 0x73, 0x00]
    static let contentType = "application/vnd.kubernetes.protobuf"

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    indirect enum Field {
        case string, int, bool, time
        case message(Schema)
        case stringMap, bytesMap
        case strings
        case messages(Schema)
    }

    struct Schema {
        let fields: [Int: (String, Field)]
    }

    static let ownerReference = Schema(fields: [
        1: ("kind", .string), 3: ("name", .string), 4: ("uid", .string), 5: ("apiVersion", .string),
        6: ("controller", .bool), 7: ("blockOwnerDeletion", .bool),
    ])
    static let objectMeta = Schema(fields: [
        1: ("name", .string), 2: ("generateName", .string), 3: ("namespace", .string), 5: ("uid", .string),
        6: ("resourceVersion", .string), 7: ("generation", .int), 8: ("creationTimestamp", .time), 9: ("deletionTimestamp", .time),
        10: ("deletionGracePeriodSeconds", .int), 11: ("labels", .stringMap), 12: ("annotations", .stringMap),
        13: ("ownerReferences", .messages(ownerReference)), 14: ("finalizers", .strings),
    ])
    static let kinds: [String: Schema] = [
        "v1/Secret": Schema(fields: [1: ("metadata", .message(objectMeta)), 2: ("data", .bytesMap), 3: ("type", .string),
                                     4: ("stringData", .stringMap), 5: ("immutable", .bool)]),
        "v1/ConfigMap": Schema(fields: [1: ("metadata", .message(objectMeta)), 2: ("data", .stringMap), 3: ("binaryData", .bytesMap),
                                        4: ("immutable", .bool)]),
        "v1/Namespace": Schema(fields: [1: ("metadata", .message(objectMeta)),
                                        2: ("spec", .message(Schema(fields: [1: ("finalizers", .strings)]))),
                                        3: ("status", .message(Schema(fields: [1: ("phase", .string)])))]),
        "coordination.k8s.io/v1/Lease": Schema(fields: [1: ("metadata", .message(objectMeta)), 2: ("spec", .message(Schema(fields: [
            1: ("holderIdentity", .string), 2: ("leaseDurationSeconds", .int), 3: ("acquireTime", .time), 4: ("renewTime", .time),
            5: ("leaseTransitions", .int), 6: ("strategy", .string), 7: ("preferredHolder", .string),
        ])))]),
    ]

    /// Decodes an enveloped object into JSON (with apiVersion and kind from its type meta).
    static func decode(_ body: [UInt8]) throws -> JSONValue {
        guard body.count >= 4, Array(body[0..<4]) == magic else {
            throw Failure(description: "provided data does not appear to be a protobuf message, expected prefix [107 56 115 0]")
        }
        var r = Reader(data: body, pos: 4, end: body.count)
        var apiVersion = "", kind = ""
        var raw: [UInt8] = []
        while let (num, wire) = try r.tag() {
            switch (num, wire) {
            case (1, 2):
                var tm = try r.sub()
                while let (n, w) = try tm.tag() {
                    if n == 1, w == 2 { apiVersion = try tm.string() } else if n == 2, w == 2 { kind = try tm.string() } else { try tm.skip(w) }
                }
            case (2, 2): raw = try r.bytes()
            default: try r.skip(wire)
            }
        }
        guard let schema = kinds["\(apiVersion)/\(kind)"] else {
            throw Failure(description: "no protobuf decoding for \(kind) in \(apiVersion): send application/json")
        }
        var inner = Reader(data: raw, pos: 0, end: raw.count)
        var obj = try message(&inner, schema)
        obj["apiVersion"] = .string(apiVersion)
        obj["kind"] = .string(kind)
        return .object(obj)
    }

    private static func message(_ r: inout Reader, _ schema: Schema) throws -> [String: JSONValue] {
        var out: [String: JSONValue] = [:]
        while let (num, wire) = try r.tag() {
            guard let (name, field) = schema.fields[num] else { try r.skip(wire); continue }
            switch field {
            case .string: out[name] = .string(try r.string())
            case .int: out[name] = .int(Int64(bitPattern: try r.varint()))
            case .bool: out[name] = .bool(try r.varint() != 0)
            case .time:
                var t = try r.sub()
                var seconds: Int64 = 0
                while let (n, w) = try t.tag() {
                    if n == 1 { seconds = Int64(bitPattern: try t.varint()) } else { try t.skip(w) }
                }
                // Clamped to years 0001–9999, the range metav1.Time can hold.
                let clamped = min(max(seconds, -62_135_596_800), 253_402_300_799)
                out[name] = .string(APITime.timestamp(Date(timeIntervalSince1970: TimeInterval(clamped))))
            case .message(let s):
                var sub = try r.sub()
                out[name] = .object(try message(&sub, s))
            case .messages(let s):
                var sub = try r.sub()
                var list = out[name]?.arrayValue ?? []
                list.append(.object(try message(&sub, s)))
                out[name] = .array(list)
            case .strings:
                var list = out[name]?.arrayValue ?? []
                list.append(.string(try r.string()))
                out[name] = .array(list)
            case .stringMap, .bytesMap:
                var entry = try r.sub()
                var key = "", value: JSONValue = .string("")
                while let (n, w) = try entry.tag() {
                    if n == 1 {
                        key = try entry.string()
                    } else if n == 2 {
                        if case .bytesMap = field { value = .string(Data(try entry.bytes()).base64EncodedString()) } else { value = .string(try entry.string()) }
                    } else {
                        try entry.skip(w)
                    }
                }
                var map = out[name]?.objectValue ?? [:]
                map[key] = value
                out[name] = .object(map)
            }
        }
        return out
    }

    struct Reader {
        let data: [UInt8]
        var pos: Int
        let end: Int

        mutating func varint() throws -> UInt64 {
            var v: UInt64 = 0
            var shift: UInt64 = 0
            while pos < end {
                let b = data[pos]
                pos += 1
                v |= UInt64(b & 0x7f) << shift
                if b & 0x80 == 0 { return v }
                shift += 7
                if shift > 63 { break }
            }
            throw Failure(description: "protobuf: truncated or overlong varint")
        }

        mutating func tag() throws -> (Int, UInt64)? {
            guard pos < end else { return nil }
            let t = try varint()
            return (Int(t >> 3), t & 7)
        }

        mutating func length() throws -> Int {
            guard let n = Int(exactly: try varint()), n <= end - pos else {
                throw Failure(description: "protobuf: field length beyond the message")
            }
            return n
        }

        mutating func bytes() throws -> [UInt8] {
            let n = try length()
            guard pos + n <= end else { throw Failure(description: "protobuf: field length beyond the message") }
            defer { pos += n }
            return Array(data[pos..<pos + n])
        }

        mutating func string() throws -> String { String(decoding: try bytes(), as: UTF8.self) }

        mutating func sub() throws -> Reader {
            let n = try length()
            guard pos + n <= end else { throw Failure(description: "protobuf: field length beyond the message") }
            defer { pos += n }
            return Reader(data: data, pos: pos, end: pos + n)
        }

        mutating func skip(_ wire: UInt64) throws {
            switch wire {
            case 0: _ = try varint()
            case 1: pos += 8
            case 2: _ = try sub()
            case 5: pos += 4
            default: throw Failure(description: "protobuf: unsupported wire type \(wire)")
            }
            if pos > end { throw Failure(description: "protobuf: truncated message") }
        }
    }
}
