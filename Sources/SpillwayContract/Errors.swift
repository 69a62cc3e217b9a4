import FoundationEssentials

/// A value that does not follow its grammar; `message` says what is wrong, for a person.
public struct SyntaxError: Error, Sendable, Equatable, CustomStringConvertible {
    public var message: String

    public init(_ message: String) { self.message = message }

    public var description: String { message }
}

/// An annotation whose value does not parse. It carries the annotation's name and the offending
/// value, so a Warning event or a log line can tell the user exactly what to fix. (Annotation
/// values are metadata, never secret data, so they may be shown.)
public struct AnnotationError: Error, Sendable, Equatable, Codable, CustomStringConvertible {
    public var annotation: String
    public var value: String
    public var problem: String

    public init(annotation: String, value: String, problem: String) {
        self.annotation = annotation
        self.value = value
        self.problem = problem
    }

    public var description: String { "invalid annotation \(annotation)=\"\(value)\": \(problem)" }
}

/// Every malformed annotation of one object.
public struct InvalidAnnotations: Error, Sendable, Equatable {
    public var errors: [AnnotationError]

    public init(errors: [AnnotationError]) { self.errors = errors }
}

/// Runs `parse` on the annotation's value when present, turning a ``SyntaxError`` into an
/// ``AnnotationError`` naming the annotation.
func parseAnnotation<T>(_ name: String, in annotations: [String: String],
                        _ parse: (String) throws(SyntaxError) -> T) throws(AnnotationError) -> T? {
    guard let value = annotations[name] else { return nil }
    do {
        return try parse(value)
    } catch {
        throw AnnotationError(annotation: name, value: value, problem: error.message)
    }
}

/// Splits a comma-separated list, trimming whitespace around entries and dropping empty ones.
func commaList(_ text: String) -> [String] {
    text.split(separator: ",", omittingEmptySubsequences: false)
        .map { $0.trimmingWhitespaceAndNewlines() }
        .filter { !$0.isEmpty }
}
