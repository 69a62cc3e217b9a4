import CSpillwayShims

#if canImport(Glibc)
import Glibc
#endif

/// The process's own memory, as the system sees it.
public enum ProcessMemory {
    /// Hands the pages malloc holds free back to the system (`malloc_trim(0)`), and says how
    /// much resident memory that gave back, in bytes. glibc's malloc returns only the top of
    /// its heap by itself; the pages a burst of work freed in the middle stay resident until
    /// this. About 2 MiB after the initial lists of 111,000 Secrets (BENCHMARKS.md).
    @discardableResult
    public static func returnFreePages() -> Int {
        let before = residentBytes()
        spw_malloc_trim()
        return max(0, before - residentBytes())
    }

    /// VmRSS from `/proc/self/statm` (resident pages × page size); 0 where there is none.
    public static func residentBytes() -> Int {
        #if canImport(Glibc)
        let fd = open("/proc/self/statm", O_RDONLY)
        guard fd >= 0 else { return 0 }
        defer { close(fd) }
        var buffer = [UInt8](repeating: 0, count: 128)
        let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
        guard count > 0 else { return 0 }
        let fields = buffer[..<count].split(separator: UInt8(ascii: " "))
        guard fields.count > 1, let pages = Int(String(decoding: fields[1], as: UTF8.self)) else { return 0 }
        return pages * Int(sysconf(Int32(_SC_PAGESIZE)))
        #else
        return 0
        #endif
    }
}
