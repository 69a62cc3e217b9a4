/// A label selector in its string form, with the grammar, the matching and the error messages
/// of apimachinery's `labels.Parse` (the API server's `labelSelector` parameter, kubectl's
/// `-l`): requirements joined by `,` (AND), each one of
///
///     key=value   key==value   key!=value   key in (a,b)   key notin (a,b)   key   !key
///     key>1       key<1        (integer comparisons)
///
/// Keys and values are validated as labels are. `!=` and `notin` also match objects that lack
/// the label. As in Kubernetes, `key in ()` is the set holding the empty value, and the empty
/// selector matches everything.
public struct LabelSelector: Sendable, Hashable, CustomStringConvertible {
    public enum Operator: String, Sendable, Hashable {
        case equals = "="
        case notEquals = "!="
        case `in` = "in"
        case notIn = "notin"
        case exists = "exists"
        case doesNotExist = "!"
        case greaterThan = ">"
        case lessThan = "<"
    }

    public struct Requirement: Sendable, Hashable, CustomStringConvertible {
        public var key: String
        public var op: Operator
        /// Sorted and unique; one value for `=`, `!=`, `>`, `<`; none for `exists` /
        /// `doesNotExist`.
        public var values: [String]

        public init(key: String, op: Operator, values: [String]) {
            self.key = key
            self.op = op
            self.values = values
        }

        public func matches(_ labels: [String: String]) -> Bool {
            let value = labels[key]
            switch op {
            case .equals, .in: return value.map(values.contains) ?? false
            case .notEquals, .notIn: return !(value.map(values.contains) ?? false)
            case .exists: return value != nil
            case .doesNotExist: return value == nil
            case .greaterThan, .lessThan:
                guard let have = value.flatMap({ Int64($0) }), let bound = values.first.flatMap({ Int64($0) }) else { return false }
                return op == .greaterThan ? have > bound : have < bound
            }
        }

        public var description: String {
            switch op {
            case .equals, .notEquals, .greaterThan, .lessThan: "\(key)\(op.rawValue)\(values.first ?? "")"
            case .in, .notIn: "\(key) \(op.rawValue) (\(values.joined(separator: ",")))"
            case .exists: key
            case .doesNotExist: "!\(key)"
            }
        }
    }

    public var requirements: [Requirement]

    public init(requirements: [Requirement]) { self.requirements = requirements }

    /// Matches everything.
    public static let everything = LabelSelector(requirements: [])
    public var isEmpty: Bool { requirements.isEmpty }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    public var description: String { requirements.map(\.description).joined(separator: ",") }

    /// Parses the string form; the error's text is the API server's 400 message.
    public init(parsing text: String) throws(SelectorError) {
        var parser = SelectorParser(text)
        requirements = try parser.parse()
    }
}

/// A selector that does not parse, worded as the API server words it in its 400 answer.
public struct SelectorError: Error, Sendable, Equatable, CustomStringConvertible {
    public let description: String
    public init(_ description: String) { self.description = description }
}

private enum SelectorToken: Equatable {
    case identifier(String)
    case equals, doubleEquals, notEquals, bang, greaterThan, lessThan, open, close, comma, `in`, notIn, end
}

/// apimachinery's lexer: whitespace separates tokens; `=`, `!`, `(`, `)`, `,`, `>`, `<` are
/// symbols; anything else runs into an identifier. `in` and `notin` are keywords only where an
/// operator is expected.
private struct SelectorLexer {
    let s: [Unicode.Scalar]
    var i = 0
    init(_ text: String) { s = Array(text.unicodeScalars) }

    static func isWhitespace(_ c: Unicode.Scalar) -> Bool { c == " " || c == "\t" || c == "\r" || c == "\n" }
    static func isSymbol(_ c: Unicode.Scalar) -> Bool {
        c == "=" || c == "!" || c == "(" || c == ")" || c == "," || c == ">" || c == "<"
    }

    /// The next token and its text.
    mutating func next() -> (SelectorToken, String) {
        while i < s.count, Self.isWhitespace(s[i]) { i += 1 }
        guard i < s.count else { return (.end, "") }
        let c = s[i]
        func symbol(_ t: SelectorToken, _ text: String) -> (SelectorToken, String) {
            i += text.unicodeScalars.count
            return (t, text)
        }
        let following = i + 1 < s.count ? s[i + 1] : nil
        switch c {
        case ",": return symbol(.comma, ",")
        case "(": return symbol(.open, "(")
        case ")": return symbol(.close, ")")
        case ">": return symbol(.greaterThan, ">")
        case "<": return symbol(.lessThan, "<")
        case "=": return following == "=" ? symbol(.doubleEquals, "==") : symbol(.equals, "=")
        case "!": return following == "=" ? symbol(.notEquals, "!=") : symbol(.bang, "!")
        default:
            var word = ""
            while i < s.count, !Self.isWhitespace(s[i]), !Self.isSymbol(s[i]) {
                word.unicodeScalars.append(s[i])
                i += 1
            }
            if word == "in" { return (.in, word) }
            if word == "notin" { return (.notIn, word) }
            return (.identifier(word), word)
        }
    }
}

/// apimachinery's `labels.Parser`, with its messages.
private struct SelectorParser {
    var tokens: [(SelectorToken, String)] = []
    var position = 0

    init(_ text: String) {
        var lexer = SelectorLexer(text)
        while true {
            let t = lexer.next()
            tokens.append(t)
            if t.0 == .end { break }
        }
    }

    /// In value position the keywords are plain identifiers.
    enum Context { case keyAndOperator, values }

    func lookahead(_ context: Context) -> (SelectorToken, String) {
        Self.adjust(tokens[position], context)
    }

    mutating func consume(_ context: Context) -> (SelectorToken, String) {
        let t = tokens[position]
        if position < tokens.count - 1 { position += 1 }
        return Self.adjust(t, context)
    }

    static func adjust(_ t: (SelectorToken, String), _ context: Context) -> (SelectorToken, String) {
        if context == .values, t.0 == .in || t.0 == .notIn { return (.identifier(t.1), t.1) }
        return t
    }

    static func isIdentifier(_ t: SelectorToken) -> Bool {
        if case .identifier = t { return true }
        return false
    }

    mutating func parse() throws(SelectorError) -> [LabelSelector.Requirement] {
        var requirements: [LabelSelector.Requirement] = []
        while true {
            let (token, text) = lookahead(.values)
            switch token {
            case .identifier, .bang:
                do {
                    requirements.append(try parseRequirement())
                } catch {
                    throw SelectorError("unable to parse requirement: \(error.description)")
                }
                let (next, nextText) = consume(.values)
                switch next {
                case .end: return requirements
                case .comma:
                    let (after, afterText) = lookahead(.values)
                    if !Self.isIdentifier(after) && after != .bang {
                        throw SelectorError("found '\(afterText)', expected: identifier after ','")
                    }
                default:
                    throw SelectorError("found '\(nextText)', expected: ',' or 'end of string'")
                }
            case .end:
                return requirements
            default:
                throw SelectorError("found '\(text)', expected: !, identifier, or 'end of string'")
            }
        }
    }

    mutating func parseRequirement() throws(SelectorError) -> LabelSelector.Requirement {
        var (token, text) = consume(.values)
        var op: LabelSelector.Operator?
        if token == .bang {
            op = .doesNotExist
            (token, text) = consume(.values)
        }
        guard Self.isIdentifier(token) else { throw SelectorError("found '\(text)', expected: identifier") }
        let key = text
        let problems = NameValidation.qualifiedNameProblems(key)
        if !problems.isEmpty {
            throw SelectorError("key: Invalid value: \"\(key)\": \(problems.joined(separator: "; "))")
        }
        let (following, _) = lookahead(.values)
        if following == .end || following == .comma {
            return .init(key: key, op: op ?? .exists, values: [])
        }
        if op == .doesNotExist { return .init(key: key, op: .doesNotExist, values: []) }
        let (opToken, opText) = consume(.keyAndOperator)
        let values: [String]
        switch opToken {
        case .equals, .doubleEquals: op = .equals
        case .notEquals: op = .notEquals
        case .in: op = .in
        case .notIn: op = .notIn
        case .greaterThan: op = .greaterThan
        case .lessThan: op = .lessThan
        default: throw SelectorError("found '\(opText)', expected: in, notin, =, ==, !=, gt, lt")
        }
        switch op! {
        case .in, .notIn: values = try parseValues()
        default: values = try parseExactValue()
        }
        if op == .greaterThan || op == .lessThan, let v = values.first, Int64(v) == nil {
            throw SelectorError("values[0]: Invalid value: \"\(v)\": for 'Gt', 'Lt' operators, the value must be an integer")
        }
        for (i, v) in values.enumerated() {
            let problems = NameValidation.labelValueProblems(v)
            if !problems.isEmpty {
                throw SelectorError("values[\(i)][\(key)]: Invalid value: \"\(v)\": \(problems.joined(separator: "; "))")
            }
        }
        return .init(key: key, op: op!, values: values)
    }

    mutating func parseValues() throws(SelectorError) -> [String] {
        let (open, openText) = consume(.values)
        guard open == .open else { throw SelectorError("found '\(openText)' expected: '('") }
        let (next, nextText) = lookahead(.values)
        switch next {
        case .identifier, .comma:
            let values = try parseIdentifierList()
            let (close, _) = consume(.values)
            guard close == .close else { throw SelectorError("found '\(nextText)', expected: ')'") }
            return values
        case .close:
            _ = consume(.values)
            return [""]
        default:
            throw SelectorError("found '\(nextText)', expected: ',', ')' or identifier")
        }
    }

    mutating func parseIdentifierList() throws(SelectorError) -> [String] {
        var values: Set<String> = []
        while true {
            let (token, text) = consume(.values)
            switch token {
            case .identifier:
                values.insert(text)
                let (next, nextText) = lookahead(.values)
                switch next {
                case .comma: continue
                case .close: return values.sorted()
                default: throw SelectorError("found '\(nextText)', expected: ',' or ')'")
                }
            case .comma:
                // "(,", ",)" and ",," each stand for the empty value.
                if values.isEmpty { values.insert("") }
                let (next, _) = lookahead(.values)
                if next == .close {
                    values.insert("")
                    return values.sorted()
                }
                if next == .comma {
                    _ = consume(.values)
                    values.insert("")
                }
            default:
                throw SelectorError("found '\(text)', expected: ',', or identifier")
            }
        }
    }

    mutating func parseExactValue() throws(SelectorError) -> [String] {
        let (next, _) = lookahead(.values)
        if next == .end || next == .comma { return [""] }
        let (token, text) = consume(.values)
        guard Self.isIdentifier(token) else { throw SelectorError("found '\(text)', expected: identifier") }
        return [text]
    }
}
