// What a request asks for: the Accept header's transforms (PartialObjectMetadata, Table)
// and the query string. kubectl asks for protobuf first; we answer JSON, as a server
// without protobuf support for the type does.

enum OutputFormat: Equatable {
    case full
    case partialMetadata
    case table(version: String)
}

enum Negotiation {
    /// The first media range of `accept` that the emulator can serve for this kind of request.
    static func format(accept: String?, isList: Bool, isWatch: Bool) -> OutputFormat {
        guard let accept, !accept.isEmpty else { return .full }
        for range in accept.split(separator: ",") {
            let parts = range.split(separator: ";").map { $0.trimmingSpaces }
            guard let type = parts.first else { continue }
            guard type == "application/json" || type == "*/*" || type == "application/*" else { continue }
            var params: [String: String] = [:]
            for p in parts.dropFirst() {
                let kv = p.split(separator: "=", maxSplits: 1).map { $0.trimmingSpaces }
                if kv.count == 2 { params[kv[0]] = kv[1] }
            }
            guard let asKind = params["as"] else { return .full }
            guard params["g"] == "meta.k8s.io" else { continue }
            let v = params["v"] ?? ""
            switch asKind {
            case "PartialObjectMetadataList" where isList && !isWatch && (v == "v1" || v == "v1beta1"):
                return .partialMetadata
            case "PartialObjectMetadata" where (!isList || isWatch) && (v == "v1" || v == "v1beta1"):
                return .partialMetadata
            case "Table" where v == "v1" || v == "v1beta1":
                return .table(version: v)
            default:
                continue
            }
        }
        return .full
    }

    static func percentDecode(_ s: Substring) -> String {
        var out: [UInt8] = []
        var it = Array(s.utf8)[...]
        while let c = it.popFirst() {
            if c == UInt8(ascii: "+") {
                out.append(UInt8(ascii: " "))
            } else if c == UInt8(ascii: "%"), it.count >= 2,
                      let v = UInt8(String(decoding: it.prefix(2), as: UTF8.self), radix: 16) {
                out.append(v)
                it = it.dropFirst(2)
            } else {
                out.append(c)
            }
        }
        return String(decoding: out, as: UTF8.self)
    }

    static func splitURI(_ uri: String) -> (path: String, query: [String: String]) {
        guard let q = uri.firstIndex(of: "?") else { return (percentDecode(Substring(uri)), [:]) }
        var query: [String: String] = [:]
        for pair in uri[uri.index(after: q)...].split(separator: "&") {
            let kv = pair.split(separator: "=", maxSplits: 1, omittingEmptySubsequences: false)
            query[percentDecode(kv[0])] = kv.count > 1 ? percentDecode(kv[1]) : ""
        }
        return (percentDecode(uri[..<q]), query)
    }
}

extension Substring {
    /// Without the spaces around it (header values and their parameters).
    var trimmingSpaces: String {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
