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
