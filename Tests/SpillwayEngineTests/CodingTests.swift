import Foundation
import KubeClient
import KubeWire
import SpillwayContract
@testable import SpillwayEngine
import XCTest

final class CodingTests: XCTestCase {
    func testAWrittenReplicaReadsBackWithTheSameFingerprint() {
        for kind in Kind.allCases {
            let payload = Payload(kind: kind, secretType: kind == .secret ? SecretType.tls : nil, immutable: true,
                                  // ConfigMap data is text by the API's rules; Secret data is any bytes.
                                  data: ["tls.crt": Array("c\u{e9}rt".utf8), "tls.key": kind == .secret ? [0, 255, 10] : Array("k\n".utf8)],
                                  binaryData: kind == .configMap ? ["bin": [1, 2, 3]] : [:])
            let replica = Replica(key: ObjectKey(kind: kind, namespace: "team-a", name: "x"), labels: ["a": "b"],
                                  annotations: [Vocabulary.sourceFrom: "\(kind)/apps/x"], payload: payload)
            let body = ObjectCoding.body(of: replica)
            let read = ObjectCoding.payload(kind: kind, object: JSONParser.parseOrFail(body.encoded()))
            XCTAssertEqual(read.digest, payload.digest, "\(kind)")
        }
    }

    func testAnUpdateCarriesTheUidAndResourceVersionPrecondition() {
        let replica = Replica(key: ObjectKey(kind: .configMap, namespace: "b", name: "x"), labels: [:], annotations: [:],
                              payload: Payload(kind: .configMap))
        let body = ObjectCoding.body(of: replica, precondition: Precondition(uid: "u1", resourceVersion: "42"))
        XCTAssertEqual(body["metadata"]?["uid"], "u1")
        XCTAssertEqual(body["metadata"]?["resourceVersion"], "42")
        XCTAssertNil(body["immutable"], "immutable is written only when true")
    }

    /// The bytes of a replica write are the object `ObjectCoding.body` describes, without the
    /// namespace (the request's path names it), with the precondition in the metadata of an
    /// update, and every member once.
    func testAReplicaBodyEncodesTheObjectOnceWithoutItsNamespace() throws {
        for kind in Kind.allCases {
            let payload = Payload(kind: kind, secretType: kind == .secret ? SecretType.tls : nil, immutable: kind == .secret,
                                  data: ["tls.crt": Array("c\u{e9}rt \"<&>\"".utf8), "tls.key": Array("k\n".utf8)],
                                  binaryData: kind == .configMap ? ["bin": [0, 255]] : [:])
            let replica = Replica(key: ObjectKey(kind: kind, namespace: "team-a", name: "x"), labels: ["a": "b"],
                                  annotations: [Vocabulary.sourceFrom: "\(kind)/apps/x"], payload: payload)
            var expected = ObjectCoding.body(of: replica)
            expected["metadata"]?["namespace"] = nil
            let created = ReplicaBody(replica).bytes()
            XCTAssertEqual(JSONParser.parseOrFail(created), expected, "\(kind)")
            XCTAssertEqual(ObjectCoding.payload(kind: kind, object: JSONParser.parseOrFail(created)).digest, payload.digest)

            let precondition = Precondition(uid: "u-\"1\"", resourceVersion: "42")
            var expectedUpdate = ObjectCoding.body(of: replica, precondition: precondition)
            expectedUpdate["metadata"]?["namespace"] = nil
            let updated = ReplicaBody(replica).bytes(precondition: precondition)
            XCTAssertEqual(JSONParser.parseOrFail(updated), expectedUpdate, "\(kind)")
            // A member written twice would parse as its last value; count them in the text instead.
            let text = String(decoding: updated, as: UTF8.self)
            for member in [#""metadata":"#, #""uid":"#, #""resourceVersion":"#, #""name":"#, #""data":"#] {
                XCTAssertEqual(text.components(separatedBy: member).count, 2, "\(member) once in \(text)")
            }
            XCTAssertFalse(text.contains("team-a"), text)
        }
    }

    /// A pass encodes a source's replica body once: every namespace gets those bytes; a replica
    /// with other content (its own `expires-at`) gets its own encoding.
    func testAPassEncodesTheBodyOfOneSourcesReplicasOnce() throws {
        let source = SourceObject(key: ObjectKey(kind: .secret, namespace: "apps", name: "db"), uid: "u", resourceVersion: "7",
                                  annotations: [Vocabulary.replicateTo: "team-*"],
                                  payload: Payload(kind: .secret, data: ["password": Array("s3cr3t".utf8)]))
        let template = ReplicaTemplate(source: source, spec: try ReplicationSpec.parse(source.annotations), options: Options())
        let pass = Reconciliation(.source(source.key), key: source.key, queuedAt: .now, started: .now, scope: nil)
        let first = pass.body(of: template.replica(in: "team-a", expiresAt: nil)).bytes()
        let encoded = try XCTUnwrap(pass.replicaBody)
        XCTAssertEqual(pass.body(of: template.replica(in: "team-b", expiresAt: nil)).bytes(), first)
        XCTAssertTrue(encoded.fits(template.replica(in: "team-c", expiresAt: nil)))
        XCTAssertEqual(encoded.digest, template.payload.digest)

        let expiring = template.replica(in: "team-d", expiresAt: "2026-12-04T00:00:00Z")
        XCTAssertFalse(encoded.fits(expiring))
        let expiringBody = JSONParser.parseOrFail(pass.body(of: expiring).bytes())
        XCTAssertEqual(expiringBody["metadata"]?["annotations"]?[Vocabulary.expiresAt], "2026-12-04T00:00:00Z")
        XCTAssertNil(JSONParser.parseOrFail(first)["metadata"]?["annotations"]?[Vocabulary.expiresAt])

        var renamed = template.replica(in: "team-a", expiresAt: nil)
        renamed.key.name = "other"
        XCTAssertEqual(JSONParser.parseOrFail(pass.body(of: renamed).bytes())["metadata"]?["name"], "other")
    }

    func testEventsNameTheSourceAndUseMicroTime() {
        let source = SourceObject(key: ObjectKey(kind: .secret, namespace: "apps", name: "db"), uid: "u", resourceVersion: "7",
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
        let key = WorkKey.source(ObjectKey(kind: .secret, namespace: "a", name: "b"))
        XCTAssertEqual(memory.fresh(key, ["skip team-a", "skip team-b"]), ["skip team-a", "skip team-b"])
        XCTAssertEqual(memory.fresh(key, ["skip team-a", "skip team-b"]), [], "a resync says nothing new")
        XCTAssertEqual(memory.fresh(key, ["skip team-a"]), [])
        XCTAssertEqual(memory.fresh(key, ["skip team-a", "skip team-b"]), ["skip team-b"], "it went away and came back")
        memory.forget(key)
        XCTAssertEqual(memory.count, 0)
    }

    func testOneReconcilePostsAtMostFiveEventsOfAReasonAndCountsTheRest() {
        let failed = (1...12).map { EventIntent(type: .warning, reason: Vocabulary.reasonFailed, message: "create Secret ns-\($0)/db failed: 403") }
        let skipped = (1...2).map { EventIntent(type: .warning, reason: Vocabulary.reasonSkipped, message: "skip ns-\($0)") }
        let done = EventIntent(type: .normal, reason: Vocabulary.reasonSucceeded, message: "replicas written: create 3")
        let posted = EventCap.limit(failed + skipped + [done])
        XCTAssertEqual(Array(posted.prefix(8)), Array(failed.prefix(5)) + skipped + [done], "the first five of a reason, in order")
        XCTAssertEqual(posted.count, 9)
        let summary = posted[8]
        XCTAssertEqual(summary.type, .warning)
        XCTAssertEqual(summary.reason, Vocabulary.reasonFailed)
        XCTAssertTrue(summary.message.hasPrefix("7 more ReplicationFailed outcomes of this pass"), summary.message)
        XCTAssertTrue(summary.message.hasSuffix("such as: create Secret ns-6/db failed: 403"), summary.message)

        XCTAssertEqual(EventCap.limit(Array(failed.prefix(5))), Array(failed.prefix(5)), "five are posted as they are")
        let six = EventCap.limit(Array(failed.prefix(6)))
        XCTAssertEqual(six.count, 6)
        XCTAssertTrue(six[5].message.hasPrefix("1 more ReplicationFailed outcome of this pass"), six[5].message)
        XCTAssertEqual(EventCap.limit([]), [])
    }
}

extension JSONParser {
    static func parseOrFail(_ bytes: [UInt8]) -> JSONValue {
        try! parse(bytes)
    }
}

final class ClusterSnapshotTests: XCTestCase {
    /// `spillwayd plan` from manifests: the objects as YAML files give them, stringData included.
    func testPlansFromManifestsWithoutACluster() {
        let snapshot = ClusterSnapshot(objects: [
            ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "team-a"]],
            ["apiVersion": "v1", "kind": "Namespace", "metadata": ["name": "team-b"]],
            ["apiVersion": "v1", "kind": "Secret",
             "metadata": ["name": "db", "namespace": "apps", "annotations": [Vocabulary.replicateTo: "team-*"]],
             "stringData": ["password": "s3cr3t-alpha"]],
            ["apiVersion": "v1", "kind": "Secret", "metadata": ["name": "db", "namespace": "team-b"], "data": ["k": "dg=="]],
            ["apiVersion": "v1", "kind": "Secret",
             "metadata": ["name": "old", "namespace": "team-a", "labels": [Vocabulary.managedByLabel: "spillway"],
                          "annotations": [Vocabulary.sourceFrom: "Secret/apps/old"]]],
            ["apiVersion": "v1", "kind": "Pod", "metadata": ["name": "ignored"]],
        ])
        let plans = snapshot.plans(planner: Planner(), now: Date())
        XCTAssertEqual(plans.map(\.source.description), ["Secret/apps/db", "Secret/apps/old"])
        XCTAssertEqual(plans[0].decisions.map { "\($0.namespace) \($0.action.verb)" }, ["team-a create", "team-b skip"])
        if case .create(let replica) = plans[0].decisions[0].action {
            XCTAssertEqual(replica.payload.data["password"], Array("s3cr3t-alpha".utf8))
        } else {
            XCTFail("expected a create")
        }
        XCTAssertEqual(plans[1].decisions.map { "\($0.namespace) \($0.action.verb)" }, ["team-a delete"], "the orphan of a vanished source")
        XCTAssertEqual(snapshot.plans(planner: Planner(), now: Date(), namespaces: ["team-b"])[0].decisions.map(\.namespace), ["team-b"])
    }
}
