/// Kubernetes name and label syntax (apimachinery `validation`), for validating what users
/// write in annotations before spillway acts on it.
enum Names {
    private static func isLowerAlnum(_ c: Character) -> Bool {
        c.isASCII && (c.isLowercase || c.isNumber)
    }

    private static func isAlnum(_ c: Character) -> Bool {
        c.isASCII && (c.isLetter || c.isNumber)
    }

    /// RFC 1123 label: the syntax of a namespace name.
    static func isDNSLabel(_ s: String) -> Bool {
        guard (1...63).contains(s.count), let first = s.first, let last = s.last,
              isLowerAlnum(first), isLowerAlnum(last)
        else { return false }
        return s.allSatisfy { isLowerAlnum($0) || $0 == "-" }
    }

    /// RFC 1123 subdomain: the syntax of a label key prefix.
    static func isDNSSubdomain(_ s: String) -> Bool {
        guard (1...253).contains(s.count) else { return false }
        return s.split(separator: ".", omittingEmptySubsequences: false).allSatisfy { isDNSLabel(String($0)) }
    }

    /// The name part of a label key, and a non-empty label value: at most 63 characters,
    /// alphanumeric at both ends, `-`, `_`, `.` inside.
    static func isQualifiedNamePart(_ s: String) -> Bool {
        guard (1...63).contains(s.count), let first = s.first, let last = s.last,
              isAlnum(first), isAlnum(last)
        else { return false }
        return s.allSatisfy { isAlnum($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }

    /// Returns why `key` is not a valid label key, or nil when it is.
    static func labelKeyProblem(_ key: String) -> String? {
        let parts = key.split(separator: "/", omittingEmptySubsequences: false)
        switch parts.count {
        case 1:
            return isQualifiedNamePart(key) ? nil : "label key \"\(key)\" is not a valid name (at most 63 characters, alphanumeric at both ends, '-', '_' or '.' inside)"
        case 2:
            if !isDNSSubdomain(String(parts[0])) { return "label key \"\(key)\" has an invalid prefix (must be a DNS subdomain)" }
            return isQualifiedNamePart(String(parts[1])) ? nil : "label key \"\(key)\" has an invalid name part (at most 63 characters, alphanumeric at both ends, '-', '_' or '.' inside)"
        default:
            return "label key \"\(key)\" has more than one '/'"
        }
    }

    /// Returns why `value` is not a valid label value, or nil when it is (empty is valid).
    static func labelValueProblem(_ value: String) -> String? {
        value.isEmpty || isQualifiedNamePart(value) ? nil : "label value \"\(value)\" is invalid (at most 63 characters, alphanumeric at both ends, '-', '_' or '.' inside)"
    }

    /// A Secret or ConfigMap data key: `[-._a-zA-Z0-9]+`, at most 253 characters.
    static func isDataKey(_ s: String) -> Bool {
        (1...253).contains(s.count) && s.allSatisfy { isAlnum($0) || $0 == "-" || $0 == "_" || $0 == "." }
    }
}
