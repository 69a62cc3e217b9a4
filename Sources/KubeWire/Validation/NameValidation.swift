// The name rules of k8s.io/apimachinery/pkg/util/validation, with its messages: the API
// server reports exactly these texts in 422 causes and in 400 selector errors. Each check
// returns every problem (empty when valid), as apimachinery's `Is...` functions do. They scan
// bytes: the emulator runs them on every write.

public enum NameValidation {
    public static let dns1123LabelMaxLength = 63
    public static let dns1123SubdomainMaxLength = 253
    public static let qualifiedNameMaxLength = 63
    public static let labelValueMaxLength = 63

    public static let dns1123SubdomainMessage =
        "a lowercase RFC 1123 subdomain must consist of lower case alphanumeric characters, '-' or '.', and must start and end with an alphanumeric character (e.g. 'example.com', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?(\\.[a-z0-9]([-a-z0-9]*[a-z0-9])?)*')"
    public static let dns1123LabelMessage =
        "a lowercase RFC 1123 label must consist of lower case alphanumeric characters or '-', and must start and end with an alphanumeric character (e.g. 'my-name',  or '123-abc', regex used for validation is '[a-z0-9]([-a-z0-9]*[a-z0-9])?')"
    public static let configKeyMessage =
        "a valid config key must consist of alphanumeric characters, '-', '_' or '.' (e.g. 'key.name',  or 'KEY_NAME',  or 'key-name', regex used for validation is '[-._a-zA-Z0-9]+')"
    public static let labelValueMessage =
        "a valid label must be an empty string or consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyValue',  or 'my_value',  or '12345', regex used for validation is '(([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9])?')"
    static let qualifiedNameRule =
        "must consist of alphanumeric characters, '-', '_' or '.', and must start and end with an alphanumeric character (e.g. 'MyName',  or 'my.name',  or '123-abc', regex used for validation is '([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]')"

    static func maxLength(_ n: Int) -> String { "must be no more than \(n) characters" }

    private static func isLowerAlnum(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39)
    }

    private static func isAlnum(_ c: UInt8) -> Bool {
        isLowerAlnum(c) || (c >= 0x41 && c <= 0x5a)
    }

    private static func isDNS1123LabelSyntax(_ u: some Collection<UInt8>) -> Bool {
        guard let f = u.first, isLowerAlnum(f) else { return false }
        var last = f
        for c in u {
            guard isLowerAlnum(c) || c == UInt8(ascii: "-") else { return false }
            last = c
        }
        return isLowerAlnum(last)
    }

    private static func isDNS1123SubdomainSyntax(_ u: some Collection<UInt8>) -> Bool {
        // Dot-separated RFC 1123 labels: no empty label, each alphanumeric at both ends.
        var previous: UInt8 = UInt8(ascii: ".")
        for c in u {
            if c == UInt8(ascii: ".") {
                guard isLowerAlnum(previous) else { return false }
            } else {
                guard isLowerAlnum(c) || (c == UInt8(ascii: "-") && previous != UInt8(ascii: ".")) else { return false }
            }
            previous = c
        }
        return isLowerAlnum(previous)
    }

    /// `([A-Za-z0-9][-A-Za-z0-9_.]*)?[A-Za-z0-9]`.
    private static func isQualifiedNameSyntax(_ u: some Collection<UInt8>) -> Bool {
        guard let f = u.first, isAlnum(f) else { return false }
        var last = f
        for c in u {
            guard isAlnum(c) || c == UInt8(ascii: "-") || c == UInt8(ascii: "_") || c == UInt8(ascii: ".") else { return false }
            last = c
        }
        return isAlnum(last)
    }

    /// RFC 1123 label: namespace names, and the names of most kinds' parts.
    public static func dns1123LabelProblems(_ s: String) -> [String] {
        var out: [String] = []
        if s.utf8.count > dns1123LabelMaxLength { out.append(maxLength(dns1123LabelMaxLength)) }
        if !isDNS1123LabelSyntax(s.utf8) { out.append(dns1123LabelMessage) }
        return out
    }

    /// RFC 1123 subdomain: the names of Secrets, ConfigMaps, Leases, Events.
    public static func dns1123SubdomainProblems(_ s: String) -> [String] {
        var out: [String] = []
        if s.utf8.count > dns1123SubdomainMaxLength { out.append(maxLength(dns1123SubdomainMaxLength)) }
        if !isDNS1123SubdomainSyntax(s.utf8) { out.append(dns1123SubdomainMessage) }
        return out
    }

    public static func isDNS1123Label(_ s: String) -> Bool {
        s.utf8.count <= dns1123LabelMaxLength && isDNS1123LabelSyntax(s.utf8)
    }

    public static func isDNS1123Subdomain(_ s: String) -> Bool {
        s.utf8.count <= dns1123SubdomainMaxLength && isDNS1123SubdomainSyntax(s.utf8)
    }

    /// `IsQualifiedName`: label and annotation keys, finalizers — `[prefix/]name`.
    public static func qualifiedNameProblems(_ key: String) -> [String] {
        let u = Array(key.utf8)
        let slashes = u.indices.filter { u[$0] == UInt8(ascii: "/") }
        let name: ArraySlice<UInt8>
        var out: [String] = []
        switch slashes.count {
        case 0:
            name = u[...]
        case 1:
            let prefix = u[..<slashes[0]]
            name = u[(slashes[0] + 1)...]
            if prefix.isEmpty {
                out.append("prefix part must be non-empty")
            } else {
                if prefix.count > dns1123SubdomainMaxLength { out.append("prefix part " + maxLength(dns1123SubdomainMaxLength)) }
                if !isDNS1123SubdomainSyntax(prefix) { out.append("prefix part " + dns1123SubdomainMessage) }
            }
        default:
            return ["a qualified name " + qualifiedNameRule + " with an optional DNS subdomain prefix and '/' (e.g. 'example.com/MyName')"]
        }
        if name.isEmpty {
            out.append("name part must be non-empty")
        } else if name.count > qualifiedNameMaxLength {
            out.append("name part " + maxLength(qualifiedNameMaxLength))
        }
        if !name.isEmpty && !isQualifiedNameSyntax(name) { out.append("name part " + qualifiedNameRule) }
        return out
    }

    /// `IsValidLabelValue`: empty, or a qualified name part of at most 63 characters.
    public static func labelValueProblems(_ v: String) -> [String] {
        if v.isEmpty { return [] }
        var out: [String] = []
        if v.utf8.count > labelValueMaxLength { out.append(maxLength(labelValueMaxLength)) }
        if !isQualifiedNameSyntax(v.utf8) { out.append(labelValueMessage) }
        return out
    }

    /// `IsConfigMapKey`: a Secret or ConfigMap data key.
    public static func configKeyProblems(_ k: String) -> [String] {
        var out: [String] = []
        if k.utf8.count > dns1123SubdomainMaxLength { out.append(maxLength(dns1123SubdomainMaxLength)) }
        let allowed = !k.isEmpty && k.utf8.allSatisfy {
            isAlnum($0) || $0 == UInt8(ascii: "-") || $0 == UInt8(ascii: "_") || $0 == UInt8(ascii: ".")
        }
        if !allowed {
            out.append(configKeyMessage)
        } else if k == "." {
            out.append("must not be '.'")
        } else if k == ".." {
            out.append("must not be '..'")
        } else if k.hasPrefix("..") {
            out.append("must not start with '..'")
        }
        return out
    }

    public static func isConfigKey(_ k: String) -> Bool { configKeyProblems(k).isEmpty }
}
