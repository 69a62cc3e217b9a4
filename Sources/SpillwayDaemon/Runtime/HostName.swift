#if canImport(Glibc)
import Glibc
#elseif canImport(Darwin)
import Darwin
#endif

enum HostName {
    /// gethostname(2): where this process runs, for a leader identity and Events'
    /// `reportingInstance`; nil when the call fails.
    static func current() -> String? {
        var name = [CChar](repeating: 0, count: 256)
        guard gethostname(&name, name.count - 1) == 0 else { return nil }
        let end = name.firstIndex(of: 0) ?? name.count
        return String(decoding: name[..<end].map { UInt8(bitPattern: $0) }, as: UTF8.self)
    }
}
