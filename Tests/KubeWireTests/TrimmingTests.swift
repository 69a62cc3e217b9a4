import Foundation
import SpillwayTestSupport
import XCTest
@testable import KubeWire

/// The trimming the daemon's modules use in place of Foundation's, held to Foundation's.
final class TrimmingTests: XCTestCase {
    func testTrimmingAgreesWithFoundationsCharacterSets() {
        let alphabet: [Character] = [" ", "\t", "\n", "\r\n", "\r", "\u{00A0}", "\u{2003}", "\u{3000}", "\u{0085}", "\u{2028}", "a", "é", "-", "\u{0B}", "\u{0C}"]
        var generator = SeededGenerator(seed: 0x7219)
        for _ in 0..<5_000 {
            let length = Int(generator.next() % 7)
            let text = String((0..<length).map { _ in alphabet[Int(generator.next() % UInt64(alphabet.count))] })
            XCTAssertEqual(text.trimmingWhitespace(), text.trimmingCharacters(in: .whitespaces), text.debugDescription)
            XCTAssertEqual(text.trimmingWhitespaceAndNewlines(), text.trimmingCharacters(in: .whitespacesAndNewlines), text.debugDescription)
        }
    }
}
