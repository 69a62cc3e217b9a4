import Foundation
@testable import KubeEmulator
import KubeWire
import XCTest

/// A minimal blocking HTTP/1.1 client over a POSIX socket, so the tests talk to the emulator
/// over real TCP without any client library of the project. One request per connection.
struct HTTPResponse {
    var status: Int
    var headers: [String: String]
    var body: [UInt8]

    var json: JSONValue { (try? JSONParser.parse(body)) ?? .null }
    var text: String { String(decoding: body, as: UTF8.self) }
}

final class RawConnection {
    let fd: Int32
    private var buffer: [UInt8] = []

    init(port: Int, timeoutSeconds: Int = 10) throws {
        fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        var addr = sockaddr_in()
        addr.sin_family = sa_family_t(AF_INET)
        addr.sin_port = in_port_t(UInt16(port).bigEndian)
        addr.sin_addr.s_addr = inet_addr("127.0.0.1")
        let r = withUnsafePointer(to: &addr) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { connect(fd, $0, socklen_t(MemoryLayout<sockaddr_in>.size)) }
        }
        if r != 0 { close(fd); throw NSError(domain: "connect", code: Int(errno)) }
        var tv = timeval(tv_sec: timeoutSeconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }

    deinit { close(fd) }

    func send(_ method: String, _ path: String, headers: [String: String] = [:], body: [UInt8] = []) {
        var req = "\(method) \(path) HTTP/1.1\r\nHost: 127.0.0.1\r\n"
        for (k, v) in headers { req += "\(k): \(v)\r\n" }
        if !body.isEmpty || method == "POST" || method == "PUT" || method == "PATCH" { req += "Content-Length: \(body.count)\r\n" }
        req += "\r\n"
        let bytes = Array(req.utf8) + body
        _ = bytes.withUnsafeBytes { Foundation.send(fd, $0.baseAddress, $0.count, Int32(MSG_NOSIGNAL)) }
    }

    /// Reads more bytes; false on EOF or timeout.
    private func fill() -> Bool {
        var chunk = [UInt8](repeating: 0, count: 65536)
        let n = chunk.withUnsafeMutableBytes { recv(fd, $0.baseAddress, $0.count, 0) }
        if n <= 0 { return false }
        buffer += chunk[0..<n]
        return true
    }

    private func readLine() -> String? {
        while true {
            if let i = buffer.firstIndex(of: 0x0a) {
                let line = String(decoding: buffer[..<i], as: UTF8.self).trimmingCharacters(in: .init(charactersIn: "\r"))
                buffer.removeFirst(i + 1)
                return line
            }
            if !fill() { return nil }
        }
    }

    private func readExactly(_ n: Int) -> [UInt8]? {
        while buffer.count < n { if !fill() { return nil } }
        let out = Array(buffer[..<n])
        buffer.removeFirst(n)
        return out
    }

    private(set) var chunked = false
    private var streamBuffer: [UInt8] = []
    private(set) var streamEnded = false

    func readHead() throws -> (Int, [String: String]) {
        guard let status = readLine() else { throw NSError(domain: "no response", code: 0) }
        let code = Int(status.split(separator: " ")[1]) ?? 0
        var headers: [String: String] = [:]
        while let line = readLine(), !line.isEmpty {
            let kv = line.split(separator: ":", maxSplits: 1)
            headers[kv[0].lowercased()] = kv.count > 1 ? kv[1].trimmingCharacters(in: .whitespaces) : ""
        }
        chunked = headers["transfer-encoding"]?.lowercased() == "chunked"
        return (code, headers)
    }

    func readResponse() throws -> HTTPResponse {
        let (code, headers) = try readHead()
        var body: [UInt8] = []
        if let len = headers["content-length"].flatMap(Int.init) {
            body = readExactly(len) ?? []
        } else if chunked {
            while let chunk = readChunk() { body += chunk }
        }
        return HTTPResponse(status: code, headers: headers, body: body)
    }

    /// One chunk of a chunked body; nil at the terminating chunk, EOF or timeout.
    func readChunk() -> [UInt8]? {
        guard let sizeLine = readLine(), let size = Int(sizeLine.split(separator: ";")[0], radix: 16) else { return nil }
        if size == 0 { _ = readLine(); streamEnded = true; return nil }
        let data = readExactly(size)
        _ = readLine()
        return data
    }

    /// The next watch event (events may span or share chunks); nil when the stream ends or
    /// nothing arrives within the socket timeout.
    func nextEvent() -> JSONValue? {
        while true {
            if let i = streamBuffer.firstIndex(of: 0x0a) {
                let line = Array(streamBuffer[..<i])
                streamBuffer.removeFirst(i + 1)
                return try? JSONParser.parse(line)
            }
            guard let chunk = readChunk() else { return nil }
            streamBuffer += chunk
        }
    }

    func setTimeout(seconds: Int) {
        var tv = timeval(tv_sec: seconds, tv_usec: 0)
        setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, socklen_t(MemoryLayout<timeval>.size))
    }
}

extension KubeEmulator {
    /// One request over a fresh connection.
    @discardableResult
    func http(_ method: String, _ path: String, _ body: JSONValue? = nil, contentType: String = "application/json",
              headers: [String: String] = [:], rawBody: [UInt8]? = nil) throws -> HTTPResponse {
        let c = try RawConnection(port: port)
        var h = headers
        let bytes = rawBody ?? body?.encoded() ?? []
        if !bytes.isEmpty { h["Content-Type"] = contentType }
        c.send(method, path, headers: h, body: bytes)
        return try c.readResponse()
    }

    /// Opens a watch and returns the connection positioned at the first event.
    func openWatch(_ path: String, headers: [String: String] = [:]) throws -> RawConnection {
        let c = try RawConnection(port: port)
        c.send("GET", path, headers: headers)
        let (code, _) = try c.readHead()
        XCTAssertEqual(code, 200, "watch \(path)")
        return c
    }
}

func secret(_ name: String, _ ns: String = "default", labels: [String: String] = [:], data: [String: String] = ["k": "dg=="]) -> JSONValue {
    var meta: [String: JSONValue] = ["name": .string(name), "namespace": .string(ns)]
    if !labels.isEmpty { meta["labels"] = .object(labels.mapValues { .string($0) }) }
    return ["apiVersion": "v1", "kind": "Secret", "metadata": .object(meta), "data": .object(data.mapValues { .string($0) })]
}

func configMap(_ name: String, _ ns: String = "default", data: [String: String] = ["a": "b"]) -> JSONValue {
    ["apiVersion": "v1", "kind": "ConfigMap", "metadata": ["name": .string(name), "namespace": .string(ns)], "data": .object(data.mapValues { .string($0) })]
}

func namespace(_ name: String) -> JSONValue {
    ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": .string(name)]]
}
