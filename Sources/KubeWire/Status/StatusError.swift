/// A failure the API server reported: a `Status` body (or the text/plain body of a 429).
public struct StatusError: Error, Sendable, Hashable, CustomStringConvertible {
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

    /// HTTP status (or the Status `code`, which for watch ERROR events is all there is).
    public var code: Int
    /// `Conflict`, `AlreadyExists`, `NotFound`, `Invalid`, `Forbidden`, `Expired`, `Gone`,
    /// `TooManyRequests`, … ; empty when the server gave none.
    public var reason: String
    public var message: String
    public var causes: [Cause]
    /// `details.name` / `details.kind` (the resource name on conflicts, the Kind on 422).
    public var detailsName: String?
    public var detailsKind: String?
    /// From the `Retry-After` header or `details.retryAfterSeconds`, whichever says more.
    public var retryAfterSeconds: Int?

    public init(
        code: Int, reason: String, message: String, causes: [Cause] = [], detailsName: String? = nil,
        detailsKind: String? = nil, retryAfterSeconds: Int? = nil
    ) {
        self.code = code
        self.reason = reason
        self.message = message
        self.causes = causes
        self.detailsName = detailsName
        self.detailsKind = detailsKind
        self.retryAfterSeconds = retryAfterSeconds
    }

    /// Decodes a `Status` object; nil if `json` is not one.
    public init?(status json: JSONValue, httpCode: Int? = nil, retryAfterHeader: String? = nil) {
        guard json["kind"]?.stringValue == "Status" else { return nil }
        let details = json["details"]
        self.code = Int(json["code"]?.intValue ?? Int64(httpCode ?? 0))
        self.reason = json["reason"]?.stringValue ?? ""
        self.message = json["message"]?.stringValue ?? ""
        self.causes = details?["causes"]?.arrayValue?.map {
            Cause(reason: $0["reason"]?.stringValue ?? "", message: $0["message"]?.stringValue ?? "",
                  field: $0["field"]?.stringValue ?? "")
        } ?? []
        self.detailsName = details?["name"]?.stringValue
        self.detailsKind = details?["kind"]?.stringValue
        let fromBody = details?["retryAfterSeconds"]?.intValue.map { Int($0) }
        let fromHeader = retryAfterHeader.flatMap { Int($0.trimmingWhitespace()) }
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
        let text = String(decoding: body.prefix(1024), as: UTF8.self).trimmingWhitespace()
        self.init(
            code: httpCode, reason: Self.reason(forCode: httpCode),
            message: text.isEmpty ? "the server answered HTTP \(httpCode)" : text,
            retryAfterSeconds: retryAfterHeader.flatMap { Int($0.trimmingWhitespace()) })
    }

    static func reason(forCode code: Int) -> String {
        switch code {
        case 400: return "BadRequest"
        case 401: return "Unauthorized"
        case 403: return "Forbidden"
        case 404: return "NotFound"
        case 405: return "MethodNotAllowed"
        case 409: return "Conflict"
        case 410: return "Expired"
        case 422: return "Invalid"
        case 429: return "TooManyRequests"
        case 500: return "InternalError"
        case 503: return "ServiceUnavailable"
        case 504: return "Timeout"
        default: return ""
        }
    }

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

/// Everything a request can fail with.
public enum KubeClientError: Error, Sendable, CustomStringConvertible {
    /// The server answered with an error status.
    case api(StatusError)
    /// No usable answer: connection refused, DNS, TLS verification (with curl's message), …
    case transport(String)
    /// The server answered 2xx but the body was not what the API promises.
    case decoding(String)
    /// Credentials could not be obtained (exec plugin failed, token file unreadable, …).
    case credentials(String)
    /// The request was cancelled (client shut down or caller cancelled).
    case cancelled

    public var description: String {
        switch self {
        case .api(let s): return s.description
        case .transport(let m): return "transport error: \(m)"
        case .decoding(let m): return "unexpected response: \(m)"
        case .credentials(let m): return "credentials: \(m)"
        case .cancelled: return "cancelled"
        }
    }

    /// The Status, when the server sent one.
    public var status: StatusError? {
        if case .api(let s) = self { return s }
        return nil
    }
}

extension String {
    func trimmingWhitespace() -> String {
        var s = Substring(self)
        while let f = s.first, f.isWhitespace { s = s.dropFirst() }
        while let l = s.last, l.isWhitespace { s = s.dropLast() }
        return String(s)
    }
}
