/// A Kubernetes label selector in its string form (apimachinery `labels.Parse`), as used by
/// `replicate-to-matching`: requirements joined by `,` (AND), each one of
///
///     key=value   key==value   key!=value   key in (a,b)   key notin (a,b)   key   !key
///
/// Keys and values are validated as the API validates labels. `!=` and `notin` also match
/// namespaces that lack the label, as in Kubernetes.
public struct LabelSelector: Sendable, Equatable, Hashable, CustomStringConvertible {
    public enum Operator: String, Sendable, Equatable, Hashable {
        case equals = "="
        case notEquals = "!="
        case `in` = "in"
        case notIn = "notin"
        case exists = "exists"
        case doesNotExist = "!"
    }

    public struct Requirement: Sendable, Equatable, Hashable, CustomStringConvertible {
        public var key: String
        public var op: Operator
        /// Sorted and unique; one value for `=` / `!=`, none for `exists` / `doesNotExist`.
        public var values: [String]

        public func matches(_ labels: [String: String]) -> Bool {
            let value = labels[key]
            switch op {
            case .equals, .in: return value.map(values.contains) ?? false
            case .notEquals, .notIn: return !(value.map(values.contains) ?? false)
            case .exists: return value != nil
            case .doesNotExist: return value == nil
            }
        }

        public var description: String {
            switch op {
            case .equals, .notEquals: "\(key)\(op.rawValue)\(values[0])"
            case .in, .notIn: "\(key) \(op.rawValue) (\(values.joined(separator: ",")))"
            case .exists: key
            case .doesNotExist: "!\(key)"
            }
        }
    }

    public var requirements: [Requirement]

    /// Parses the string form. An empty (or all-blank) selector is an error here: spillway
    /// treats an empty `replicate-to-matching` as absent rather than as "every namespace".
    public init(parsing text: String) throws(SyntaxError) {
        var parser = Parser(text)
        requirements = try parser.parseSelector()
    }

    public func matches(_ labels: [String: String]) -> Bool {
        requirements.allSatisfy { $0.matches(labels) }
    }

    public var description: String { requirements.map(\.description).joined(separator: ",") }
}

private enum Token: Equatable {
    case identifier(String)
    case equals, doubleEquals, notEquals, bang, open, close, comma
    case end

    var display: String {
        switch self {
        case .identifier(let s): "\"\(s)\""
        case .equals: "'='"
        case .doubleEquals: "'=='"
        case .notEquals: "'!='"
        case .bang: "'!'"
        case .open: "'('"
        case .close: "')'"
        case .comma: "','"
        case .end: "the end"
        }
    }
}

private struct Parser {
    let text: String
    var tokens: [Token] = []
    var position = 0

    init(_ text: String) {
        self.text = text
        var chars = Array(text)[...]
        while let c = chars.first {
            if c.isWhitespace { chars.removeFirst(); continue }
            switch c {
            case "(": tokens.append(.open); chars.removeFirst()
            case ")": tokens.append(.close); chars.removeFirst()
            case ",": tokens.append(.comma); chars.removeFirst()
            case "=":
                chars.removeFirst()
                if chars.first == "=" { chars.removeFirst(); tokens.append(.doubleEquals) } else { tokens.append(.equals) }
            case "!":
                chars.removeFirst()
                if chars.first == "=" { chars.removeFirst(); tokens.append(.notEquals) } else { tokens.append(.bang) }
            default:
                let word = chars.prefix { !$0.isWhitespace && !"(),=!".contains($0) }
                chars.removeFirst(word.count)
                tokens.append(.identifier(String(word)))
            }
        }
        tokens.append(.end)
    }

    var next: Token { tokens[position] }

    mutating func take() -> Token {
        defer { position += 1 }
        return tokens[position]
    }

    func fail(_ problem: String) -> SyntaxError {
        SyntaxError("label selector \"\(text)\": \(problem)")
    }

    mutating func parseSelector() throws(SyntaxError) -> [LabelSelector.Requirement] {
        guard next != .end else { throw fail("empty selector") }
        var requirements = [try parseRequirement()]
        while true {
            switch take() {
            case .end: return requirements
            case .comma: requirements.append(try parseRequirement())
            case let token: throw fail("expected ',' or the end, found \(token.display)")
            }
        }
    }

    mutating func parseKey() throws(SyntaxError) -> String {
        guard case .identifier(let key) = take() else {
            position -= 1
            throw fail("expected a label key, found \(next.display)")
        }
        if let problem = Names.labelKeyProblem(key) { throw fail(problem) }
        return key
    }

    mutating func parseValue() throws(SyntaxError) -> String {
        guard case .identifier(let value) = next else { return "" }
        position += 1
        if let problem = Names.labelValueProblem(value) { throw fail(problem) }
        return value
    }

    mutating func parseRequirement() throws(SyntaxError) -> LabelSelector.Requirement {
        if next == .bang {
            position += 1
            return .init(key: try parseKey(), op: .doesNotExist, values: [])
        }
        let key = try parseKey()
        switch take() {
        case .comma, .end:
            position -= 1
            return .init(key: key, op: .exists, values: [])
        case .equals, .doubleEquals:
            return .init(key: key, op: .equals, values: [try parseValue()])
        case .notEquals:
            return .init(key: key, op: .notEquals, values: [try parseValue()])
        case .identifier("in"):
            return .init(key: key, op: .in, values: try parseSet())
        case .identifier("notin"):
            return .init(key: key, op: .notIn, values: try parseSet())
        case let token:
            throw fail("after key \"\(key)\" expected '=', '==', '!=', 'in', 'notin', ',' or the end, found \(token.display)")
        }
    }

    mutating func parseSet() throws(SyntaxError) -> [String] {
        guard take() == .open else { position -= 1; throw fail("expected '(' after in/notin, found \(next.display)") }
        var values: Set<String> = []
        while true {
            guard case .identifier = next else { throw fail("expected a value in the set, found \(next.display)") }
            values.insert(try parseValue())
            switch take() {
            case .comma: continue
            case .close: return values.sorted()
            case let token: throw fail("expected ',' or ')' in the set, found \(token.display)")
            }
        }
    }
}
