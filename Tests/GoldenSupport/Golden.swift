import Foundation
import KubeWire

/// The responses of a real kube-apiserver recorded by `scripts/record-golden` in
/// `Tests/Golden`, and what the tests need to read them: the scenario's steps, each recorded
/// answer, the placeholders of later steps, the redaction of Secret values, and a comparison of
/// two answers by shape (the values a server picks — uids, resourceVersions, times — aside).
public enum Golden {
    public static let directory = URL(fileURLWithPath: #filePath).deletingLastPathComponent()
        .deletingLastPathComponent().appendingPathComponent("Golden")

    /// One request of the scenario, or an action between requests (`compact`, `overload`).
    public struct Step: Sendable {
        public var name: String
        public var action: String?
        public var method: String
        /// With `${step.json.path}` placeholders.
        public var path: String
        public var accept: String
        public var contentType: String?
        /// With placeholders, as JSON text.
        public var body: String?
    }

    /// A recorded answer.
    public struct Response: Sendable {
        public var status: Int
        public var contentType: String
        public var retryAfter: String?
        public var body: [UInt8]

        public init(status: Int, contentType: String, retryAfter: String?, body: [UInt8]) {
            self.status = status
            self.contentType = contentType
            self.retryAfter = retryAfter
            self.body = body
        }

        public var json: JSONValue? { try? JSONParser.parse(body) }
        public var text: String { String(decoding: body, as: UTF8.self) }

        /// The events of a watch answer, one JSON value per line.
        public var watchEvents: [JSONValue] {
            text.split(separator: "\n").compactMap { try? JSONParser.parse(String($0)) }
        }
    }

    public static func scenario() throws -> (namespace: String, steps: [Step]) {
        let json = try JSONParser.parse(Array(try Data(contentsOf: directory.appendingPathComponent("scenario.json"))))
        let steps = (json["steps"]?.arrayValue ?? []).map { s in
            Step(name: s["name"]?.stringValue ?? "", action: s["action"]?.stringValue, method: s["method"]?.stringValue ?? "GET",
                 path: s["path"]?.stringValue ?? "", accept: s["accept"]?.stringValue ?? "application/json",
                 contentType: s["contentType"]?.stringValue,
                 body: s["body"]?.jsonString ?? s["bodyText"]?.stringValue)
        }
        return (json["namespace"]?.stringValue ?? "", steps)
    }

    public static func response(_ name: String) throws -> Response {
        let bytes = Array(try Data(contentsOf: directory.appendingPathComponent("responses/\(name).http")))
        var headEnd = 0
        while headEnd + 1 < bytes.count, !(bytes[headEnd] == 10 && bytes[headEnd + 1] == 10) { headEnd += 1 }
        let head = String(decoding: bytes[..<headEnd], as: UTF8.self).split(separator: "\n")
        var response = Response(status: Int(head[0].split(separator: " ")[1]) ?? 0, contentType: "", retryAfter: nil,
                                body: Array(bytes[min(bytes.count, headEnd + 2)...]))
        for line in head.dropFirst() {
            let parts = line.split(separator: ":", maxSplits: 1).map { $0.trimmingCharacters(in: .whitespaces) }
            switch parts[0].lowercased() {
            case "content-type": response.contentType = parts.count > 1 ? parts[1] : ""
            case "retry-after": response.retryAfter = parts.count > 1 ? parts[1] : nil
            default: break
            }
        }
        return response
    }

    /// Every recorded answer, by step name (actions have none).
    public static func responses() throws -> [(step: Step, response: Response)] {
        try scenario().steps.filter { $0.action != "compact" }.map { ($0, try response($0.name)) }
    }

    /// Replaces `${step.json.path}` with that value of an earlier step's answer.
    public static func substitute(_ text: String, _ recorded: [String: JSONValue]) -> String {
        var out = ""
        var rest = Substring(text)
        while let start = rest.range(of: "${"), let end = rest[start.upperBound...].firstIndex(of: "}") {
            out += rest[..<start.lowerBound]
            let path = rest[start.upperBound..<end].split(separator: ".").map(String.init)
            var value: JSONValue? = recorded[path[0]]
            for key in path.dropFirst() { value = value?[key] }
            out += value?.stringValue ?? ""
            rest = rest[rest.index(after: end)...]
        }
        return out + rest
    }

    /// The recorder's redaction: every value of a Secret's data (a Secret object, an item of a
    /// SecretList, the object of a watch event) becomes base64 "redacted".
    public static func redact(_ value: JSONValue, secret: Bool = false) -> JSONValue {
        switch value {
        case .array(let items): return .array(items.map { redact($0, secret: secret) })
        case .object(let members):
            let kind = members["kind"]?.stringValue
            var out = members.mapValues { redact($0) }
            if let items = members["items"], kind == "SecretList" { out["items"] = redact(items, secret: true) }
            if secret || kind == "Secret", let data = out["data"]?.objectValue {
                out["data"] = .object(data.mapValues { _ in "cmVkYWN0ZWQ=" })
            }
            return .object(out)
        default: return value
        }
    }

    /// Where `emulated` differs from `real` by shape: a member missing or extra, another type,
    /// another array length, or another string once the values a server picks are masked
    /// (uids, times, digits, continue tokens). Members named in `ignoring` are skipped anywhere.
    public static func differences(real: JSONValue, emulated: JSONValue, path: String = "",
                                   ignoring: Set<String> = []) -> [String] {
        switch (real, emulated) {
        case (.object(let a), .object(let b)):
            var out: [String] = []
            for key in Set(a.keys).union(b.keys).sorted() where !ignoring.contains(key) {
                switch (a[key], b[key]) {
                case (let x?, let y?):
                    if key == "continue", x.stringValue?.isEmpty == false, y.stringValue?.isEmpty == false { continue }
                    out += differences(real: x, emulated: y, path: path + "." + key, ignoring: ignoring)
                case (_?, nil): out.append("\(path).\(key): missing (real: \(a[key]!.jsonString.prefix(120)))")
                case (nil, _?): out.append("\(path).\(key): not in the real answer (\(b[key]!.jsonString.prefix(120)))")
                default: break
                }
            }
            return out
        case (.array(let a), .array(let b)):
            guard a.count == b.count else { return ["\(path): \(b.count) elements, the real answer has \(a.count)"] }
            return zip(a, b).enumerated().flatMap { differences(real: $1.0, emulated: $1.1, path: "\(path)[\($0)]", ignoring: ignoring) }
        case (.string(let a), .string(let b)):
            return mask(a) == mask(b) ? [] : ["\(path): \"\(b)\", the real answer says \"\(a)\""]
        case (.int, .int), (.double, .double), (.int, .double), (.double, .int):
            return []
        case (.bool(let a), .bool(let b)):
            return a == b ? [] : ["\(path): \(b), the real answer says \(a)"]
        case (.null, .null):
            return []
        default:
            return ["\(path): \(emulated.jsonString.prefix(120)), the real answer has \(real.jsonString.prefix(120))"]
        }
    }

    /// A string with what a server picks masked: uids, RFC 3339 times, digit runs.
    public static func mask(_ s: String) -> String {
        var t = s.replacingOccurrences(of: "[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}", with: "<uid>", options: .regularExpression)
        t = t.replacingOccurrences(of: "[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]+)?Z", with: "<time>", options: .regularExpression)
        return t.replacingOccurrences(of: "[0-9]+", with: "<n>", options: .regularExpression)
    }
}
