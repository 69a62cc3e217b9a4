import Foundation
import KubeWire

/// `wire-bench`: how fast the wire vocabulary's stream splitter cuts a watch stream into events.
/// The stream is the start-up benchmark's initial list of candidate Secrets (by default 111,000
/// PartialObjectMetadata events shaped as kube-apiserver sends them, managedFields included),
/// or the bytes of a captured watch (`--file`), fed to `JSONStreamDecoder` in 16 KiB chunks.
/// Prints the best of five passes; asserts nothing.
///
///     swift build -c release --product wire-bench && .build/release/wire-bench [--events N | --file PATH]

func initialList(events: Int) -> [UInt8] {
    func hex(_ value: Int, _ width: Int) -> String {
        let digits = String(value, radix: 16)
        return String(repeating: "0", count: max(0, width - digits.count)) + digits
    }
    var out: [UInt8] = []
    out.reserveCapacity(events * 520)
    for n in 0..<events {
        let uid = "\(hex(n, 8))-414f-4f1f-8aca-\(hex(n &* 2_654_435_761 % 0xffff_ffff_ffff, 12))"
        let event = #"{"type":"ADDED","object":{"kind":"PartialObjectMetadata","apiVersion":"meta.k8s.io/v1","metadata":{"name":"lg-\#(n)","namespace":"bench-su-0000\#(n % 10)","uid":"\#(uid)","resourceVersion":"\#(1000 + n)","creationTimestamp":"2026-12-03T16:54:51Z","managedFields":[{"manager":"loadgen","operation":"Update","apiVersion":"v1","time":"2026-12-03T16:54:51Z","fieldsType":"FieldsV1","fieldsV1":{"f:data":{".":{},"f:value":{}},"f:type":{}}}]}}}"#
        out += event.utf8
        out.append(0x0a)
    }
    return out
}

var arguments = CommandLine.arguments.dropFirst()
var events = 111_000
var file: String?
while let flag = arguments.popFirst() {
    switch (flag, arguments.popFirst()) {
    case ("--events", let value?) where Int(value).map({ $0 > 0 }) == true: events = Int(value)!
    case ("--file", let value?): file = value
    default:
        FileHandle.standardError.write(Data("usage: wire-bench [--events N | --file PATH]\n".utf8))
        exit(2)
    }
}
let stream: [UInt8]
if let file {
    guard let data = FileManager.default.contents(atPath: file) else {
        FileHandle.standardError.write(Data("wire-bench: cannot read \(file)\n".utf8))
        exit(1)
    }
    stream = [UInt8](data)
} else {
    stream = initialList(events: events)
}

var best = Double.infinity
var split = 0
do {
    for _ in 0..<5 {
        var decoder = JSONStreamDecoder()
        split = 0
        let start = DispatchTime.now().uptimeNanoseconds
        var offset = 0
        while offset < stream.count {
            let end = min(offset + 16 << 10, stream.count)
            split += try decoder.feed(stream[offset..<end]) { .success($0.count) }.count
            offset = end
        }
        best = min(best, Double(DispatchTime.now().uptimeNanoseconds - start) / 1e6)
    }
} catch {
    FileHandle.standardError.write(Data("wire-bench: the stream is not a watch stream: \(error)\n".utf8))
    exit(1)
}
print(String(format: "split %d events (%.1f MB) in 16 KiB chunks: best of five %.1f ms, %.2f ns a byte",
             split, Double(stream.count) / 1e6, best, best * 1e6 / Double(stream.count)))
