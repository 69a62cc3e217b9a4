import Foundation
import Logging
import XCTest

@testable import SpillwayDaemon

/// Native journald logging, received for real: the daemon runs in a private mount namespace where
/// /run/systemd/journal is the test's directory, so libsystemd's sd_journal_sendv delivers its
/// datagrams to the socket this test bound there. Needs root (unshare --mount), as CI has.
final class JournalTests: XCTestCase {
    /// Parses one native-protocol datagram: `KEY=value\n`, or `KEY\n<le64 size><bytes>\n` for
    /// values that hold newlines. A repeated key keeps its first value: libsystemd appends its
    /// own CODE_* location (the C wrapper's) after ours unless SD_JOURNAL_SUPPRESS_LOCATION is set.
    static func parse(_ datagram: [UInt8]) -> [String: String] {
        var fields: [String: String] = [:]
        var index = 0
        while index < datagram.count {
            guard let end = datagram[index...].firstIndex(where: { $0 == UInt8(ascii: "=") || $0 == UInt8(ascii: "\n") })
            else { break }
            let key = String(decoding: datagram[index..<end], as: UTF8.self)
            if datagram[end] == UInt8(ascii: "=") {
                let valueEnd = datagram[(end + 1)...].firstIndex(of: UInt8(ascii: "\n")) ?? datagram.count
                if fields[key] == nil { fields[key] = String(decoding: datagram[(end + 1)..<valueEnd], as: UTF8.self) }
                index = valueEnd + 1
            } else {
                let sizeStart = end + 1
                var size = 0
                for byte in datagram[sizeStart..<(sizeStart + 8)].reversed() { size = size << 8 | Int(byte) }
                let valueStart = sizeStart + 8
                if fields[key] == nil {
                    fields[key] = String(decoding: datagram[valueStart..<(valueStart + size)], as: UTF8.self)
                }
                index = valueStart + size + 1
            }
        }
        return fields
    }

    private func runInPrivateJournal(_ arguments: [String], setJournalStream: Bool) throws -> (Spillwayd, DatagramSocket) {
        try XCTSkipUnless(getuid() == 0, "needs root for unshare --mount")
        let directory = try temporaryDirectory(self)
        let journalDirectory = directory.appendingPathComponent("journal")
        try FileManager.default.createDirectory(at: journalDirectory, withIntermediateDirectories: true)
        let socket = try DatagramSocket(path: journalDirectory.appendingPathComponent("socket").path)
        let script = """
            mkdir -p /run/systemd && mount -t tmpfs tmpfs /run/systemd && mkdir /run/systemd/journal \
            && mount --bind "$0" /run/systemd/journal \
            && \(setJournalStream ? "export JOURNAL_STREAM=$(stat -L -c %d:%i /proc/self/fd/2) &&" : "") exec "$@"
            """
        let cluster = try TestCluster(self)
        let daemon = try Spillwayd(
            ["--mount", "--propagation", "private", "/bin/sh", "-c", script, journalDirectory.path, spillwaydPath]
                + arguments
                + ["--kubeconfig", try cluster.kubeconfig(), "--metrics-bind-address", "0", "--health-probe-bind-address", "0"],
            executable: "/usr/bin/unshare", emptyConfig: directory.appendingPathComponent("empty.conf"))
        return (daemon, socket)
    }

    private func nextEntry(_ socket: DatagramSocket, message: String) -> [String: String]? {
        while let datagram = socket.receive() {
            let entry = Self.parse(datagram)
            if entry["MESSAGE"]?.hasPrefix(message) == true { return entry }
        }
        return nil
    }

    func testAutoFormatLogsNativelyWhenStderrIsTheJournalStream() throws {
        let (daemon, socket) = try runInPrivateJournal(["--log-format", "auto"], setJournalStream: true)
        let entry = try XCTUnwrap(nextEntry(socket, message: "spillwayd \(SpillwayVersion.current) started"), daemon.stderr)
        XCTAssertEqual(entry["PRIORITY"], "6")
        XCTAssertEqual(entry["SYSLOG_IDENTIFIER"], "spillwayd")
        XCTAssertEqual(entry["SPILLWAY_LOG_FORMAT"], "journal")
        XCTAssertTrue(entry["SPILLWAY_CONFIG"]?.hasSuffix("/empty.conf") == true, "\(entry)")
        XCTAssertTrue(entry["CODE_FILE"]?.hasSuffix("DaemonRuntime.swift") == true, "\(entry)")
        XCTAssertNotNil(entry["CODE_LINE"].flatMap(Int.init))
        XCTAssertEqual(entry["CODE_FUNC"], "run(_:)")
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0)
        XCTAssertFalse(daemon.stderr.contains("started"), "a journal entry was also written as text")
    }

    func testAutoFormatWritesTextWhenJournalStreamDoesNotMatchStderr() throws {
        let (daemon, _) = try runInPrivateJournal(["--log-format", "auto"], setJournalStream: false)
        XCTAssertNotNil(daemon.waitForLog(#"<6>\[info\] spillwayd \S+ started"#), daemon.stderr)
        daemon.signal(SIGTERM)
        XCTAssertEqual(daemon.waitForExit(), 0)
    }

    func testMetadataKeysBecomeSpillwayFields() {
        XCTAssertEqual(Journal.fieldName(forMetadataKey: "source"), "SPILLWAY_SOURCE")
        XCTAssertEqual(Journal.fieldName(forMetadataKey: "kind"), "SPILLWAY_KIND")
        XCTAssertEqual(Journal.fieldName(forMetadataKey: "target_namespace"), "SPILLWAY_TARGET_NAMESPACE")
        XCTAssertEqual(Journal.fieldName(forMetadataKey: "action"), "SPILLWAY_ACTION")
        let record = LogRecord(
            level: .warning, message: "skipped", metadata: ["source": "team-a/db", "kind": "Secret"],
            file: "Engine.swift", function: "reconcile()", line: 7)
        let fields = Dictionary(uniqueKeysWithValues: Journal.fields(record).map { ($0.name, $0.value) })
        XCTAssertEqual(fields["SPILLWAY_SOURCE"], "team-a/db")
        XCTAssertEqual(fields["SPILLWAY_KIND"], "Secret")
        XCTAssertEqual(fields["PRIORITY"], "4")
        XCTAssertEqual(fields["CODE_LINE"], "7")
    }

    func testLineFormats() {
        let record = LogRecord(
            level: .error, message: "write failed", metadata: ["source": "a/b", "reason": "said \"no\""],
            file: "f", function: "g", line: 1)
        let time = Date(timeIntervalSince1970: 0)
        XCTAssertEqual(LogLine.render(record, as: .text, at: time), #"<3>[error] write failed reason="said \"no\"" source=a/b"#)
        XCTAssertEqual(
            LogLine.render(record, as: .logfmt, at: time),
            #"time=1970-01-01T00:00:00.000Z level=error msg="write failed" reason="said \"no\"" source=a/b"#)
        XCTAssertEqual(
            LogLine.render(record, as: .json, at: time),
            #"{"time":"1970-01-01T00:00:00.000Z","level":"error","msg":"write failed","reason":"said \"no\"","source":"a/b"}"#)
    }

    func testALogfmtKeyWithASpaceOrEqualsSignIsMadeSafeAndATextMessageStaysOneLine() {
        let record = LogRecord(
            level: .info, message: "two\nlines", metadata: ["odd key=": "v", "plain": "w"],
            file: "f", function: "g", line: 1)
        let time = Date(timeIntervalSince1970: 0)
        XCTAssertEqual(LogLine.render(record, as: .text, at: time), #"<6>[info] two\nlines odd key==v plain=w"#)
        XCTAssertEqual(
            LogLine.render(record, as: .logfmt, at: time),
            #"time=1970-01-01T00:00:00.000Z level=info msg="two\nlines" odd_key_=v plain=w"#)
    }

    func testTimestampsAreUTCWithMillisecondsAndValuesWithBreaksAreQuoted() {
        XCTAssertEqual(LogLine.timestamp(Date(timeIntervalSince1970: 1_795_000_000.1234)), "2026-11-18T11:06:40.123Z")
        XCTAssertEqual(LogLine.timestamp(Date(timeIntervalSince1970: 1_795_000_000.9996)), "2026-11-18T11:06:40.999Z")
        XCTAssertEqual(LogLine.logfmtValue("team-a/db"), "team-a/db")
        XCTAssertEqual(LogLine.logfmtValue("a\tb"), #""a\tb""#)
        XCTAssertEqual(LogLine.logfmtValue("a\u{2028}b"), "\"a\u{2028}b\"")
        XCTAssertEqual(LogLine.logfmtValue("a\u{7}b"), "\"a\u{7}b\"")
        XCTAssertEqual(LogLine.logfmtValue(""), #""""#)
        // Escapes among other text, and a CR LF (one Character) escaped as its two bytes, so that
        // the record stays one line.
        XCTAssertEqual(LogLine.logfmtValue(#"replica "db" in team-a\b"#), #""replica \"db\" in team-a\\b""#)
        XCTAssertEqual(LogLine.logfmtValue("first\r\nsecond\nthird"), #""first\r\nsecond\nthird""#)
        XCTAssertEqual(LogLine.logfmtValue("é ✓ \""), #""é ✓ \"""#)
        XCTAssertEqual(LogLine.logfmtValue("\"\""), #""\"\"""#)
    }

    func testTheSinkWritesEachLineWholeWithTheCallSitesMetadata() throws {
        let pipe = Pipe()
        let sink = LogSink(format: .json, level: .info, output: pipe.fileHandleForWriting.fileDescriptor)
        var logger = Logger(label: "t") { _ in SpillwayLogHandler(sink: sink) }
        logger.info("replica created", metadata: ["source": "a/b", "action": "create"])
        logger[metadataKey: "instance"] = "one"
        logger.warning("write failed", metadata: ["source": "a/c"])
        try pipe.fileHandleForWriting.close()
        let lines = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
            .split(separator: "\n").map { try? JSONSerialization.jsonObject(with: Data($0.utf8)) as? [String: String] }
        XCTAssertEqual(lines.count, 2)
        XCTAssertEqual(lines[0]?["msg"], "replica created")
        XCTAssertEqual(lines[0]?["source"], "a/b")
        XCTAssertEqual(lines[0]?["action"], "create")
        XCTAssertNil(lines[0]?["instance"])
        XCTAssertEqual(lines[1]?["level"], "warning")
        XCTAssertEqual(lines[1]?["source"], "a/c")
        XCTAssertEqual(lines[1]?["instance"], "one")
    }

    func testJSONStringsAreQuotedAndEscapedOnlyWhereJSONNeedsIt() {
        XCTAssertEqual(LogLine.jsonString("team-a/db"), #""team-a/db""#)
        XCTAssertEqual(LogLine.jsonString(""), #""""#)
        XCTAssertEqual(LogLine.jsonString("é ✓ \u{2028}"), "\"é ✓ \u{2028}\"")
        XCTAssertEqual(LogLine.jsonString(#"say "hi" \ bye"#), #""say \"hi\" \\ bye""#)
        XCTAssertEqual(LogLine.jsonString("a\nb\tc\u{1}é"), #""a\nb\tc\u0001é""#)
        XCTAssertEqual(LogLine.timestamp(Date(timeIntervalSince1970: 0)), "1970-01-01T00:00:00.000Z")
        XCTAssertEqual(LogLine.timestamp(Date(timeIntervalSince1970: 4_102_444_799.25)), "2099-12-31T23:59:59.250Z")
    }
}
