import SpillwayReactor
import XCTest

final class ProcessMemoryTests: XCTestCase {
    func testFreedHeapPagesInTheMiddleOfTheHeapAreHandedBack() {
        XCTAssertGreaterThan(ProcessMemory.residentBytes(), 1 << 20)
        // 16 MiB in blocks below malloc's mmap threshold, each followed by a small block that
        // stays: freeing the big ones leaves holes malloc keeps resident, as a burst of work does.
        let blocks = (0..<256).map { _ in
            (big: UnsafeMutableRawPointer.allocate(byteCount: 64 << 10, alignment: 16),
             pin: UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16))
        }
        for block in blocks { block.big.initializeMemory(as: UInt8.self, repeating: 1, count: 64 << 10) }
        for block in blocks { block.big.deallocate() }
        let returned = ProcessMemory.returnFreePages()
        for block in blocks { block.pin.deallocate() }
        XCTAssertGreaterThan(returned, 8 << 20, "most of the 16 MiB freed goes back to the system")
    }
}
