/// The parts of a kubeconfig's `server` that spillway checks before libcurl is handed the URL.
///
/// Not `URLComponents`: Foundation's getters run every host through IDNA, and that first use
/// loads ICU's normalization data, a quarter of a MiB that stays resident for the daemon's
/// life, to check that a host is not empty. libcurl resolves and encodes the host itself.
struct ServerURL: Equatable {
    var scheme: String
    /// As written: a name, an IPv4 address, or an IPv6 address in brackets.
    var host: String
    var port: Int?

    init(scheme: String, host: String, port: Int?) {
        self.scheme = scheme
        self.host = host
        self.port = port
    }

    /// `scheme://[userinfo@]host[:port][/path][?query][#fragment]` with scheme `http` or
    /// `https`, a host, and a port of digits when a colon follows the host; nil otherwise.
    init?(_ text: String) {
        let schemes = ["https://": "https", "http://": "http"]
        guard let (prefix, scheme) = schemes.first(where: { text.hasPrefix($0.key) }),
              !text.contains(where: { $0.isWhitespace || $0.asciiValue.map { $0 < 0x20 || $0 == 0x7F } == true })
        else { return nil }
        var authority = text.dropFirst(prefix.count).prefix { $0 != "/" && $0 != "?" && $0 != "#" }
        if let at = authority.lastIndex(of: "@") { authority = authority[authority.index(after: at)...] }
        let hostPart: Substring
        let rest: Substring
        if authority.hasPrefix("[") {
            guard let close = authority.firstIndex(of: "]") else { return nil }
            hostPart = authority[...close]
            rest = authority[authority.index(after: close)...]
            guard hostPart.count > 2 else { return nil }
        } else {
            hostPart = authority.prefix { $0 != ":" }
            rest = authority.dropFirst(hostPart.count)
            guard !hostPart.isEmpty, !hostPart.contains("[") && !hostPart.contains("]") else { return nil }
        }
        if rest.isEmpty {
            port = nil
        } else {
            guard rest.first == ":" else { return nil }
            let digits = rest.dropFirst()
            if digits.isEmpty {
                port = nil  // "host:" means the scheme's port, as in RFC 3986
            } else {
                guard digits.count <= 5, digits.allSatisfy(\.isASCIIDigit), let value = Int(digits), value <= 65535 else {
                    return nil
                }
                port = value
            }
        }
        self.scheme = scheme
        self.host = String(hostPart)
    }
}

private extension Character {
    var isASCIIDigit: Bool { asciiValue.map { $0 >= 0x30 && $0 <= 0x39 } ?? false }
}
