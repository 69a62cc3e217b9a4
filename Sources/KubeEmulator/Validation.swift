import Foundation

// Validation with the real apiserver's messages (k8s.io/apimachinery/pkg/util/validation and
// pkg/apis/core/validation). Each function returns the field errors the real server would
// report; the store turns them into one 422 Invalid Status.

enum Validation {
    static let dns1123SubdomainMessage =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    static let dns1123LabelMessage =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    static let configKeyMessage =
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
    static let labelValueMessage =
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    static let qualifiedNameMessage =
        "name part must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"

    private static func isLowerAlnum(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)
    }
    private static func isAlnum(_ c: UInt8) -> Bool {
        isLowerAlnum(c) || (c >= 0x41 && c <= 0x5a)
    }

    // The checks run on every write: they scan bytes, never split Strings.

    static func isDNS1123Label(_ s: String) -> Bool { isDNS1123Label(Array(s.utf8)[...]) }

    private static func isDNS1123Label(_ u: ArraySlice<UInt8>) -> Bool {
        guard let f = u.first, let l = u.last, isLowerAlnum(f), isLowerAlnum(l) else { return false }
        return u.allSatisfy { isLowerAlnum($0) || $0 == UInt8(ascii: "-") }
    }

    private static func isDNS1123Subdomain(_ u: ArraySlice<UInt8>) -> Bool {
        var start = u.startIndex
        for i in u.startIndex...u.endIndex where i == u.endIndex || u[i] == UInt8(ascii: ".") {
            if !isDNS1123Label(u[start..<i]) { return false }
            start = i + 1
        }
        return true
    }

    /// The problems of a DNS-1123 subdomain (the name rule of most kinds), worded as the API does.
    static func dns1123SubdomainProblems(_ s: String) -> [String] {
        var out: [String] = []
        if s.utf8.count > 253 { out.append("must be no more than 253 characters") }
        if !isDNS1123Subdomain(Array(s.utf8)[...]) { out.append(dns1123SubdomainMessage) }
        return out
    }

    static func dns1123LabelProblems(_ s: String) -> [String] {
        var out: [String] = []
        if s.utf8.count > 63 { out.append("must be no more than 63 characters") }
        if !isDNS1123Label(s) { out.append(dns1123LabelMessage) }
        return out
    }

    /// `[A-Za-z0-9]([-A-Za-z0-9_.]*[A-Za-z0-9])?`, at most `max` bytes.
    private static func isQualifiedNamePart(_ u: ArraySlice<UInt8>) -> Bool {
        guard let f = u.first, let l = u.last, isAlnum(f), isAlnum(l), u.count <= 63 else { return false }
        return u.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    /// Label and annotation keys: `[prefix/]name`.
    static func qualifiedNameProblem(_ key: String) -> String? {
        let u = Array(key.utf8)
        let slashes = u.indices.filter { u[$0] == UInt8(ascii: "/") }
        switch slashes.count {
        case 0:
            return isQualifiedNamePart(u[...]) ? nil : qualifiedNameMessage
        case 1:
            let prefix = u[..<slashes[0]]
            if prefix.isEmpty { return "prefix part must be non-empty" }
            if prefix.count > 253 || !isDNS1123Subdomain(prefix) { return "prefix part " + dns1123SubdomainMessage }
            return isQualifiedNamePart(u[(slashes[0] + 1)...]) ? nil : qualifiedNameMessage
        default:
            let rule = String(qualifiedNameMessage.dropFirst("name part ".count))
            return "a qualified name " + rule + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"
        }
    }

    static func labelValueProblem(_ v: String) -> String? {
        if v.isEmpty { return nil }
        if v.utf8.count > 63 { return "must be no more than 63 characters" }
        return isQualifiedNamePart(Array(v.utf8)[...]) ? nil : labelValueMessage
    }

    static func isConfigKey(_ k: String) -> Bool {
        !k.isEmpty && k.utf8.count <= 253 && k != "." && k != ".." && !k.hasPrefix("..")
            && k.utf8.allSatisfy { isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }
    }

    static func configKeyProblems(_ k: String) -> [String] {
        var out: [String] = []
        if k.utf8.count > 253 { out.append("must be no more than 253 characters") }
        if !k.isEmpty, k.utf8.allSatisfy({ isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".") }) {
            if k == "." { out.append("must not be '.'") } else if k == ".." { out.append("must not be '..'") } else if k.hasPrefix("..") {
                out.append("must not start with '..'")
            }
        } else {
            out.append(configKeyMessage)
        }
        return out
    }

    /// ObjectMeta checks shared by every kind: labels, annotations, finalizers.
    static func objectMeta(_ meta: [String: JSON]) -> [StatusCause] {
        var causes: [StatusCause] = []
        if let labels = meta["labels"]?.objectValue {
            for (k, v) in labels.sorted(by: { $0.key < $1.key }) {
                if let p = qualifiedNameProblem(k) { causes.append(.invalid("metadata.labels", .string(k), p)) }
                if let s = v.stringValue, let p = labelValueProblem(s) {
                    causes.append(.invalid("metadata.labels", .string(s), p))
                }
            }
        }
        if let annotations = meta["annotations"]?.objectValue {
            var total = 0
            for (k, v) in annotations.sorted(by: { $0.key < $1.key }) {
                if let p = qualifiedNameProblem(k.lowercased()) { causes.append(.invalid("metadata.annotations", .string(k), p)) }
                total += k.utf8.count + (v.stringValue?.utf8.count ?? 0)
            }
            if total > 256 * 1024 { causes.append(.tooLong("metadata.annotations", 256 * 1024)) }
        }
        if let finalizers = meta["finalizers"]?.arrayValue {
            for (i, f) in finalizers.enumerated() {
                guard let s = f.stringValue else { continue }
                if let p = qualifiedNameProblem(s) { causes.append(.invalid("metadata.finalizers[\(i)]", .string(s), p)) }
            }
        }
        return causes
    }

    /// Go's base64.StdEncoding decode, with its error wording; nil error text on success.
    static func decodeBase64(_ s: String) -> (Data?, String?) {
        if let d = Data(base64Encoded: s) { return (d, nil) }
        // Find the first offending byte the way Go reports it.
        let u = Array(s.utf8)
        for (i, c) in u.enumerated() {
            let ok = isAlnum(c) || c == UInt8(ascii: "+") || c == UInt8(ascii: "/") || c == UInt8(ascii: "=")
            if !ok { return (nil, "illegal base64 data at input byte \(i)") }
        }
        return (nil, "illegal base64 data at input byte \(max(0, (u.count / 4) * 4))")
    }
}
