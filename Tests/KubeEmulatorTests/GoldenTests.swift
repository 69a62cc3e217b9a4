import Foundation
import GoldenSupport
@testable import KubeEmulator
import KubeWire
import XCTest

/// The emulator against a real kube-apiserver v1.32: the scenario recorded in Tests/Golden
/// (scripts/record-golden) is replayed against the emulator, and each answer must have the real
/// one's shape — status code, content type, Retry-After, every member of the body with its
/// type, every string once the values a server picks (uids, times, resourceVersions) are
/// masked, every watch event in order.
///
/// What the emulator leaves out on purpose is listed in `knownDifferences`, with the reason.
final class GoldenTests: XCTestCase {
    /// Members of the real answers the emulator does not produce, anywhere in a body.
    /// - `managedFields`: server-side apply's field ownership, which the emulator does not track
    ///   (spillway neither reads nor sends it; kubectl hides it by default).
    static let knownDifferences: Set<String> = ["managedFields"]

    func testTheEmulatorAnswersAsTheRealServerDoes() throws {
        let emu = try KubeEmulator.start(.init())
        defer { emu.shutdown() }
        var recorded: [String: JSONValue] = [:]
        var report: [String] = []
        for step in try Golden.scenario().steps {
            switch step.action {
            case "compact":
                emu.faults.compact()
                continue
            case "overload":
                emu.faults.failNext(1, status: 429, retryAfterSeconds: 1)
            default:
                break
            }
            let real = try Golden.response(step.name)
            let body = step.body.map { Array(Golden.substitute($0, recorded).utf8) }
            var headers = ["Accept": step.accept]
            if let contentType = step.contentType { headers["Content-Type"] = contentType }
            let answer = try emu.http(step.method, Golden.substitute(step.path, recorded), contentType: step.contentType ?? "application/json",
                                      headers: headers, rawBody: body)
            recorded[step.name] = answer.json
            report += differences(step, real: real, emulated: answer).map { "\(step.name): \($0)" }
        }
        XCTAssertTrue(report.isEmpty, "the emulator differs from the real server:\n" + report.joined(separator: "\n"))
    }

    private func differences(_ step: Golden.Step, real: Golden.Response, emulated: HTTPResponse) -> [String] {
        var out: [String] = []
        if emulated.status != real.status { out.append("status \(emulated.status), the real server answered \(real.status)") }
        let contentType = emulated.headers["content-type"] ?? ""
        if contentType != real.contentType { out.append("content type \"\(contentType)\", the real server sent \"\(real.contentType)\"") }
        if emulated.headers["retry-after"] != real.retryAfter {
            out.append("Retry-After \(emulated.headers["retry-after"] ?? "none"), the real server sent \(real.retryAfter ?? "none")")
        }
        let emulatedAnswer = Golden.Response(status: emulated.status, contentType: contentType, retryAfter: nil, body: emulated.body)
        if step.path.contains("watch=true") && real.status == 200 {
            let realEvents = real.watchEvents
            let emulatedEvents = emulatedAnswer.watchEvents.map { Golden.redact($0) }
            guard realEvents.count == emulatedEvents.count else {
                return out + ["\(emulatedEvents.count) events \(emulatedEvents.map { $0["type"]?.stringValue ?? "?" }), the real server sent \(realEvents.count) \(realEvents.map { $0["type"]?.stringValue ?? "?" })"]
            }
            for (i, (a, b)) in zip(realEvents, emulatedEvents).enumerated() {
                out += Golden.differences(real: a, emulated: b, path: "event[\(i)]", ignoring: Self.knownDifferences)
            }
        } else if let realJSON = real.json {
            guard let json = emulatedAnswer.json else { return out + ["not JSON: \(emulated.text.prefix(200))"] }
            out += Golden.differences(real: realJSON, emulated: Golden.redact(json), ignoring: Self.knownDifferences)
        } else if real.text.trimmingCharacters(in: .whitespacesAndNewlines) != emulated.text.trimmingCharacters(in: .whitespacesAndNewlines) {
            out.append("body \"\(emulated.text.prefix(200))\", the real server sent \"\(real.text.prefix(200))\"")
        }
        return out
    }
}
