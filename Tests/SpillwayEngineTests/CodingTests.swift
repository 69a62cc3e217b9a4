import Foundation
import KubeClient
import SpillwayContract
import XCTest

@testable import SpillwayEngine

final class CodingTests: XCTestCase {
    func testAWrittenReplicaReadsBackWithTheSameFingerprint() {
        for kind in Kind.allCases {
            let payload = Payload(kind: kind, secretType: kind == .secret ? SecretType.tls : nil, immutable: true,
                                  // ConfigMap data is text by the API's rules; Secret data is any bytes.
                                  data: ["tls.crt": Array("c\u{e9}rt".utf8), "tls.key": kind == .secret ? [0, 255, 10] : Array("k\n".utf8)],
                                  binaryData: kind == .configMap ? ["bin": [1, 2, 3]] : [:])
            let replica = Replica(key: SourceKey(kind: kind, namespace: "team-a", name: "x"), labels: ["a": "b"],
                                  annotations: [Vocabulary.sourceFrom: "\(kind)/apps/x"], payload: payload)
            let body = ObjectCoding.body(of: replica)
            let read = ObjectCoding.payload(kind: kind, object: JSONParser.parseOrFail(body.encoded()))
            XCTAssertEqual(read.digest, payload.digest, "\(kind)")
        }
    }

    func testAnUpdateCarriesTheUidAndResourceVersionPrecondition() {
        let replica = Replica(key: SourceKey(kind: .configMap, namespace: "b", name: "x"), labels: [:], annotations: [:],
                              payload: Payload(kind: .configMap))
        let body = ObjectCoding.body(of: replica, precondition: Precondition(uid: "u1", resourceVersion: "42"))
        XCTAssertEqual(body["metadata"]?["uid"], "u1")
        XCTAssertEqual(body["metadata"]?["resourceVersion"], "42")
        XCTAssertNil(body["immutable"], "immutable is written only when true")
    }

    func testEventsNameTheSourceAndUseMicroTime() {
        let source = SourceObject(key: SourceKey(kind: .secret, namespace: "apps", name: "db"), uid: "u", resourceVersion: "7",
                                  payload: Payload(kind: .secret))
        let date = Date(timeIntervalSince1970: 1_767_366_245.123456)
        let event = EventBody.make(source: source, intent: EventIntent(type: .warning, reason: Vocabulary.reasonSkipped,
                                                                       message: String(repeating: "x", count: 2000)),
                                   instance: "host", now: date, sequence: 1)
        XCTAssertEqual(event["regarding"]?["uid"], "u")
        XCTAssertEqual(event["regarding"]?["kind"], "Secret")
        XCTAssertEqual(event["type"], "Warning")
        XCTAssertEqual(event["eventTime"]?.stringValue?.count, "2026-01-02T15:04:05.123456Z".count)
        XCTAssertTrue(event["eventTime"]!.stringValue!.hasSuffix("Z"))
        XCTAssertLessThanOrEqual(event["note"]!.stringValue!.utf8.count, 1024)
    }

    func testOutcomesAreReportedOnceWhileTheyLastAndAgainWhenTheyReturn() {
        var memory = OutcomeMemory<String>()
        let key = SourceKey(kind: .secret, namespace: "a", name: "b")
        XCTAssertEqual(memory.fresh(key, ["skip team-a", "skip team-b"]), ["skip team-a", "skip team-b"])
        XCTAssertEqual(memory.fresh(key, ["skip team-a", "skip team-b"]), [], "a resync says nothing new")
        XCTAssertEqual(memory.fresh(key, ["skip team-a"]), [])
        XCTAssertEqual(memory.fresh(key, ["skip team-a", "skip team-b"]), ["skip team-b"], "it went away and came back")
        memory.forget(key)
        XCTAssertEqual(memory.count, 0)
    }
}

extension JSONParser {
    static func parseOrFail(_ bytes: [UInt8]) -> JSONValue {
        try! parse(bytes)
    }
}
