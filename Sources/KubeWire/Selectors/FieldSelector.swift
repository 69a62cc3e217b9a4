import Foundation

// Label and field selectors with the grammar of k8s.io/apimachinery/pkg/labels and
// pkg/fields: `a=b`, `a==b`, `a!=b`, `a in (x,y)`, `a notin (x)`, `a`, `!a`, comma = AND.

public struct LabelSelector: Sendable, Equatable {
    public enum Operator: Sendable, Equatable {
        case equals, notEquals, `in`, notIn, exists, doesNotExist
    }
    public struct Requirement: Sendable, Equatable {
        public var key: String
        public var op: Operator
        public var values: [String]

        func matches(_ labels: [String: String]) -> Bool {
            let v = labels[key]
            switch op {
            case .equals, .in: return v.map { values.contains($0) } ?? false
            case .notEquals, .notIn: return v.map { !values.contains($0) } ?? true
            case .exists: return v != nil
            case .doesNotExist: return v == nil
            }
        }
    }

    public var requirements: [Requirement]

    public static let everything = LabelSelector(requirements: [])
    public var isEmpty: Bool { requirements.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    /// Parses a selector; the error text is what the apiserver puts in its 400 message.
    public init(parsing text: String) throws(SelectorError) {
        var lexer = SelectorLexer(Array(text.unicodeScalars))
        var reqs: [Requirement] = []
        while true {
            let t = lexer.next()
            if t == .end {
                if reqs.isEmpty { break }
                throw SelectorError("found '', expected: identifier after ','")
            }
            var tok = t
            if case .not = tok {
                guard case .identifier(let key) = lexer.next() else {
                    throw SelectorError("unable to parse requirement: found '\(lexer.lastText)', expected: identifier")
                }
                try Self.checkKey(key)
                reqs.append(Requirement(key: key, op: .doesNotExist, values: []))
                tok = lexer.next()
            } else {
                guard case .identifier(let key) = tok else {
                    throw SelectorError("unable to parse requirement: found '\(lexer.lastText)', expected: !, identifier")
                }
                try Self.checkKey(key)
                let opTok = lexer.next()
                switch opTok {
                case .end, .comma:
                    reqs.append(Requirement(key: key, op: .exists, values: []))
                    tok = opTok
                case .eq, .doubleEq, .neq:
                    var value = ""
                    var after = lexer.next()
                    if case .identifier(let v) = after {
                        value = v
                        after = lexer.next()
                    }
                    try Self.checkValue(value)
                    reqs.append(Requirement(key: key, op: opTok == .neq ? .notEquals : .equals, values: [value]))
                    tok = after
                case .in, .notIn:
                    guard lexer.next() == .open else {
                        throw SelectorError("found '\(lexer.lastText)', expected: '('")
                    }
                    var values: [String] = []
                    loop: while true {
                        switch lexer.next() {
                        case .identifier(let v):
                            try Self.checkValue(v)
                            values.append(v)
                            let sep = lexer.next()
                            if sep == .close { break loop }
                            guard sep == .comma else { throw SelectorError("found '\(lexer.lastText)', expected: ',' or ')'") }
                        case .close where values.isEmpty:
                            throw SelectorError("for 'in', 'notin' operators, values set can't be empty")
                        default:
                            throw SelectorError("found '\(lexer.lastText)', expected: ',', ')' or identifier")
                        }
                    }
                    reqs.append(Requirement(key: key, op: opTok == .in ? .in : .notIn, values: values))
                    tok = lexer.next()
                default:
                    throw SelectorError("found '\(lexer.lastText)', expected: in, notin, =, ==, !=, gt, lt")
                }
            }
            if tok == .end { break }
            guard tok == .comma else { throw SelectorError("found '\(lexer.lastText)', expected: ',' or 'end of string'") }
        }
        requirements = reqs
    }

    init(requirements: [Requirement]) { self.requirements = requirements }

    static func checkKey(_ key: String) throws(SelectorError) {
        if let problem = Validation.qualifiedNameProblem(key) {
            throw SelectorError("unable to parse requirement: key: Invalid value: \"\(key)\": \(problem)")
        }
    }
    static func checkValue(_ value: String) throws(SelectorError) {
        if let problem = Validation.labelValueProblem(value) {
            throw SelectorError("unable to parse requirement: values[0]: Invalid value: \"\(value)\": \(problem)")
        }
    }
}

public struct SelectorError: Error, Sendable, CustomStringConvertible {
    public let description: String
    init(_ d: String) { description = d }
}

private enum SelectorToken: Equatable {
    case identifier(String), eq, doubleEq, neq, not, open, close, comma, `in`, notIn, end
}

private struct SelectorLexer {
    let s: [Unicode.Scalar]
    var i = 0
    var lastText = ""
    init(_ s: [Unicode.Scalar]) { self.s = s }

    static func isIdentChar(_ c: Unicode.Scalar) -> Bool {
        !(c == " " || c == "\t" || c == "," || c == "=" || c == "!" || c == "(" || c == ")")
    }

    mutating func next() -> SelectorToken {
        while i < s.count, s[i] == " " || s[i] == "\t" { i += 1 }
        guard i < s.count else { lastText = ""; return .end }
        let c = s[i]
        switch c {
        case ",": i += 1; lastText = ","; return .comma
        case "(": i += 1; lastText = "("; return .open
        case ")": i += 1; lastText = ")"; return .close
        case "=":
            if i + 1 < s.count, s[i + 1] == "=" { i += 2; lastText = "=="; return .doubleEq }
            i += 1; lastText = "="; return .eq
        case "!":
            if i + 1 < s.count, s[i + 1] == "=" { i += 2; lastText = "!="; return .neq }
            i += 1; lastText = "!"; return .not
        default:
            var word = ""
            while i < s.count, Self.isIdentChar(s[i]) { word.unicodeScalars.append(s[i]); i += 1 }
            lastText = word
            if word == "in" { return .in }
            if word == "notin" { return .notIn }
            return .identifier(word)
        }
    }
}

/// A field selector over `metadata.name`, `metadata.namespace` and the per-kind fields
/// (e.g. Secret `type`), with `=`, `==` and `!=`.
public struct FieldSelector: Sendable, Equatable {
    public struct Term: Sendable, Equatable {
        public var field: String
        public var negated: Bool
        public var value: String
    }
    public var terms: [Term]
    public static let everything = FieldSelector(terms: [])
    public var isEmpty: Bool { terms.isEmpty }

    init(terms: [Term]) { self.terms = terms }

    public init(parsing text: String, allowed: [String]) throws(SelectorError) {
        var out: [Term] = []
        for part in text.split(separator: ",", omittingEmptySubsequences: true) {
            let p = String(part)
            var negated = false
            let pieces: [Substring]
            if let r = p.range(of: "!=") {
                negated = true
                pieces = [p[..<r.lowerBound], p[r.upperBound...]]
            } else if let r = p.range(of: "==") {
                pieces = [p[..<r.lowerBound], p[r.upperBound...]]
            } else if let r = p.range(of: "=") {
                pieces = [p[..<r.lowerBound], p[r.upperBound...]]
            } else {
                throw SelectorError("invalid selector: '\(text)'; can't understand '\(p)'")
            }
            let field = pieces[0].trimmingSpaces
            guard allowed.contains(field) else { throw SelectorError("field label not supported: \(field)") }
            out.append(Term(field: field, negated: negated, value: pieces[1].trimmingSpaces))
        }
        terms = out
    }

    func matches(_ fields: (String) -> String) -> Bool {
        terms.allSatisfy { t in (fields(t.field) == t.value) != t.negated }
    }

    /// The value of the selector's `metadata.name=` term, used to narrow a scan to one key.
    var exactName: String? {
        terms.first { $0.field == "metadata.name" && !$0.negated }?.value
    }
}

extension Substring {
    var trimmingSpaces: String {
        var s = self
        while s.first == " " { s.removeFirst() }
        while s.last == " " { s.removeLast() }
        return String(s)
    }
}
