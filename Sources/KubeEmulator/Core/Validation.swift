import Foundation
import KubeWire

// Validation with the real apiserver's messages (k8s.io/apimachinery/pkg/util/validation and
// pkg/apis/core/validation). Each function returns the field errors the real server would
// report; the store turns them into one 422 Invalid Status.

enum Validation {
    private static func isAlnum(_ c: UInt8) -> Bool {
        (c >= 0x61 && c <= 0x7a) || (c >= 0x30 && c <= 0x39) || (c >= 0x41 && c <= 0x5a)
    }

    /// ObjectMeta checks shared by every kind: labels, annotations, finalizers.
    static func objectMeta(_ meta: [String: JSONValue]) -> [StatusError.Cause] {
        var causes: [StatusError.Cause] = []
        if let labels = meta["labels"]?.objectValue {
            for (k, v) in labels.sorted(by: { $0.key < $1.key }) {
                for p in NameValidation.qualifiedNameProblems(k) { causes.append(.invalid("metadata.labels", .string(k), p)) }
                if let s = v.stringValue {
                    for p in NameValidation.labelValueProblems(s) { causes.append(.invalid("metadata.labels", .string(s), p)) }
                }
            }
        }
        if let annotations = meta["annotations"]?.objectValue {
            var total = 0
            for (k, v) in annotations.sorted(by: { $0.key < $1.key }) {
                for p in NameValidation.qualifiedNameProblems(k.lowercased()) { causes.append(.invalid("metadata.annotations", .string(k), p)) }
                total += k.utf8.count + (v.stringValue?.utf8.count ?? 0)
            }
            if total > 256 * 1024 { causes.append(.tooLong("metadata.annotations", 256 * 1024)) }
        }
        if let finalizers = meta["finalizers"]?.arrayValue {
            for (i, f) in finalizers.enumerated() {
                guard let s = f.stringValue else { continue }
                for p in NameValidation.qualifiedNameProblems(s) { causes.append(.invalid("metadata.finalizers[\(i)]", .string(s), p)) }
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
