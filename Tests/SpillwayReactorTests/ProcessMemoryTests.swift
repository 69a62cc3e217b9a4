import SpillwayReactor
import XCTest

#if canImport(Glibc)
import Glibc
#endif

final class ProcessMemoryTests: XCTestCase {
    func testFreedHeapPagesInTheMiddleOfTheHeapAreHandedBack() {
        XCTAssertGreaterThan(ProcessMemory.residentBytes(), 1 << 20)
        // 16 MiB in blocks below malloc's mmap threshold, each followed by a small block that
        // stays: freeing the big ones leaves holes malloc keeps resident, as a burst of work does.
        let size = 64 << 10
        let blocks = (0..<256).map { _ in
            (big: UnsafeMutableRawPointer.allocate(byteCount: size, alignment: 16),
             pin: UnsafeMutableRawPointer.allocate(byteCount: 64, alignment: 16))
        }
        for block in blocks { block.big.initializeMemory(as: UInt8.self, repeating: 1, count: size) }
        XCTAssertGreaterThan(residentPages(blocks.map(\.big), size: size), 200 * 14, "written, so resident")
        for block in blocks { block.big.deallocate() }
        ProcessMemory.returnFreePages()
        // Read page by page (mincore), not from the process's RSS, which the tests running
        // beside this one move.
        XCTAssertLessThan(residentPages(blocks.map(\.big), size: size), 256 * 14 / 10,
                          "the freed blocks' pages went back to the system")
        for block in blocks { block.pin.deallocate() }
    }

    /// Resident pages among the whole pages inside each block.
    private func residentPages(_ starts: [UnsafeMutableRawPointer], size: Int) -> Int {
        let page = Int(sysconf(Int32(_SC_PAGESIZE)))
        var resident = 0
        for start in starts {
            let first = (Int(bitPattern: start) + page - 1) / page * page + page // past malloc's chunk header
            let last = (Int(bitPattern: start) + size) / page * page - page
            guard last > first else { continue }
            var vector = [UInt8](repeating: 0, count: (last - first) / page)
            guard mincore(UnsafeMutableRawPointer(bitPattern: first), last - first, &vector) == 0 else { continue }
            resident += vector.filter { $0 & 1 == 1 }.count
        }
        return resident
    }
}
