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
    /// Every request is negotiated, so the header is read in place: its ranges and parameters
    /// are slices of it, and nothing is copied or hashed.
    static func format(accept: String?, isList: Bool, isWatch: Bool) -> OutputFormat {
        guard let accept, !accept.isEmpty else { return .full }
        for text in HeaderPieces(accept.utf8[...], separator: ",") {
            let range = MediaRange(text)
            guard range.servesJSON else { continue }
            guard let asKind = range.asKind else { return .full }
            guard let group = range.group, group.elementsEqual("meta.k8s.io".utf8) else { continue }
            let v = range.version ?? ""[...].utf8
            guard v.elementsEqual("v1".utf8) || v.elementsEqual("v1beta1".utf8) else { continue }
            if asKind.elementsEqual("PartialObjectMetadataList".utf8), isList, !isWatch { return .partialMetadata }
            if asKind.elementsEqual("PartialObjectMetadata".utf8), !isList || isWatch { return .partialMetadata }
            if asKind.elementsEqual("Table".utf8) { return .table(version: String(Substring(v))) }
        }
        return .full
    }

    static func percentDecode(_ s: Substring) -> String {
        guard s.utf8.contains(where: { $0 == UInt8(ascii: "%") || $0 == UInt8(ascii: "+") }) else { return String(s) }
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

/// One media range of an Accept header, as slices of it: the type and the parameters a
/// Kubernetes client sets to ask for a transform (`as`, `g`, `v`). Parts and parameters are
/// read as `split` and a dictionary read them: empty parts are skipped, a parameter needs a
/// name and a value, and a later one wins.
private struct MediaRange {
    var type: Substring.UTF8View?
    var asKind: Substring.UTF8View?
    var group: Substring.UTF8View?
    var version: Substring.UTF8View?

    init(_ text: Substring.UTF8View) {
        for part in HeaderPieces(text, separator: ";") {
            guard type != nil else {
                type = part.trimmingSpaces
                continue
            }
            guard let eq = part.firstIndex(of: UInt8(ascii: "=")) else { continue }
            let name = part[..<eq], value = part[part.index(after: eq)...]
            guard !name.isEmpty, !value.isEmpty else { continue }
            switch name.trimmingSpaces {
            case let n where n.elementsEqual("as".utf8): asKind = value.trimmingSpaces
            case let n where n.elementsEqual("g".utf8): group = value.trimmingSpaces
            case let n where n.elementsEqual("v".utf8): version = value.trimmingSpaces
            default: continue
            }
        }
    }

    /// JSON, or a wildcard that includes it.
    var servesJSON: Bool {
        guard let type else { return false }
        return type.elementsEqual("application/json".utf8) || type.elementsEqual("*/*".utf8)
            || type.elementsEqual("application/*".utf8)
    }
}

/// The non-empty pieces of a header between separators, as `split(separator:)` gives them,
/// without building an array.
private struct HeaderPieces: Sequence, IteratorProtocol {
    private var rest: Substring.UTF8View
    private let separator: UInt8

    init(_ text: Substring.UTF8View, separator: Unicode.Scalar) {
        rest = text
        self.separator = UInt8(ascii: separator)
    }

    mutating func next() -> Substring.UTF8View? {
        while !rest.isEmpty {
            let end = rest.firstIndex(of: separator) ?? rest.endIndex
            let piece = rest[..<end]
            rest = end < rest.endIndex ? rest[rest.index(after: end)...] : rest[end...]
            if !piece.isEmpty { return piece }
        }
        return nil
    }
}

extension Substring.UTF8View {
    /// Without the spaces around it.
    fileprivate var trimmingSpaces: Substring.UTF8View {
        var s = self
        while s.first == UInt8(ascii: " ") { s.removeFirst() }
        while s.last == UInt8(ascii: " ") { s.removeLast() }
        return s
    }
}
