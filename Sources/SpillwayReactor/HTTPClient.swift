import CSpillwayShims

#if canImport(Glibc)
import Glibc
#endif

/// HTTP over libcurl's multi interface, driven by a ``Reactor``: no thread per transfer, no
/// polling. One client holds one curl multi handle, so its transfers share connections: HTTP/2
/// streams where the server speaks HTTP/2 over TLS (with `CURLOPT_PIPEWAIT` a new request waits for
/// a multiplexed connection rather than opening another one), kept-alive HTTP/1.1 connections
/// otherwise. TCP keepalive is on for every connection.
///
/// Confined to the reactor's thread, like the reactor (debug builds trap a call from another
/// thread). Handlers are called on it, never from inside libcurl (its callbacks only copy bytes;
/// the handlers run once `curl_multi_socket_action` has returned), and never synchronously from
/// ``start(_:onResponse:onBody:completion:)`` or ``HTTPTransfer/cancel()``. So a handler may do
/// anything with the client, including start transfers or let go of the client's last reference.
/// Releasing the client completes each transfer still in flight with ``HTTPError/cancelled``.
public final class HTTPClient {
    fileprivate let reactor: Reactor
    private var glue: OpaquePointer!
    private var active: [ObjectIdentifier: HTTPTransfer] = [:]

    /// Creates the client's curl multi handle on `reactor`.
    public init(reactor: Reactor) throws {
        self.reactor = reactor
        reactor.assertOnLoopThread()
        glue = spw_curl_create(reactor.pointer, { _, context in
            let transfer = Unmanaged<HTTPTransfer>.fromOpaque(context!).takeUnretainedValue()
            withExtendedLifetime(transfer) { transfer.deliver() }
        }, { _, code, context in
            let transfer = Unmanaged<HTTPTransfer>.fromOpaque(context!).takeUnretainedValue()
            withExtendedLifetime(transfer) { transfer.client?.transferFinished(transfer, code) }
        })
        guard glue != nil else { throw ReactorError("create curl multi handle", negatedErrno: -ENOMEM) }
    }

    deinit {
        // Deinit may run inside one of this client's handlers; the glue then frees its memory
        // once its own frames have left the stack.
        let stranded = active.values
        active = [:]
        for transfer in stranded { transfer.releaseHandle() }
        spw_curl_destroy(glue)
        for transfer in stranded { transfer.complete(.failure(.cancelled)) }
    }

    /// The number of transfers started and not yet completed.
    public var activeTransfers: Int { active.count }

    /// Starts a transfer. `onResponse` gets the final status line and headers once, before any
    /// body bytes; `onBody` gets the body in the fragments the network delivers (a watch's stream
    /// arrives here as it comes); `completion` is called exactly once, last, with the response
    /// head or what went wrong. Setup errors (a malformed URL, a rejected option) arrive through
    /// `completion` as ``HTTPError/invalidRequest(_:)``.
    @discardableResult
    public func start(_ request: HTTPRequest, onResponse: ((HTTPResponseHead) -> Void)? = nil,
                      onBody: @escaping ([UInt8]) -> Void,
                      completion: @escaping (Result<HTTPResponseHead, HTTPError>) -> Void) -> HTTPTransfer {
        reactor.assertOnLoopThread()
        let transfer = HTTPTransfer(client: self, onResponse: onResponse, onBody: onBody, completion: completion)
        do {
            try transfer.configure(for: request)
        } catch {
            transfer.releaseHandle()
            reactor.runSoon { transfer.complete(.failure(error)) }
            return transfer
        }
        let rc = spw_curl_add(glue, transfer.handle)
        guard rc == CURLM_OK else {
            transfer.releaseHandle()
            let message = String(cString: curl_multi_strerror(rc))
            reactor.runSoon { transfer.complete(.failure(.other(code: Int(rc.rawValue), message: message))) }
            return transfer
        }
        active[ObjectIdentifier(transfer)] = transfer
        return transfer
    }

    /// Starts a transfer and buffers its body: for short requests (writes, gets, lists).
    @discardableResult
    public func send(_ request: HTTPRequest,
                     completion: @escaping (Result<HTTPResponse, HTTPError>) -> Void) -> HTTPTransfer {
        var body: [UInt8] = []
        return start(request, onBody: { body.append(contentsOf: $0) }, completion: { result in
            completion(result.map { HTTPResponse(head: $0, body: body) })
        })
    }

    fileprivate func abort(_ transfer: HTTPTransfer) {
        guard active.removeValue(forKey: ObjectIdentifier(transfer)) != nil else { return }
        transfer.releaseHandle()
        transfer.complete(.failure(.cancelled))
    }

    fileprivate func transferFinished(_ transfer: HTTPTransfer, _ code: CURLcode) {
        guard active[ObjectIdentifier(transfer)] != nil else { return }
        transfer.deliver() // what arrived with the end of the transfer
        // A handler of those last bytes may have cancelled the transfer or let go of the client.
        guard active.removeValue(forKey: ObjectIdentifier(transfer)) != nil else { return }
        let result = transfer.result(for: code)
        transfer.releaseHandle()
        transfer.complete(result)
    }
}

/// One in-flight request started by ``HTTPClient/start(_:onResponse:onBody:completion:)``.
public final class HTTPTransfer {
    fileprivate weak var client: HTTPClient?
    /// The glue's transfer (easy handle and receive buffers); nil once released.
    fileprivate private(set) var handle: OpaquePointer?
    private var headerList: UnsafeMutablePointer<curl_slist>?
    private var connectTo: UnsafeMutablePointer<curl_slist>?
    private let errorBuffer = UnsafeMutablePointer<CChar>.allocate(capacity: Int(CURL_ERROR_SIZE))

    private var onResponse: ((HTTPResponseHead) -> Void)?
    private var onBody: (([UInt8]) -> Void)?
    private var completion: ((Result<HTTPResponseHead, HTTPError>) -> Void)?

    private var head: HTTPResponseHead?
    private var overflowed = false
    fileprivate private(set) var cancelRequested = false

    /// True once the completion has been called.
    public var isFinished: Bool { completion == nil }

    /// The bytes the transfer's body buffer keeps allocated between deliveries.
    public var bodyBufferCapacity: Int { handle.map { spw_transfer_body_capacity($0) } ?? 0 }

    fileprivate init(client: HTTPClient, onResponse: ((HTTPResponseHead) -> Void)?,
                     onBody: @escaping ([UInt8]) -> Void,
                     completion: @escaping (Result<HTTPResponseHead, HTTPError>) -> Void) {
        self.client = client
        self.onResponse = onResponse
        self.onBody = onBody
        self.completion = completion
        errorBuffer.initialize(repeating: 0, count: Int(CURL_ERROR_SIZE))
    }

    deinit {
        releaseHandle()
        errorBuffer.deallocate()
    }

    /// Stops the transfer; its completion gets ``HTTPError/cancelled`` (unless it completed
    /// already, then this does nothing). No body bytes are delivered after this call.
    public func cancel() {
        client?.reactor.assertOnLoopThread()
        guard !isFinished, !cancelRequested else { return }
        cancelRequested = true
        // A completion never runs inside the call that caused it.
        client?.reactor.runSoon { [self] in client?.abort(self) }
    }

    fileprivate func complete(_ result: Result<HTTPResponseHead, HTTPError>) {
        guard let completion else { return }
        self.completion = nil
        onResponse = nil
        onBody = nil
        completion(result)
    }

    fileprivate func releaseHandle() {
        if let handle {
            overflowed = spw_transfer_overflowed(handle)
            spw_transfer_destroy(handle) // leaves the multi handle first if still in it
        }
        handle = nil
        curl_slist_free_all(headerList)
        headerList = nil
        curl_slist_free_all(connectTo)
        connectTo = nil
    }

    // MARK: setup

    /// Appends "name: value" ("name:" when the value is empty, which tells libcurl not to send
    /// a header of its own by that name), written straight into a C string for libcurl to copy:
    /// no String is made for the line (a request per replica write is made).
    private func appendHeader(name: String, value: String) throws(HTTPError) {
        var name = name, value = value
        let appended = name.withUTF8 { name in
            value.withUTF8 { value in
                withUnsafeTemporaryAllocation(of: UInt8.self, capacity: name.count + value.count + 3) { line in
                    let colon = line.initialize(fromContentsOf: name)
                    line[colon] = UInt8(ascii: ":")
                    var end = colon + 1
                    if !value.isEmpty {
                        line[end] = UInt8(ascii: " ")
                        end = line[(end + 1)...].initialize(fromContentsOf: value)
                    }
                    line[end] = 0
                    return line.withMemoryRebound(to: CChar.self) { curl_slist_append(headerList, $0.baseAddress) }
                }
            }
        }
        guard let appended else { throw .other(code: Int(CURLE_OUT_OF_MEMORY.rawValue), message: "curl_slist_append failed") }
        headerList = appended
    }

    fileprivate func configure(for request: HTTPRequest) throws(HTTPError) {
        guard let handle = spw_transfer_create(Unmanaged.passUnretained(self).toOpaque()) else {
            throw .other(code: Int(CURLE_OUT_OF_MEMORY.rawValue), message: "curl_easy_init failed")
        }
        self.handle = handle
        let easy = spw_transfer_easy(handle)!
        let options = EasyOptions(easy: easy)

        let (url, isHTTPS) = try effectiveURL(for: request)
        try options.set(CURLOPT_URL, string: url)
        try options.set(CURLOPT_ERRORBUFFER, pointer: errorBuffer)
        try options.set(CURLOPT_NOSIGNAL, 1)
        try options.set(CURLOPT_HTTP_VERSION, Int(CURL_HTTP_VERSION_2TLS))
        // Wait for a connection that may multiplex rather than open another one. Only where ALPN
        // decides (TLS): libcurl 7.88 wakes waiting transfers when ALPN settles, but on plain
        // HTTP/1.1 only when some transfer finishes, so long watches would starve the rest.
        if isHTTPS { try options.set(CURLOPT_PIPEWAIT, 1) }
        try options.set(CURLOPT_TCP_KEEPALIVE, 1)
        try options.set(CURLOPT_TCP_KEEPIDLE, 30)
        try options.set(CURLOPT_TCP_KEEPINTVL, 10)
        try options.set(CURLOPT_SUPPRESS_CONNECT_HEADERS, 1)
        if let connectTimeout = request.connectTimeout {
            try options.set(CURLOPT_CONNECTTIMEOUT_MS, Int(max(connectTimeout.nanoseconds / 1_000_000, 1)))
        }
        if let timeout = request.timeout {
            try options.set(CURLOPT_TIMEOUT_MS, Int(max(timeout.nanoseconds / 1_000_000, 1)))
        }
        if let proxy = request.proxy { try options.set(CURLOPT_PROXY, string: proxy) }

        let method = request.method.uppercased()
        guard !method.isEmpty, method.allSatisfy({ $0.isLetter }) else {
            throw .invalidRequest("bad method \"\(request.method)\"")
        }
        switch (method, request.body) {
        case ("GET", nil):
            try options.set(CURLOPT_HTTPGET, 1)
        case ("HEAD", nil):
            try options.set(CURLOPT_NOBODY, 1)
        case ("GET", _?), ("HEAD", _?):
            throw .invalidRequest("\(method) cannot carry a body")
        default:
            try options.set(CURLOPT_CUSTOMREQUEST, string: method)
            // DELETE may go without a body; POST, PUT and PATCH send at least Content-Length: 0.
            if request.body != nil || method != "DELETE" {
                let body = request.body ?? []
                try options.set(CURLOPT_POSTFIELDSIZE_LARGE, offset: curl_off_t(body.count))
                let rc = body.isEmpty
                    ? "".withCString { spw_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, $0) }
                    : body.withUnsafeBytes { spw_easy_setopt_pointer(easy, CURLOPT_COPYPOSTFIELDS, $0.baseAddress) }
                try options.check(CURLOPT_COPYPOSTFIELDS, rc)
            }
        }

        // An empty Expect stops libcurl from waiting for a 100-continue before sending large bodies.
        for header in request.headers {
            try appendHeader(name: header.name, value: header.value)
        }
        try appendHeader(name: "Expect", value: "")
        try options.set(CURLOPT_HTTPHEADER, pointer: headerList)

        let tls = request.tls
        if tls.insecureSkipVerify {
            if tls.caPEM != nil { throw .invalidRequest("a CA and insecureSkipVerify exclude each other") }
            try options.set(CURLOPT_SSL_VERIFYPEER, 0)
            try options.set(CURLOPT_SSL_VERIFYHOST, 0)
        }
        if let ca = tls.caPEM {
            // Trust exactly this CA: forget the system bundle and directory.
            try options.set(CURLOPT_CAINFO, pointer: nil)
            try options.set(CURLOPT_CAPATH, pointer: nil)
            try options.set(CURLOPT_CAINFO_BLOB, blob: ca)
        }
        switch (tls.clientCertificatePEM, tls.clientKeyPEM) {
        case (let certificate?, let key?):
            try options.set(CURLOPT_SSLCERTTYPE, string: "PEM")
            try options.set(CURLOPT_SSLCERT_BLOB, blob: certificate)
            try options.set(CURLOPT_SSLKEYTYPE, string: "PEM")
            try options.set(CURLOPT_SSLKEY_BLOB, blob: key)
        case (nil, nil):
            break
        default:
            throw .invalidRequest("a client certificate needs its key, and a key its certificate")
        }
        if let connectTo {
            try options.set(CURLOPT_CONNECT_TO, pointer: connectTo)
        }
    }

    /// The URL to give libcurl: with a TLS server name, the name goes into the URL (so libcurl
    /// sends it as SNI and verifies the certificate against it) and CURLOPT_CONNECT_TO still
    /// sends the connection to the original host and port.
    ///
    /// A plain `http://` or `https://` URL is not parsed here: libcurl parses every URL when its
    /// transfer starts, and refuses a malformed one (a bad port, say) as an invalid request too.
    /// Anything else is parsed first, for the scheme and an error that quotes the URL.
    private func effectiveURL(for request: HTTPRequest) throws(HTTPError) -> (url: String, isHTTPS: Bool) {
        if request.tls.serverName == nil, let isHTTPS = PlainURL.isHTTPS(request.url) { return (request.url, isHTTPS) }
        guard let url = curl_url() else { throw .other(code: Int(CURLE_OUT_OF_MEMORY.rawValue), message: "curl_url failed") }
        defer { curl_url_cleanup(url) }
        let parsed = curl_url_set(url, CURLUPART_URL, request.url, 0)
        guard parsed == CURLUE_OK else {
            throw .invalidRequest("URL \"\(request.url)\": \(String(cString: curl_url_strerror(parsed)))")
        }
        var scheme: UnsafeMutablePointer<CChar>?
        curl_url_get(url, CURLUPART_SCHEME, &scheme, 0)
        let schemeName = scheme.map { String(cString: $0) } ?? ""
        curl_free(scheme)
        guard schemeName == "http" || schemeName == "https" else {
            throw .invalidRequest("URL \"\(request.url)\": only http and https are supported")
        }
        guard let serverName = request.tls.serverName else { return (request.url, schemeName == "https") }

        var host: UnsafeMutablePointer<CChar>?
        curl_url_get(url, CURLUPART_HOST, &host, 0)
        let originalHost = host.map { String(cString: $0) } ?? ""
        curl_free(host)
        guard curl_url_set(url, CURLUPART_HOST, serverName, 0) == CURLUE_OK else {
            throw .invalidRequest("TLS server name \"\(serverName)\" is not a host name")
        }
        var rewritten: UnsafeMutablePointer<CChar>?
        curl_url_get(url, CURLUPART_URL, &rewritten, 0)
        defer { curl_free(rewritten) }
        // "HOST:PORT:CONNECT-TO-HOST:CONNECT-TO-PORT", empty parts meaning "any" / "the same".
        guard let list = curl_slist_append(nil, "::\(originalHost):") else {
            throw .other(code: Int(CURLE_OUT_OF_MEMORY.rawValue), message: "curl_slist_append failed")
        }
        connectTo = list
        return (rewritten.map { String(cString: $0) } ?? request.url, schemeName == "https")
    }

    // MARK: handing over what libcurl copied

    /// Hands the head (once complete) and the body bytes received so far to the handlers.
    /// Called by the glue after `curl_multi_socket_action` returned, never inside libcurl.
    fileprivate func deliver() {
        guard !cancelRequested, let handle else { return }
        if head == nil {
            var status = 0
            var bytes: UnsafePointer<UInt8>?
            var length = 0
            guard spw_transfer_head(handle, &status, &bytes, &length) else { return }
            let head = HTTPResponseHead(status: status, block: UnsafeBufferPointer(start: bytes, count: length))
            self.head = head
            onResponse?(head)
        }
        // A head handler may have cancelled the transfer or let go of the client (which releases it).
        guard !cancelRequested, let handle = self.handle else { return }
        var bytes: UnsafePointer<UInt8>?
        let length = spw_transfer_body(handle, &bytes)
        guard length > 0, let bytes else { return }
        let chunk = Array(UnsafeBufferPointer(start: bytes, count: length))
        spw_transfer_consume_body(handle)
        onBody?(chunk)
    }

    fileprivate func result(for code: CURLcode) -> Result<HTTPResponseHead, HTTPError> {
        if cancelRequested { return .failure(.cancelled) }
        if code == CURLE_OK {
            if let head { return .success(head) }
            var status = 0
            if let handle { spw_easy_getinfo_long(spw_transfer_easy(handle), CURLINFO_RESPONSE_CODE, &status) }
            return .success(HTTPResponseHead(status: status, headers: HTTPHeaders(), version: ""))
        }
        if code == CURLE_WRITE_ERROR, let handle, spw_transfer_overflowed(handle) {
            return .failure(.other(code: Int(code.rawValue), message: "response head larger than 1 MiB, or out of memory"))
        }
        let detail = String(cString: errorBuffer)
        let message = detail.isEmpty ? String(cString: curl_easy_strerror(code)) : detail
        return .failure(HTTPError(code: code, message: message))
    }
}

extension HTTPError {
    init(code: CURLcode, message: String) {
        switch code {
        case CURLE_UNSUPPORTED_PROTOCOL, CURLE_URL_MALFORMAT:
            self = .invalidRequest(message)
        case CURLE_COULDNT_RESOLVE_HOST, CURLE_COULDNT_RESOLVE_PROXY:
            self = .dns(message)
        case CURLE_COULDNT_CONNECT:
            self = .couldNotConnect(message)
        case CURLE_OPERATION_TIMEDOUT:
            self = .timeout(message)
        case CURLE_PEER_FAILED_VERIFICATION, CURLE_SSL_PINNEDPUBKEYNOTMATCH, CURLE_SSL_INVALIDCERTSTATUS:
            self = .tlsVerification(message)
        case CURLE_SSL_CONNECT_ERROR, CURLE_SSL_CERTPROBLEM, CURLE_SSL_CIPHER, CURLE_SSL_CACERT_BADFILE,
             CURLE_SSL_ENGINE_NOTFOUND, CURLE_SSL_ENGINE_SETFAILED, CURLE_SSL_ENGINE_INITFAILED,
             CURLE_SSL_CRL_BADFILE, CURLE_SSL_ISSUER_ERROR, CURLE_SSL_CLIENTCERT, CURLE_SSL_SHUTDOWN_FAILED:
            self = .tls(message)
        case CURLE_SEND_ERROR, CURLE_RECV_ERROR, CURLE_GOT_NOTHING, CURLE_PARTIAL_FILE, CURLE_HTTP2,
             CURLE_HTTP2_STREAM:
            self = .connectionLost(message)
        default:
            self = .other(code: Int(code.rawValue), message: message)
        }
    }
}

/// Typed doors to curl_easy_setopt, turning a rejected option into ``HTTPError/invalidRequest(_:)``.
private struct EasyOptions {
    let easy: UnsafeMutableRawPointer

    func check(_ option: CURLoption, _ rc: CURLcode) throws(HTTPError) {
        guard rc == CURLE_OK else {
            throw .invalidRequest("curl option \(option.rawValue): \(String(cString: curl_easy_strerror(rc)))")
        }
    }

    func set(_ option: CURLoption, _ value: Int) throws(HTTPError) {
        try check(option, spw_easy_setopt_long(easy, option, value))
    }

    func set(_ option: CURLoption, offset: curl_off_t) throws(HTTPError) {
        try check(option, spw_easy_setopt_off(easy, option, offset))
    }

    /// libcurl copies string options.
    func set(_ option: CURLoption, string: String) throws(HTTPError) {
        try check(option, string.withCString { spw_easy_setopt_pointer(easy, option, $0) })
    }

    func set(_ option: CURLoption, pointer: UnsafeRawPointer?) throws(HTTPError) {
        try check(option, spw_easy_setopt_pointer(easy, option, pointer))
    }

    func set(_ option: CURLoption, blob: [UInt8]) throws(HTTPError) {
        try check(option, blob.withUnsafeBytes { spw_easy_setopt_blob(easy, option, $0.baseAddress, $0.count) })
    }
}

/// A URL that needs no parse before libcurl's own: `http://` or `https://` (lower case), then
/// only the characters of hosts, ports, API paths, queries and escapes.
private enum PlainURL {
    /// Whether such a URL is https; nil for any other URL.
    static func isHTTPS(_ url: String) -> Bool? {
        let bytes = url.utf8
        let isHTTPS: Bool
        if bytes.starts(with: "https://".utf8) {
            isHTTPS = true
        } else if bytes.starts(with: "http://".utf8) {
            isHTTPS = false
        } else {
            return nil
        }
        return bytes.dropFirst(isHTTPS ? 8 : 7).allSatisfy(isPlain) ? isHTTPS : nil
    }

    /// Letters, digits and URL punctuation; no space, control character, fragment or byte
    /// outside ASCII.
    private static func isPlain(_ byte: UInt8) -> Bool {
        switch byte {
        case UInt8(ascii: "a")...UInt8(ascii: "z"), UInt8(ascii: "A")...UInt8(ascii: "Z"), UInt8(ascii: "0")...UInt8(ascii: "9"):
            true
        case UInt8(ascii: "-"), UInt8(ascii: "."), UInt8(ascii: "_"), UInt8(ascii: "~"), UInt8(ascii: "/"), UInt8(ascii: "?"),
             UInt8(ascii: "%"), UInt8(ascii: "="), UInt8(ascii: "&"), UInt8(ascii: "+"), UInt8(ascii: ","), UInt8(ascii: ":"),
             UInt8(ascii: ";"), UInt8(ascii: "@"), UInt8(ascii: "!"), UInt8(ascii: "$"), UInt8(ascii: "'"), UInt8(ascii: "("),
             UInt8(ascii: ")"), UInt8(ascii: "*"), UInt8(ascii: "["), UInt8(ascii: "]"):
            true
        default:
            false
        }
    }
}
