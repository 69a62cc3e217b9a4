/// Splits a byte stream of concatenated JSON objects (a watch body) into whole objects.
///
/// The server flushes whenever its channel is empty, so one network chunk may hold several
/// events and one event may span many chunks. The decoder keeps only the bytes of the event
/// in progress (never the whole stream), resumes its scan where the previous chunk ended (so a
/// large event arriving in small pieces costs linear time), and rejects anything that is not a
/// JSON object with an error naming the offending byte: the watch is then restarted.
public struct JSONStreamDecoder {
    /// Largest single event accepted; a stream that never closes its object is garbage, not an
    /// event, and must not grow memory without bound. The API server's own object limit is ~1.5 MiB.
    public var maxEventBytes: Int

    private var buffer: [UInt8] = []
    /// Scan position inside `buffer` (bytes before it have been classified already).
    private var scanned = 0
    /// Start of the current value in `buffer`, or nil between values.
    private var valueStart: Int?
    private var depth = 0
    private var inString = false
    private var escaped = false
    /// Bytes consumed from the stream before `buffer[0]`, for error offsets.
    private var streamOffset = 0

    public init(maxEventBytes: Int = 16 << 20) {
        self.maxEventBytes = maxEventBytes
    }

    /// Feeds the next chunk and returns every object it completed, in stream order.
    public mutating func feed(_ chunk: some Collection<UInt8>) throws(JSONParseError) -> [JSONValue] {
        try feed(chunk, decode: JSONParser.parseResult)
    }

    /// Feeds the next chunk and hands the bytes of each object it completed — exactly one JSON
    /// object, nothing around it — to `decode`, in stream order. This is the seam for decoders
    /// that never build a `JSONValue` (metadata-only events decoded straight into
    /// ``ObjectMeta``); a failure's offset is taken relative to the object and reported
    /// relative to the stream.
    public mutating func feed<T>(
        _ chunk: some Collection<UInt8>, decode: (UnsafeRawBufferPointer) -> Result<T, JSONParseError>
    ) throws(JSONParseError) -> [T] {
        buffer.append(contentsOf: chunk)
        var out: [T] = []
        var consumedUpTo = 0
        var i = scanned
        let count = buffer.count
        var valueStart = self.valueStart
        var depth = self.depth
        var inString = self.inString
        var escaped = self.escaped
        let streamOffset = self.streamOffset
        let result: JSONParseError? = buffer.withUnsafeBytes { buf -> JSONParseError? in
            while i < count {
                let b = buf[i]
                if valueStart == nil {
                    switch b {
                    case 0x20, 0x0a, 0x0d, 0x09:
                        i += 1
                        consumedUpTo = i
                        continue
                    case UInt8(ascii: "{"):
                        valueStart = i
                        depth = 0
                    default:
                        let shown = b >= 0x20 && b < 0x7f ? "'\(Character(Unicode.Scalar(b)))'" : "byte 0x\(String(b, radix: 16))"
                        return JSONParseError(offset: streamOffset + i, message: "expected '{' to start a watch event, found \(shown)")
                    }
                }
                if inString {
                    if escaped {
                        escaped = false
                        i += 1
                        continue
                    }
                    // Most of an event's bytes are inside strings (values, managedFields' keys):
                    // run to the next quote or backslash in a loop that looks at nothing else.
                    while i < count {
                        let c = buf[i]
                        if c == UInt8(ascii: "\"") || c == UInt8(ascii: "\\") { break }
                        i += 1
                    }
                    guard i < count else { break }
                    if buf[i] == UInt8(ascii: "\\") {
                        escaped = true
                    } else {
                        inString = false
                    }
                } else {
                    switch b {
                    case UInt8(ascii: "\""): inString = true
                    case UInt8(ascii: "{"), UInt8(ascii: "["): depth += 1
                    case UInt8(ascii: "}"), UInt8(ascii: "]"):
                        depth -= 1
                        if depth == 0 {
                            let start = valueStart!
                            switch decode(UnsafeRawBufferPointer(rebasing: buf[start...i])) {
                            case .success(let v): out.append(v)
                            case .failure(var e):
                                e.offset += streamOffset + start
                                return e
                            }
                            valueStart = nil
                            consumedUpTo = i + 1
                        }
                    default: break
                    }
                }
                i += 1
            }
            return nil
        }
        self.valueStart = valueStart
        self.depth = depth
        self.inString = inString
        self.escaped = escaped
        if let result {
            reset()
            throw result
        }
        if let start = valueStart, count - start > maxEventBytes {
            let offset = streamOffset + start
            reset()
            throw JSONParseError(offset: offset, message: "watch event larger than \(maxEventBytes) bytes")
        }
        // Drop what has been consumed; keep only the event in progress. A burst (the initial
        // list of a streaming watch arrives in chunks of hundreds of KiB) grows the buffer; its
        // capacity is not kept for the quiet stream that follows (one allocation per large
        // chunk, against parsing hundreds of objects).
        if consumedUpTo > 0 {
            if buffer.capacity > Self.keptCapacity && buffer.count - consumedUpTo <= Self.keptCapacity / 2 {
                buffer = Array(buffer[consumedUpTo...])
            } else {
                buffer.removeSubrange(0..<consumedUpTo)
            }
            self.streamOffset += consumedUpTo
            if let start = self.valueStart { self.valueStart = start - consumedUpTo }
        }
        self.scanned = buffer.count
        return out
    }

    /// True when bytes of an unfinished event are pending (a stream that ends here was cut).
    public var hasPartialEvent: Bool { valueStart != nil }

    /// Bytes currently held for the event in progress.
    public var bufferedBytes: Int { buffer.count }

    /// The buffer's capacity, for tests.
    var bufferCapacity: Int { buffer.capacity }

    /// The capacity a buffer may keep between chunks.
    static let keptCapacity = 64 << 10

    private mutating func reset() {
        buffer = []
        scanned = 0
        valueStart = nil
        depth = 0
        inString = false
        escaped = false
    }
}
