/// One page of a LIST answer (`SecretList`, `PartialObjectMetadataList`, …): its items, the
/// list's resourceVersion (to watch from) and the continue token of the next page.
///
/// `decode(_:)` is the one place list bodies are decoded, so a faster decoder (items straight
/// into ``ObjectMeta`` without a `JSONValue`) replaces it alone.
public struct ListPage: Sendable {
    public var items: [JSONValue]
    public var resourceVersion: String
    /// Empty or absent on the last page.
    public var continueToken: String?
    public var remainingItemCount: Int64?

    public init(items: [JSONValue], resourceVersion: String, continueToken: String? = nil, remainingItemCount: Int64? = nil) {
        self.items = items
        self.resourceVersion = resourceVersion
        self.continueToken = continueToken
        self.remainingItemCount = remainingItemCount
    }

    /// Decodes a list body; `items: null` (an empty list, as Go writes a nil slice) is no items.
    public static func decode(_ body: [UInt8]) throws(ListDecodingError) -> ListPage {
        let json: JSONValue
        do {
            json = try JSONParser.parse(body)
        } catch {
            throw ListDecodingError(description: "not JSON: \(error)")
        }
        return try ListPage(json: json)
    }

    public init(json: JSONValue) throws(ListDecodingError) {
        guard let items = json["items"]?.arrayValue ?? (json["items"] == .null ? [] : nil) else {
            throw ListDecodingError(description: "no items")
        }
        let metadata = json["metadata"]
        self.items = items
        self.resourceVersion = metadata?["resourceVersion"]?.stringValue ?? ""
        self.continueToken = metadata?["continue"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        self.remainingItemCount = metadata?["remainingItemCount"]?.intValue
    }
}

/// A 2xx list answer that is not a list.
public struct ListDecodingError: Error, Sendable, CustomStringConvertible {
    public var description: String
}

/// One page of a PartialObjectMetadataList (or of any list whose items' metadata is all that
/// is wanted), read straight into ``ObjectMeta`` by ``JSONScanner``: the items' other members
/// are checked and skipped, never built. What ``ListPage`` would hand an informer that keeps
/// only metadata, at a fraction of the cost.
public struct MetadataListPage: Sendable {
    /// The items that have a `metadata.name`, in order (``ObjectMeta/init(object:)`` is nil
    /// for the others, which an informer skips).
    public var items: [ObjectMeta]
    public var resourceVersion: String
    /// Empty or absent on the last page.
    public var continueToken: String?
    public var remainingItemCount: Int64?

    /// Decodes a list body as ``ListPage/decode(_:)`` does — the same errors for bytes that are
    /// not JSON or not a list — keeping only the items' metadata.
    public static func decode(_ body: [UInt8]) throws(ListDecodingError) -> MetadataListPage {
        let result: Result<MetadataListPage?, JSONParseError> = body.withUnsafeBytes { bytes in
            var s = JSONScanner(bytes)
            do throws(JSONParseError) {
                try s.begin()
                let page = try scanList(&s)
                try s.end()
                return .success(page)
            } catch {
                return .failure(error)
            }
        }
        switch result {
        case .failure(let error): throw ListDecodingError(description: "not JSON: \(error)")
        case .success(nil): throw ListDecodingError(description: "no items")
        case .success(let page?): return page
        }
    }

    /// The list at `s`; nil when it is not an object or its `items` is neither an array nor null.
    private static func scanList(_ s: inout JSONScanner) throws(JSONParseError) -> MetadataListPage? {
        guard s.peekKind() == .object else {
            try s.skipValue()
            return nil
        }
        var items: [ObjectMeta]?
        var itemsSeen = false
        var resourceVersion: String?, continueToken: String?, remaining: Int64?
        try s.object { s, key throws(JSONParseError) in
            if key == "items" {
                itemsSeen = true
                switch s.peekKind() {
                case .array:
                    var list: [ObjectMeta] = []
                    try s.array { s throws(JSONParseError) in
                        guard s.peekKind() == .object else { return }
                        if let (meta, named) = try ObjectMeta.read(object: &s), named { list.append(meta) }
                    }
                    items = list
                case .null:
                    try s.skipValue()
                    items = []
                default:
                    try s.skipValue()
                    items = nil
                }
            } else if key == "metadata" {
                resourceVersion = nil
                continueToken = nil
                remaining = nil
                guard s.peekKind() == .object else { return }
                try s.object { s, key throws(JSONParseError) in
                    if key == "resourceVersion" {
                        resourceVersion = try s.string()
                    } else if key == "continue" {
                        continueToken = try s.string()
                    } else if key == "remainingItemCount" {
                        remaining = try s.int()
                    }
                }
            }
        }
        guard itemsSeen, let items else { return nil }
        return MetadataListPage(
            items: items, resourceVersion: resourceVersion ?? "",
            continueToken: continueToken.flatMap { $0.isEmpty ? nil : $0 }, remainingItemCount: remaining)
    }
}
