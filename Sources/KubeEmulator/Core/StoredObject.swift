import Foundation
import KubeWire

/// An object as stored: its JSON tree, its encoded bytes (cached so lists and watches copy
/// bytes instead of re-encoding), and the fields the store indexes. Immutable.
public final class StoredObject: Sendable {
    public let json: JSONValue
    public let bytes: [UInt8]
    public let namespace: String
    public let name: String
    public let resourceVersion: UInt64
    public let labels: [String: String]

    /// Where `apiVersion` and `kind` are in `bytes` (each with the comma after it): a list's
    /// items leave them out, as the real server's do.
    private let typeMeta: [Range<Int>]
    /// Where the value of `metadata` is in `bytes`: a PartialObjectMetadata answer copies it.
    private let metadataValue: Range<Int>?

    init(json: JSONValue, resourceVersion: UInt64) {
        self.json = json
        (self.bytes, self.typeMeta, self.metadataValue) = Self.encode(json)
        let meta = json["metadata"]
        self.namespace = meta?["namespace"]?.stringValue ?? ""
        self.name = meta?["name"]?.stringValue ?? ""
        self.resourceVersion = resourceVersion
        self.labels = meta?["labels"]?.stringMap ?? [:]
    }

    /// The object's bytes as an item of a list: without `apiVersion` and `kind`.
    func appendListItem(to out: inout [UInt8]) {
        var from = 0
        for skip in typeMeta {
            out.append(contentsOf: bytes[from..<skip.lowerBound])
            from = skip.upperBound
        }
        out.append(contentsOf: bytes[from...])
    }

    /// `JSONValue.encoded()`, noting where the type meta members are and where the metadata's
    /// value is. Members are written in sorted order, so `metadata` always follows the type meta
    /// members and each of those has a comma after it.
    private static func encode(_ json: JSONValue) -> ([UInt8], [Range<Int>], Range<Int>?) {
        guard case .object(let members) = json else { return (json.encoded(), [], nil) }
        var out: [UInt8] = [UInt8(ascii: "{")]
        var typeMeta: [Range<Int>] = []
        var metadataValue: Range<Int>?
        var skipFrom: Int?
        for (i, key) in members.keys.sorted().enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            if let start = skipFrom {
                typeMeta.append(start..<out.count)
                skipFrom = nil
            }
            let start = out.count
            JSONValue.encodeString(key, into: &out)
            out.append(UInt8(ascii: ":"))
            let valueStart = out.count
            members[key]!.encode(into: &out)
            if key == "apiVersion" || key == "kind" { skipFrom = start }
            if key == "metadata" { metadataValue = valueStart..<out.count }
        }
        out.append(UInt8(ascii: "}"))
        return (out, typeMeta, metadataValue)
    }

    var key: String { namespace.isEmpty ? name : namespace + "/" + name }
    var metadata: JSONValue { json["metadata"] ?? .object([:]) }
    public var uid: String { metadata["uid"]?.stringValue ?? "" }
    var finalizers: [String] { (metadata["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue) }
    var isTerminating: Bool { metadata["deletionTimestamp"].map { $0 != .null } ?? false }

    /// The same object with another resourceVersion (a deletion's RV on the DELETED event).
    func withResourceVersion(_ rv: UInt64) -> StoredObject {
        var j = json
        j["metadata"]?["resourceVersion"] = .string(String(rv))
        return StoredObject(json: j, resourceVersion: rv)
    }

    /// `{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{...}}`.
    var partialMetadata: JSONValue {
        ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1", "metadata": metadata]
    }

    /// `partialMetadata` encoded, the metadata's bytes copied from the object's own: the answer
    /// to every write of a client that asks for metadata alone, so it is not encoded again.
    func appendPartialMetadata(to out: inout [UInt8]) {
        out.append(contentsOf: #"{"apiVersion":"meta.k8s.io/v1","kind":"PartialObjectMetadata","metadata":"#.utf8)
        if let metadataValue {
            out.append(contentsOf: bytes[metadataValue])
        } else {
            out.append(contentsOf: "{}".utf8)
        }
        out.append(UInt8(ascii: "}"))
    }

    var partialMetadataBytes: [UInt8] {
        var out: [UInt8] = []
        out.reserveCapacity((metadataValue?.count ?? 2) + 72)
        appendPartialMetadata(to: &out)
        return out
    }
}

enum APITime {
    /// RFC 3339 with seconds, UTC, as metav1.Time encodes.
    static func timestamp(_ date: Date = Date()) -> String {
        var t = time_t(date.timeIntervalSince1970)
        var tm = tm()
        gmtime_r(&t, &tm)
        // By hand: String(format:) goes through CFString; it was 6 % of the CPU of a create load.
        var out = [UInt8]()
        out.reserveCapacity(20)
        func digits(_ v: Int32, _ width: Int) {
            var v = Int(v)
            var d = [UInt8](repeating: UInt8(ascii: "0"), count: width)
            for i in stride(from: width - 1, through: 0, by: -1) {
                d[i] = UInt8(ascii: "0") + UInt8(v % 10)
                v /= 10
            }
            out += d
        }
        digits(tm.tm_year + 1900, 4)
        out.append(UInt8(ascii: "-"))
        digits(tm.tm_mon + 1, 2)
        out.append(UInt8(ascii: "-"))
        digits(tm.tm_mday, 2)
        out.append(UInt8(ascii: "T"))
        digits(tm.tm_hour, 2)
        out.append(UInt8(ascii: ":"))
        digits(tm.tm_min, 2)
        out.append(UInt8(ascii: ":"))
        digits(tm.tm_sec, 2)
        out.append(UInt8(ascii: "Z"))
        return String(decoding: out, as: UTF8.self)
    }

    static func parse(_ s: String) -> Date? {
        let f = ISO8601DateFormatter()
        f.formatOptions = [.withInternetDateTime]
        if let d = f.date(from: s) { return d }
        f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
        return f.date(from: s)
    }

    /// apimachinery's duration.HumanDuration, the AGE column.
    static func humanDuration(_ seconds: Int) -> String {
        let d = max(seconds, 0)
        if d < 60 * 2 { return "\(d)s" }
        let minutes = d / 60
        if minutes < 10 {
            let s = d % 60
            return s == 0 ? "\(minutes)m" : "\(minutes)m\(s)s"
        }
        if minutes < 60 * 3 { return "\(minutes)m" }
        let hours = minutes / 60
        if hours < 8 {
            let m = minutes % 60
            return m == 0 ? "\(hours)h" : "\(hours)h\(m)m"
        }
        if hours < 48 { return "\(hours)h" }
        if hours < 24 * 8 {
            let h = hours % 24
            return h == 0 ? "\(hours / 24)d" : "\(hours / 24)d\(h)h"
        }
        if hours < 24 * 365 * 2 { return "\(hours / 24)d" }
        if hours < 24 * 365 * 8 {
            let dy = (hours / 24) % 365
            return dy == 0 ? "\(hours / 24 / 365)y" : "\(hours / 24 / 365)y\(dy)d"
        }
        return "\(hours / 24 / 365)y"
    }
}
