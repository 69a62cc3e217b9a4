/// A field selector (`fieldSelector`) in apimachinery's `fields.ParseSelector` grammar:
/// `field=value`, `field==value`, `field!=value`, comma = AND, over the fields a kind
/// supports (`metadata.name`, `metadata.namespace`, Secret `type`, …).
public struct FieldSelector: Sendable, Hashable {
    public struct Term: Sendable, Hashable {
        public var field: String
        public var negated: Bool
        public var value: String

        public init(field: String, negated: Bool, value: String) {
            self.field = field
            self.negated = negated
            self.value = value
        }
    }

    public var terms: [Term]
    public static let everything = FieldSelector(terms: [])
    public var isEmpty: Bool { terms.isEmpty }

    public init(terms: [Term]) { self.terms = terms }

    /// Parses `text`; a field outside `allowed` is an error, worded as the API server words it.
    public init(parsing text: String, allowed: [String]) throws(SelectorError) {
        var out: [Term] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let p = String(part)
            // `!=` before `==` before `=`, as apimachinery tries them.
            guard let (operatorRange, negated) = Self.find("!=", in: p).map({ ($0, true) })
                ?? Self.find("==", in: p).map({ ($0, false) }) ?? Self.find("=", in: p).map({ ($0, false) })
            else {
                throw SelectorError("invalid selector: '\(text)'; can't understand '\(p)'")
            }
            let pieces = [p[..<operatorRange.lowerBound], p[operatorRange.upperBound...]]
            let field = Self.trimmingSpaces(pieces[0])
            guard allowed.contains(field) else { throw SelectorError("field label not supported: \(field)") }
            out.append(Term(field: field, negated: negated, value: Self.trimmingSpaces(pieces[1])))
        }
        terms = out
    }

    /// True when every term holds for the object whose field values `fields` gives.
    public func matches(_ fields: (String) -> String) -> Bool {
        terms.allSatisfy { t in (fields(t.field) == t.value) != t.negated }
    }

    /// The value of the selector's `metadata.name=` term, which narrows a scan to one key.
    public var exactName: String? {
        terms.first { $0.field == "metadata.name" && !$0.negated }?.value
    }

    private static func find(_ needle: String, in haystack: String) -> Range<String.Index>? {
        var index = haystack.startIndex
        while index < haystack.endIndex {
            if haystack[index...].hasPrefix(needle) {
                return index..<haystack.index(index, offsetBy: needle.count)
            }
            index = haystack.index(after: index)
        }
        return nil
    }

    private static func trimmingSpaces(_ s: Substring) -> String {
        var s = s
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
