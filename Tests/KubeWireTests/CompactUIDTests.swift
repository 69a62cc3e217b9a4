import Foundation
import SpillwayTestSupport
import XCTest
@testable import KubeWire

/// A uid held compactly gives back exactly the text it was made from, whatever that text is.
final class CompactUIDTests: XCTestCase {
    func testTheServersUUIDsAreHeldAsValuesAndComeBackUnchanged() {
        for text in ["0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9", "00000000-0000-0000-0000-000000000000",
                     "ffffffff-ffff-ffff-ffff-ffffffffffff"] {
            let uid = CompactUID(text)
            guard case .uuid = uid else { return XCTFail("\(text) was not held as a value") }
            XCTAssertEqual(uid.text, text)
        }
        var generator = SeededGenerator(seed: 0x51D)
        for _ in 0..<2_000 {
            let text = UUID(uuid: (0..<16).reduce(into: [UInt8]()) { bytes, _ in bytes.append(UInt8(truncatingIfNeeded: generator.next())) }
                .withUnsafeBytes { $0.load(as: uuid_t.self) }).uuidString.lowercased()
            XCTAssertEqual(CompactUID(text).text, text)
            XCTAssertEqual(CompactUID(text), CompactUID(String(text)), "equal texts, equal values")
        }
    }

    func testAnyOtherTextIsKeptAsText() {
        // Uppercase would not come back as written; the rest is no UUID at all.
        for text in ["0A1B2C3D-4E5F-6071-8293-A4B5C6D7E8F9", "", "uid-1", "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f",
                     "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9a", "0a1b2c3d+4e5f-6071-8293-a4b5c6d7e8f9",
                     "0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8fg", "0a1b2c3d-4e5f-6071-8293-a4b5c6d7é8f"] {
            let uid = CompactUID(text)
            XCTAssertEqual(uid, .text(text), text.debugDescription)
            XCTAssertEqual(uid.text, text)
        }
        XCTAssertNotEqual(CompactUID("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f9"), CompactUID("0a1b2c3d-4e5f-6071-8293-a4b5c6d7e8f8"))
    }
}
