/// HTTP header fields in order; lookup by name ignores case.
public struct HTTPHeaders: Sendable, Equatable, Sequence, ExpressibleByDictionaryLiteral {
    public private(set) var fields: [(name: String, value: String)] = []

    public init() {}

    public init(_ fields: [(String, String)]) {
        self.fields = fields.map { (name: $0.0, value: $0.1) }
    }

    public init(dictionaryLiteral elements: (String, String)...) {
        self.init(elements)
    }

    /// Appends a field (a name may appear more than once).
    public mutating func add(name: String, value: String) {
        fields.append((name: name, value: value))
    }

    /// The first value of `name`, any case: `headers["retry-after"]`.
    public subscript(name: String) -> String? {
        let wanted = name.lowercased()
        return fields.first { $0.name.lowercased() == wanted }?.value
    }

    /// Every value of `name`, any case, in order.
    public func values(for name: String) -> [String] {
        let wanted = name.lowercased()
        return fields.filter { $0.name.lowercased() == wanted }.map(\.value)
    }

    public func makeIterator() -> IndexingIterator<[(name: String, value: String)]> {
        fields.makeIterator()
    }

    public static func == (a: HTTPHeaders, b: HTTPHeaders) -> Bool {
        a.fields.elementsEqual(b.fields) { $0.name == $1.name && $0.value == $1.value }
    }
}

/// TLS material and policy for one request. PEM bytes are handed to libcurl from memory
/// (CURLOPT_CAINFO_BLOB, CURLOPT_SSLCERT_BLOB, CURLOPT_SSLKEY_BLOB); nothing touches the disk.
public struct TLSOptions: Sendable, Equatable {
    /// CA certificates (PEM) to trust instead of the system store. Nil: the system store.
    public var caPEM: [UInt8]?
    /// Client certificate (PEM) for mutual TLS; needs ``clientKeyPEM``.
    public var clientCertificatePEM: [UInt8]?
    /// The client certificate's private key (PEM).
    public var clientKeyPEM: [UInt8]?
    /// Skips verification of the server's certificate and name. Off by default.
    public var insecureSkipVerify: Bool
    /// The name to verify the server's certificate against (and send as SNI) instead of the
    /// URL's host, e.g. kubeconfig's `tls-server-name`. The connection still goes to the URL's host.
    public var serverName: String?

    public init(caPEM: [UInt8]? = nil, clientCertificatePEM: [UInt8]? = nil, clientKeyPEM: [UInt8]? = nil,
                insecureSkipVerify: Bool = false, serverName: String? = nil) {
        self.caPEM = caPEM
        self.clientCertificatePEM = clientCertificatePEM
        self.clientKeyPEM = clientKeyPEM
        self.insecureSkipVerify = insecureSkipVerify
        self.serverName = serverName
    }
}

/// One HTTP request. HTTP/2 is negotiated over TLS where the server offers it (ALPN), and
/// requests to the same server share its connections.
public struct HTTPRequest: Sendable, Equatable {
    public var method: String
    /// An absolute `http://` or `https://` URL.
    public var url: String
    public var headers: HTTPHeaders
    /// The request body; nil sends none.
    public var body: [UInt8]?
    public var tls: TLSOptions
    /// A proxy URL (`http://host:port`); nil leaves libcurl's default, which honours the
    /// `https_proxy` / `no_proxy` environment variables.
    public var proxy: String?
    /// Limit for connecting (TCP and TLS handshake). Nil: libcurl's default (300 s).
    public var connectTimeout: Duration?
    /// Limit for the whole transfer. Nil (the default, right for watches): none.
    public var timeout: Duration?

    public init(method: String = "GET", url: String, headers: HTTPHeaders = HTTPHeaders(), body: [UInt8]? = nil,
                tls: TLSOptions = TLSOptions(), proxy: String? = nil, connectTimeout: Duration? = .seconds(30),
                timeout: Duration? = nil) {
        self.method = method
        self.url = url
        self.headers = headers
        self.body = body
        self.tls = tls
        self.proxy = proxy
        self.connectTimeout = connectTimeout
        self.timeout = timeout
    }
}

/// The status line and headers of a response.
///
/// A head read from the network keeps its header lines as received and parses them when
/// ``headers`` or ``version`` is read: most answers are used for their status and body alone,
/// and parsing every header into strings cost about 2 % of the daemon's CPU per write.
public struct HTTPResponseHead: Sendable, Equatable {
    public var status: Int
    private var fields: Fields

    private enum Fields: Sendable {
        /// The status line and header lines, as received.
        case received([UInt8])
        case parsed(HTTPHeaders, version: String)
    }

    public init(status: Int, headers: HTTPHeaders, version: String) {
        self.status = status
        fields = .parsed(headers, version: version)
    }

    /// A head from its raw block: the status line and "name: value" lines (parsed when read).
    init(status: Int, block: UnsafeBufferPointer<UInt8>) {
        self.status = status
        fields = .received(Array(block))
    }

    public var headers: HTTPHeaders {
        get { parsed.headers }
        set { fields = .parsed(newValue, version: version) }
    }

    /// "1.1" or "2" (the protocol the server answered with).
    public var version: String {
        get { parsed.version }
        set { fields = .parsed(headers, version: newValue) }
    }

    private var parsed: (headers: HTTPHeaders, version: String) {
        switch fields {
        case .parsed(let headers, let version): (headers, version)
        case .received(let block): block.withUnsafeBufferPointer(Self.parse)
        }
    }

    public static func == (a: HTTPResponseHead, b: HTTPResponseHead) -> Bool {
        a.status == b.status && a.parsed == b.parsed
    }

    /// Parses a raw header block: the status line ("HTTP/1.1 200 OK", "HTTP/2 200") and
    /// "name: value" lines, each ending in CRLF or LF. Lines without a colon are skipped.
    static func parse(_ block: UnsafeBufferPointer<UInt8>) -> (headers: HTTPHeaders, version: String) {
        var headers = HTTPHeaders()
        var version = ""
        var first = true
        for line in block.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            var end = line.endIndex
            while end > line.startIndex, line[end - 1] == UInt8(ascii: "\r") { end -= 1 }
            let text = line[line.startIndex..<end]
            if first {
                first = false
                if text.starts(with: "HTTP/".utf8) {
                    version = String(decoding: text.dropFirst(5).prefix { $0 != UInt8(ascii: " ") }, as: UTF8.self)
                    continue
                }
            }
            guard let colon = text.firstIndex(of: UInt8(ascii: ":")) else { continue }
            let name = String(decoding: text[text.startIndex..<colon], as: UTF8.self)
            let value = String(decoding: text[(colon + 1)...], as: UTF8.self)
            headers.add(name: name, value: value[...].trimmingSpaces())
        }
        return (headers, version)
    }
}

/// A buffered response (``HTTPClient/send(_:completion:)``).
public struct HTTPResponse: Sendable, Equatable {
    public var head: HTTPResponseHead
    public var body: [UInt8]

    public var status: Int { head.status }
    public var headers: HTTPHeaders { head.headers }
}

/// Why a transfer failed. HTTP error statuses (4xx, 5xx) are not failures: they complete
/// normally with their status. Messages are libcurl's and hold no request data.
public enum HTTPError: Error, Equatable, Sendable, CustomStringConvertible {
    /// The request could not be started: a bad URL, method or TLS option.
    case invalidRequest(String)
    /// The TCP connection failed: refused, or the host is unreachable.
    case couldNotConnect(String)
    /// The host (or the proxy) name did not resolve.
    case dns(String)
    /// The server's certificate did not verify (unknown CA, wrong name, expired).
    case tlsVerification(String)
    /// Another TLS failure: handshake, bad client certificate or key, the server rejected us.
    case tls(String)
    /// The connect timeout or the total timeout expired.
    case timeout(String)
    /// The connection broke mid-transfer (reset, closed early, HTTP/2 stream error).
    case connectionLost(String)
    /// ``HTTPTransfer/cancel()`` was called.
    case cancelled
    /// Any other libcurl failure, with its CURLcode.
    case other(code: Int, message: String)

    public var description: String {
        switch self {
        case .invalidRequest(let message): "invalid request: \(message)"
        case .couldNotConnect(let message): "could not connect: \(message)"
        case .dns(let message): "name resolution failed: \(message)"
        case .tlsVerification(let message): "TLS verification failed: \(message)"
        case .tls(let message): "TLS failed: \(message)"
        case .timeout(let message): "timed out: \(message)"
        case .connectionLost(let message): "connection lost: \(message)"
        case .cancelled: "cancelled"
        case .other(let code, let message): "transfer failed (curl \(code)): \(message)"
        }
    }
}

extension Substring {
    fileprivate func trimmingSpaces() -> String {
        guard let first = firstIndex(where: { $0 != " " && $0 != "\t" }),
              let last = lastIndex(where: { $0 != " " && $0 != "\t" }) else { return "" }
        return String(self[first...last])
    }
}
