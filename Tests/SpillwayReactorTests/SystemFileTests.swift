import SpillwayReactor
import XCTest

#if canImport(Glibc)
import Glibc
#endif

/// Files read whole and text written whole without Foundation: what the daemon reads its
/// configuration and writes its log lines with.
final class SystemFileTests: XCTestCase {
    private func scratch() throws -> String {
        var template = Array("/tmp/spillway-textfile-XXXXXX".utf8CString)
        guard let dir = mkdtemp(&template) else { throw XCTSkip("mkdtemp failed") }
        let path = String(cString: dir)
        addTeardownBlock { _ = try? FileManager.default.removeItem(atPath: path) }
        return path
    }

    func testAFileLargerThanOneReadComesWholeAndByteExact() throws {
        let path = try scratch() + "/big"
        let bytes = (0..<200_000).map { UInt8(truncatingIfNeeded: $0 &* 31) }
        XCTAssertTrue(FileManager.default.createFile(atPath: path, contents: Data(bytes)))
        XCTAssertEqual(try TextFile.bytes(path), bytes)
        XCTAssertTrue(TextFile.exists(path))
        XCTAssertTrue(TextFile.isReadable(path))
    }

    func testAFileThatCannotBeReadSaysWhyInTheSystemsWords() throws {
        let dir = try scratch()
        XCTAssertThrowsError(try TextFile.text(dir + "/absent")) { error in
            XCTAssertEqual((error as? TextFile.ReadError)?.reason, "No such file or directory")
            XCTAssertEqual("\(error)", "\(dir)/absent: No such file or directory")
        }
        XCTAssertThrowsError(try TextFile.text(dir)) { error in
            XCTAssertEqual((error as? TextFile.ReadError)?.reason, "Is a directory")
        }
        XCTAssertFalse(TextFile.exists(dir + "/absent"))
        XCTAssertFalse(TextFile.isReadable(dir + "/absent"))
    }

    func testWriteAllHandsAPipeEveryByteThoughItTakesThemInParts() throws {
        var fds: [Int32] = [0, 0]
        XCTAssertEqual(pipe(&fds), 0)
        let (readEnd, writeEnd) = (fds[0], fds[1])
        let sent = (0..<1_000_000).map { UInt8(truncatingIfNeeded: $0 &* 7) }
        let done = expectation(description: "the reader saw the end of the pipe")
        // The reader runs on a thread of detachThread's: what the daemon runs exec plugins on.
        detachThread {
            var received: [UInt8] = []
            var chunk = [UInt8](repeating: 0, count: 65_536)
            while true {
                let n = chunk.withUnsafeMutableBytes { read(readEnd, $0.baseAddress, $0.count) }
                if n <= 0 { break }
                received += chunk[0..<n]
            }
            close(readEnd)
            XCTAssertEqual(received, sent)
            done.fulfill()
        }
        // A pipe holds 64 KiB: the writer goes on as the reader drains it.
        XCTAssertTrue(sent.withUnsafeBufferPointer { writeAll(writeEnd, $0) })
        close(writeEnd)
        wait(for: [done], timeout: 30)
        XCTAssertFalse([UInt8(1)].withUnsafeBufferPointer { writeAll(writeEnd, $0) }, "a closed descriptor is a failure, not a hang")
    }
}
