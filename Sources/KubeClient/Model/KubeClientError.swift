import KubeWire

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
