/// `metav1.Status`: the body of every API error (and of a delete that removed its object).
///
/// The client decodes it from failed responses and watch ERROR events; the emulator encodes
/// it. Clients branch on `reason` and `code`, and people read `message`.
public struct StatusError: Error, Sendable, Hashable, CustomStringConvertible {
    /// One entry of `details.causes` (a field error of a 422, for example). Empty strings are
    /// left out of the body, as Go's `omitempty` does.
    public struct Cause: Sendable, Hashable {
        public var reason: String
        public var message: String
        public var field: String

        public init(reason: String, message: String, field: String) {
            self.reason = reason
            self.message = message
            self.field = field
        }
    }

    /// `details`: which object the failure is about. Empty strings and a zero
    /// `retryAfterSeconds` are left out of the body.
    public struct Details: Sendable, Hashable {
        public var name: String
        public var group: String
        /// The resource (`secrets`) for most reasons, the Kind (`Secret`) for `Invalid`.
        public var kind: String
        public var uid: String
        public var causes: [Cause]
        public var retryAfterSeconds: Int

        public init(name: String = "", group: String = "", kind: String = "", uid: String = "", causes: [Cause] = [],
                    retryAfterSeconds: Int = 0) {
            self.name = name
            self.group = group
            self.kind = kind
            self.uid = uid
            self.causes = causes
            self.retryAfterSeconds = retryAfterSeconds
        }
    }

    /// HTTP status (or the Status `code`, which for watch ERROR events is all there is).
    public var code: Int
    /// `Failure`, or `Success` for the Status a delete answers.
    public var status: String
    /// `Conflict`, `AlreadyExists`, `NotFound`, `Invalid`, `Forbidden`, `Expired`, `Gone`,
    /// `TooManyRequests`, … ; empty when the server gave none.
    public var reason: String
    public var message: String
    /// nil when the body has no `details` at all.
    public var details: Details?
    /// `metadata.continue`: the server offers it with a 410 for an expired continue token.
    public var continueToken: String?
    /// From the `Retry-After` header or `details.retryAfterSeconds`, whichever says more.
    public var retryAfterSeconds: Int?

    public init(
        code: Int, reason: String, message: String, causes: [Cause] = [], detailsName: String? = nil,
        detailsKind: String? = nil, retryAfterSeconds: Int? = nil
    ) {
        self.code = code
        self.status = "Failure"
        self.reason = reason
        self.message = message
        if !causes.isEmpty || detailsName != nil || detailsKind != nil {
            details = Details(name: detailsName ?? "", kind: detailsKind ?? "", causes: causes)
        }
        self.retryAfterSeconds = retryAfterSeconds
    }

    public init(code: Int, reason: String, message: String, details: Details?, retryAfterSeconds: Int? = nil) {
        self.code = code
        self.status = "Failure"
        self.reason = reason
        self.message = message
        self.details = details
        self.retryAfterSeconds = retryAfterSeconds ?? details.flatMap { $0.retryAfterSeconds > 0 ? $0.retryAfterSeconds : nil }
    }

    /// `details.causes`.
    public var causes: [Cause] { details?.causes ?? [] }
    /// `details.name`: the object's name.
    public var detailsName: String? { details.flatMap { $0.name.isEmpty ? nil : $0.name } }
    /// `details.kind`: the resource name on conflicts, the Kind on 422.
    public var detailsKind: String? { details.flatMap { $0.kind.isEmpty ? nil : $0.kind } }

    public var description: String {
        var s = "\(code) \(reason.isEmpty ? "Error" : reason): \(message)"
        if let retryAfterSeconds { s += " (retry after \(retryAfterSeconds)s)" }
        return s
    }

    public var isNotFound: Bool { code == 404 || reason == "NotFound" }
    public var isAlreadyExists: Bool { reason == "AlreadyExists" }
    /// Optimistic-concurrency or precondition failure: re-read and try again.
    public var isConflict: Bool { code == 409 && reason != "AlreadyExists" }
    /// History too old (watch ERROR or LIST 410, expired continue token): relist.
    public var isExpired: Bool { code == 410 || reason == "Expired" || reason == "Gone" }
    public var isInvalid: Bool { code == 422 || reason == "Invalid" }
    public var isForbidden: Bool { code == 403 }
    public var isUnauthorized: Bool { code == 401 }
    public var isTooManyRequests: Bool { code == 429 }
}

// MARK: - Decoding

extension StatusError {
    /// Decodes a `Status` object; nil if `json` is not one.
    public init?(status json: JSONValue, httpCode: Int? = nil, retryAfterHeader: String? = nil) {
        guard json["kind"]?.stringValue == "Status" else { return nil }
        self.code = Int(json["code"]?.intValue ?? Int64(httpCode ?? 0))
        self.status = json["status"]?.stringValue ?? "Failure"
        self.reason = json["reason"]?.stringValue ?? ""
        self.message = json["message"]?.stringValue ?? ""
        self.continueToken = json["metadata"]?["continue"]?.stringValue
        if let d = json["details"], d.objectValue != nil {
            self.details = Details(
                name: d["name"]?.stringValue ?? "", group: d["group"]?.stringValue ?? "", kind: d["kind"]?.stringValue ?? "",
                uid: d["uid"]?.stringValue ?? "",
                causes: d["causes"]?.arrayValue?.map {
                    Cause(reason: $0["reason"]?.stringValue ?? "", message: $0["message"]?.stringValue ?? "",
                          field: $0["field"]?.stringValue ?? "")
                } ?? [],
                retryAfterSeconds: Int(d["retryAfterSeconds"]?.intValue ?? 0))
        }
        let fromBody = details.flatMap { $0.retryAfterSeconds > 0 ? $0.retryAfterSeconds : nil }
        let fromHeader = retryAfterHeader.flatMap { Int($0.trimmingASCIIWhitespace()) }
        self.retryAfterSeconds = [fromBody, fromHeader].compactMap { $0 }.max()
    }

    /// Builds the error for a non-2xx response: a Status body when there is one, else the body
    /// text (the 429 of priority-and-fairness is text/plain) under a reason derived from the code.
    public init(httpCode: Int, body: [UInt8], retryAfterHeader: String?) {
        if let json = try? JSONParser.parse(body), let s = StatusError(status: json, httpCode: httpCode, retryAfterHeader: retryAfterHeader) {
            self = s
            if self.code == 0 { self.code = httpCode }
            return
        }
        let text = String(decoding: body.prefix(1024), as: UTF8.self).trimmingASCIIWhitespace()
        self.init(
            code: httpCode, reason: Self.reason(forCode: httpCode),
            message: text.isEmpty ? "the server answered HTTP \(httpCode)" : text,
            retryAfterSeconds: retryAfterHeader.flatMap { Int($0.trimmingASCIIWhitespace()) })
    }

    /// The reason the API server gives each status code (apimachinery `metav1.StatusReason`).
    public static func reason(forCode code: Int) -> String {
        switch code {
        case 400: return "BadRequest"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 409: return "Conflict"
        case 410: return "Expired"
        case 413: return "RequestEntityTooLarge"
        case 415: return "UnsupportedMediaType"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        case 504: return "Timeout"
        default: return ""
        }
    }
}

// MARK: - Encoding

extension StatusError {
    /// The Status body, as the API server writes it.
    public var json: JSONValue {
        var metadata: JSONValue = [:]
        if let continueToken { metadata["continue"] = .string(continueToken) }
        var o: JSONValue = ["kind": "Status", "apiVersion": "v1", "metadata": metadata, "status": .string(status)]
        if code != 0 { o["code"] = .int(Int64(code)) }
        if !message.isEmpty { o["message"] = .string(message) }
        if !reason.isEmpty { o["reason"] = .string(reason) }
        if let details {
            var d: JSONValue = [:]
            if !details.name.isEmpty { d["name"] = .string(details.name) }
            if !details.group.isEmpty { d["group"] = .string(details.group) }
            if !details.kind.isEmpty { d["kind"] = .string(details.kind) }
            if !details.uid.isEmpty { d["uid"] = .string(details.uid) }
            if !details.causes.isEmpty {
                d["causes"] = .array(details.causes.map { c in
                    var o: JSONValue = [:]
                    if !c.reason.isEmpty { o["reason"] = .string(c.reason) }
                    if !c.message.isEmpty { o["message"] = .string(c.message) }
                    if !c.field.isEmpty { o["field"] = .string(c.field) }
                    return o
                })
            }
            if details.retryAfterSeconds > 0 { d["retryAfterSeconds"] = .int(Int64(details.retryAfterSeconds)) }
            o["details"] = d
        }
        return o
    }
}

extension String {
    func trimmingASCIIWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
