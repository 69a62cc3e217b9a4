import CSpillwayShims
import Foundation
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class SystemdShimTests: XCTestCase {
    func testNotifySendsTheStateAsOneDatagramToTheNotifySocket() throws {
        let path = NSTemporaryDirectory() + "spillway-notify-\(getpid()).sock"
        unlink(path)
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        XCTAssertGreaterThanOrEqual(fd, 0)
        defer {
            close(fd)
            unlink(path)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { buffer in
            path.utf8CString.withUnsafeBytes { buffer.copyMemory(from: $0) }
        }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { bind(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size)) }
        }
        XCTAssertEqual(bound, 0)

        setenv("NOTIFY_SOCKET", path, 1)
        defer { unsetenv("NOTIFY_SOCKET") }
        XCTAssertGreaterThan(spw_sd_notify("READY=1\nSTATUS=replicating 3 sources"), 0)

        var buffer = [UInt8](repeating: 0, count: 512)
        let count = recv(fd, &buffer, buffer.count, Int32(MSG_DONTWAIT))
        XCTAssertEqual(String(decoding: buffer.prefix(max(count, 0)), as: UTF8.self), "READY=1\nSTATUS=replicating 3 sources")
    }

    func testNotifyWithoutANotifySocketIsANoOp() {
        unsetenv("NOTIFY_SOCKET")
        XCTAssertEqual(spw_sd_notify("READY=1"), 0)
    }

    func testJournalSendRejectsAnEmptyFieldList() {
        XCTAssertEqual(spw_sd_journal_sendv(nil, nil, 0), -EINVAL)
    }
}
