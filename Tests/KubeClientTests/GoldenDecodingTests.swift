import GoldenSupport
@testable import KubeClient
import KubeWire
import XCTest

/// The client's decoding against answers recorded from a real kube-apiserver v1.32
/// (Tests/Golden): the errors it branches on, the watch events it dispatches, the metadata it
/// keeps, what a DELETE answered, and how long it waits after a 429.
final class GoldenDecodingTests: XCTestCase {
    private func error(_ name: String) throws -> StatusError {
        let response = try Golden.response(name)
        return StatusError(httpCode: response.status, body: response.body, retryAfterHeader: response.retryAfter)
    }

    func testErrorsAreClassifiedAsTheEngineBranchesOnThem() throws {
        XCTAssertTrue(try error("get-missing").isNotFound)
        XCTAssertTrue(try error("create-in-missing-namespace").isNotFound)
        XCTAssertTrue(try error("create-secret-again").isAlreadyExists)
        XCTAssertFalse(try error("create-secret-again").isConflict, "AlreadyExists is not a stale write")
        XCTAssertTrue(try error("update-stale").isConflict)
        XCTAssertTrue(try error("delete-precondition-mismatch").isConflict)
        XCTAssertTrue(try error("update-secret-type").isInvalid)
        XCTAssertEqual(try error("update-secret-type").causes.map(\.field), ["type", "data[tls.crt]", "data[tls.key]"])
        XCTAssertEqual(try error("update-secret-type").detailsKind, "Secret")
        XCTAssertTrue(try error("update-immutable").isInvalid)
        XCTAssertTrue(try error("list-expired-continue").isExpired)
        XCTAssertTrue(try error("list-expired-resource-version").isExpired)
        XCTAssertEqual(try error("create-malformed").code, 400)
        XCTAssertEqual(try error("list-bad-selector-value").reason, "BadRequest")
    }

    func testTooManyRequestsIsRetriedAfterWhatTheServerSaid() throws {
        let tooMany = try error("too-many-requests")
        XCTAssertTrue(tooMany.isTooManyRequests)
        XCTAssertEqual(RetryPolicy.delay(for: tooMany, idempotent: false, attempt: 1, maxAttempts: 10), .seconds(1))
        XCTAssertNil(RetryPolicy.delay(for: try error("update-stale"), idempotent: true, attempt: 1, maxAttempts: 10))
    }

    func testWatchEventsDecode() throws {
        let events = try Golden.response("watch-secrets").watchEvents.map { try WatchEvent(json: $0) }
        XCTAssertEqual(events.map(\.kind), [.added, .modified, .added, .modified, .deleted, .deleted])
        let deleted = try XCTUnwrap(events.last.flatMap { $0.object.flatMap { KubeObject(json: $0, keepBody: true) } })
        XCTAssertEqual(deleted.metadata.name, "api-key")

        let streaming = try Golden.response("watch-streaming-list").watchEvents.map { try WatchEvent(json: $0) }
        XCTAssertEqual(streaming.map(\.kind), [.added, .bookmark])
        XCTAssertTrue(streaming.last!.isInitialEventsEnd)
        XCTAssertFalse(streaming.first!.isInitialEventsEnd)

        let expired = try WatchEvent(json: try XCTUnwrap(try Golden.response("watch-expired").watchEvents.first))
        XCTAssertEqual(expired.kind, .error)
        XCTAssertTrue(try XCTUnwrap(StatusError(status: try XCTUnwrap(expired.object))).isExpired)
    }

    /// A metadata-only watch reads each event's bytes straight into ObjectMeta: the same kind,
    /// metadata, resourceVersion and end-of-initial-events as parsing the event whole, no body,
    /// and an ERROR's Status whole.
    func testMetadataOnlyEventsReadAsParsedEventsDo() throws {
        for name in ["watch-secrets", "watch-secrets-metadata", "watch-streaming-list", "watch-expired", "watch-configmaps-metadata"] {
            let response = try Golden.response(name)
            var decoder = JSONStreamDecoder()
            let scanned = try decoder.feed(response.body, decode: WatchEvent.metadataOnly).map { try $0.get() }
            let parsed = try response.watchEvents.map { try WatchEvent(json: $0) }
            XCTAssertEqual(scanned.count, parsed.count, name)
            for (s, p) in zip(scanned, parsed) {
                XCTAssertEqual(s.kind, p.kind, name)
                XCTAssertEqual(s.metadata, p.metadata, name)
                XCTAssertEqual(s.resourceVersion, p.resourceVersion, name)
                XCTAssertEqual(s.isInitialEventsEnd, p.isInitialEventsEnd, name)
                XCTAssertEqual(s.object, s.kind == .error ? p.object : nil, name)
            }
        }
        var decoder = JSONStreamDecoder()
        let body = try Golden.response("watch-streaming-list").body
        let end = try XCTUnwrap(try decoder.feed(body, decode: WatchEvent.metadataOnly).last).get()
        XCTAssertTrue(end.isInitialEventsEnd)
        XCTAssertFalse(end.resourceVersion.isEmpty)
    }

    func testMetadataOnlyEventsThatAreNoEventsFailAsParsedOnesDo() throws {
        let cases = [
            #"{"object":{"metadata":{"name":"a"}}}"#, #"{"type":"NOPE","object":{}}"#, #"{"type":7,"object":{}}"#,
            #"{"type":"ADDED"}"#, #"{"type":"ADDED","object":[]}"#, #"{"type":"ADDED","object":{},"object":"x"}"#,
        ]
        for text in cases {
            let bytes = Array(text.utf8)
            let scanned = try bytes.withUnsafeBytes { try WatchEvent.metadataOnly($0).get() }
            let parsed = Result { () throws(KubeClientError) in try WatchEvent(json: try! JSONParser.parse(bytes)) }
            guard case .failure(.decoding(let s)) = scanned, case .failure(.decoding(let p)) = parsed else {
                XCTFail("\(text): both fail to decode, got \(scanned) and \(parsed)")
                continue
            }
            XCTAssertEqual(s, p, text)
        }
        // `type` after the object: an ERROR's Status is still read whole.
        let late = Array(#"{"object":{"kind":"Status","code":410,"reason":"Expired","message":"too old"},"type":"ERROR"}"#.utf8)
        let error = try late.withUnsafeBytes { try WatchEvent.metadataOnly($0).get().get() }
        XCTAssertTrue(try XCTUnwrap(StatusError(status: try XCTUnwrap(error.object))).isExpired)
    }

    func testMetadataOnlyObjectsKeepNoBody() throws {
        for event in try Golden.response("watch-secrets-metadata").watchEvents.map({ try WatchEvent(json: $0) }) {
            let object = try XCTUnwrap(KubeObject(json: try XCTUnwrap(event.object), keepBody: false))
            XCTAssertNil(object.object)
            XCTAssertEqual(object.metadata.namespace, "golden")
            XCTAssertFalse(object.metadata.uid.isEmpty)
        }
        let held = try Golden.response("watch-secrets-metadata").watchEvents
            .compactMap { KubeObject(json: $0["object"]!, keepBody: false) }.first { $0.metadata.deletionTimestamp != nil }
        XCTAssertEqual(held?.metadata.finalizers, ["spillway.kroy.io/replicas"])
    }

    func testDeleteAnswersSayWhetherTheObjectIsGone() throws {
        XCTAssertEqual(DeleteOutcome(answer: try Golden.response("delete-secret").body), .deleted)
        guard case .pending(let object) = DeleteOutcome(answer: try Golden.response("delete-with-finalizer").body) else {
            return XCTFail("a finalizer holds the object")
        }
        XCTAssertNotNil(object["metadata"]?["deletionTimestamp"])
    }
}
