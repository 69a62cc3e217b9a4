import FoundationEssentials
import Logging

/// One log event, flattened, as every backend needs it: metadata merged (handler's, provider's,
/// call site's; the call site wins) and rendered to strings, sorted by key for stable output.
struct LogRecord {
    var level: Logger.Level
    var message: String
    var metadata: [(key: String, value: String)]
    var file: String
    var function: String
    var line: UInt

    init(
        level: Logger.Level, message: Logger.Message, metadata: Logger.Metadata,
        file: String, function: String, line: UInt
    ) {
        self.level = level
        self.message = message.description
        // One array, sorted in place: a line per replica write is logged.
        var pairs: [(key: String, value: String)] = []
        pairs.reserveCapacity(metadata.count)
        for (key, value) in metadata { pairs.append((key, Self.render(value))) }
        pairs.sort { $0.key < $1.key }
        self.metadata = pairs
        self.file = file
        self.function = function
        self.line = line
    }

    /// The syslog priority journald understands (`<N>` prefixes and PRIORITY=).
    var syslogPriority: Int {
        switch level {
        case .trace, .debug: 7
        case .info: 6
        case .notice: 5
        case .warning: 4
        case .error: 3
        case .critical: 2
        }
    }

    private static func render(_ value: Logger.MetadataValue) -> String {
        switch value {
        case .string(let string): string
        case .stringConvertible(let convertible): convertible.description
        case .array(let array): array.map(render).joined(separator: ",")
        case .dictionary(let dictionary):
            dictionary.sorted { $0.key < $1.key }.map { "\($0.key)=\(render($0.value))" }.joined(separator: ",")
        }
    }
}

