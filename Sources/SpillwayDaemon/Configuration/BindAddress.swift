/// A listen address in the controller-runtime syntax: `:8080` (every interface), `127.0.0.1:8080`,
/// `[::1]:8080`, `localhost:8080`; the setting value `0` disables the endpoint. Port 0 asks the
/// kernel for a free port (the daemon logs the one it got).
public struct BindAddress: Equatable, Hashable, Sendable, CustomStringConvertible {
    /// A numeric IPv4 or IPv6 address; empty means every interface.
    public var host: String
    public var port: UInt16

    public init(host: String, port: UInt16) {
        self.host = host
        self.port = port
    }

    public var description: String {
        host.contains(":") ? "[\(host)]:\(port)" : "\(host):\(port)"
    }

    /// Parses a setting value; nil for the "disabled" value `0`.
    static func parseSetting(_ text: String) throws -> BindAddress? {
        if text == "0" { return nil }
        guard let colon = text.lastIndex(of: ":") else {
            throw Settings.Problem("expected HOST:PORT or :PORT (\"0\" disables)")
        }
        var host = String(text[..<colon])
        guard let port = UInt16(text[text.index(after: colon)...]) else {
            throw Settings.Problem("the port must be a number from 0 to 65535")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            guard host.contains(":"), isNumericAddress(host, family: AF_INET6) else {
                throw Settings.Problem("\"\(host)\" is not an IPv6 address")
            }
        } else if host == "localhost" {
            host = "127.0.0.1"
        } else if !host.isEmpty && !isNumericAddress(host, family: AF_INET) {
            throw Settings.Problem("the host must be an IP address, localhost or empty (every interface)")
        }
        return BindAddress(host: host, port: port)
    }

    private static func isNumericAddress(_ text: String, family: Int32) -> Bool {
        var buffer = [UInt8](repeating: 0, count: 16)
        return inet_pton(family, text, &buffer) == 1
    }
}

#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif
