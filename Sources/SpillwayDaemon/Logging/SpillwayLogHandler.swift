import FoundationEssentials
import SpillwayReactor
#if canImport(Glibc)
import Glibc
#endif
import Logging

/// The daemon's swift-log backend: one handler type, four output formats.
public struct SpillwayLogHandler: LogHandler {
    public var metadata: Logger.Metadata = [:]
    public var metadataProvider: Logger.MetadataProvider?
    private let sink: LogSink
    private var levelOverride: Logger.Level?

    init(sink: LogSink) {
        self.sink = sink
    }

    /// The daemon-wide level (changed by a reload) unless this logger set its own.
    public var logLevel: Logger.Level {
        get { levelOverride ?? sink.level }
        set { levelOverride = newValue }
    }

    public subscript(metadataKey key: String) -> Logger.Metadata.Value? {
        get { metadata[key] }
        set { metadata[key] = newValue }
    }

    public func log(event: LogEvent) {
        var merged: Logger.Metadata
        if metadata.isEmpty && metadataProvider == nil {
            // Most lines (an audit line per replica write): the call site's metadata alone.
            merged = event.metadata ?? [:]
        } else {
            merged = metadata
            if let provided = metadataProvider?.get() { merged.merge(provided) { _, new in new } }
            if let explicit = event.metadata { merged.merge(explicit) { _, new in new } }
        }
        if let error = event.error { merged["error"] = "\(error)" }
        sink.emit(
            LogRecord(
                level: event.level, message: event.message, metadata: merged,
                file: event.file, function: event.function, line: event.line))
    }
}

/// Where records go. A class so that the handler copies swift-log makes share one output and one
/// lock: lines from different threads never interleave.
final class LogSink: @unchecked Sendable {
    let format: LogFormat
    private let lock = Lock()
    private let output: Int32
    private var currentLevel: Logger.Level

    init(format: LogFormat, level: Logger.Level, output: Int32 = STDERR_FILENO) {
        self.format = format
        self.output = output
        currentLevel = level
    }

    var level: Logger.Level {
        get { lock.withLock { currentLevel } }
        set { lock.withLock { currentLevel = newValue } }
    }

    func emit(_ record: LogRecord) {
        lock.lock()
        defer { lock.unlock() }
        if format == .journal, Journal.send(record) { return }
        // The journal refused (socket gone, message too large): the record still goes out, as a
        // text line that journald or a terminal can read.
        let lineFormat = format == .journal ? .text : format
        var line = LogLine.render(record, as: lineFormat, at: Date())
        line += "\n"
        // The whole line in one write(2) where the output takes it (a line per replica write:
        // no Data copy, no FileHandle bookkeeping); a failed write loses the line, not the daemon.
        _ = line.withUTF8 { writeAll(output, $0) }
    }
}

/// The resolved output format (`auto` is decided at start).
enum LogFormat: Sendable, Equatable {
    case text, logfmt, json, journal
}

/// Installs the backend once per process. The format is fixed for the life of the process (a
/// reload cannot re-bootstrap swift-log); the level follows every reload.
public final class DaemonLogging: Sendable {
    private let sink: LogSink

    /// `auto` means journal when stderr is the journal stream systemd gave us, else text.
    public init(settings: Settings, environment: [String: String]) {
        let format: LogFormat =
            switch settings.logFormat {
            case .auto: Journal.stderrIsJournal(environment: environment) ? .journal : .text
            case .journal: .journal
            case .text: .text
            case .logfmt: .logfmt
            case .json: .json
            }
        sink = LogSink(format: format, level: settings.logLevel)
        let sink = sink
        LoggingSystem.bootstrap { _ in SpillwayLogHandler(sink: sink) }
    }

    public var formatName: String { "\(sink.format)" }

    public func apply(_ settings: Settings) {
        sink.level = settings.logLevel
    }
}
