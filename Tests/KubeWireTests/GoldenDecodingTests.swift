import GoldenSupport
import KubeWire
import XCTest

/// The wire vocabulary against answers recorded from a real kube-apiserver v1.32
/// (Tests/Golden, re-recorded by scripts/record-golden): every body decodes, and the Status
/// bodies and selector errors KubeWire builds are the server's, word for word.
final class GoldenDecodingTests: XCTestCase {
    func testEveryJSONBodyParsesAndRoundTrips() throws {
        for (step, response) in try Golden.responses() where response.contentType.hasPrefix("application/json") {
            if step.path.contains("watch=true") {
                XCTAssertFalse(response.watchEvents.isEmpty, step.name)
                continue
            }
            let json = try XCTUnwrap(response.json, step.name)
            XCTAssertEqual(try JSONParser.parse(json.encoded()), json, step.name)
        }
    }

    func testEveryStatusDecodesAndEncodesBackToTheSameBody() throws {
        var statuses = 0
        for (step, response) in try Golden.responses() {
            guard let json = response.json, json["kind"]?.stringValue == "Status" else { continue }
            let status = try XCTUnwrap(StatusError(status: json), step.name)
            if status.status == "Failure" {
                XCTAssertEqual(status.code, response.status, step.name)
                XCTAssertFalse(status.reason.isEmpty, step.name)
                XCTAssertFalse(status.message.isEmpty, step.name)
            }
            XCTAssertEqual(status.json, json, step.name)
            statuses += 1
        }
        XCTAssertGreaterThanOrEqual(statuses, 14)
    }

    func testAPIErrorConstructorsSayWhatTheServerSays() throws {
        let secrets = GroupResource(group: "", resource: "secrets")
        let cases: [(String, StatusError)] = [
            ("get-missing", .notFound(secrets, name: "nope")),
            ("create-in-missing-namespace", .notFound(GroupResource(group: "", resource: "namespaces"), name: "nowhere")),
            ("create-secret-again", .alreadyExists(secrets, name: "db-pass")),
            ("update-stale", .modified(secrets, name: "db-pass")),
            ("create-invalid-name", .invalid(GroupKind(group: "", kind: "Secret"), name: "Bad_Name", [
                .invalid("metadata.name", "Bad_Name", NameValidation.dns1123SubdomainProblems("Bad_Name").joined()),
            ])),
            ("update-immutable", .invalid(GroupKind(group: "", kind: "ConfigMap"), name: "frozen", [
                .forbidden("data", "field is immutable when `immutable` is set"),
            ])),
            ("update-secret-type", .invalid(GroupKind(group: "", kind: "Secret"), name: "db-pass", [
                .invalid("type", "kubernetes.io/tls", "field is immutable"),
                .required("data[tls.crt]"), .required("data[tls.key]"),
            ])),
            ("list-expired-resource-version", .expired("The resourceVersion for the provided list is too old.")),
        ]
        for (name, built) in cases {
            XCTAssertEqual(built.json, try Golden.response(name).json, name)
        }
    }

    func testTheTooManyRequestsOfPriorityAndFairnessIsTextWithRetryAfter() throws {
        let response = try Golden.response("too-many-requests")
        XCTAssertEqual(response.status, 429)
        XCTAssertTrue(response.contentType.hasPrefix("text/plain"), response.contentType)
        let status = StatusError(httpCode: response.status, body: response.body, retryAfterHeader: response.retryAfter)
        XCTAssertTrue(status.isTooManyRequests)
        XCTAssertEqual(status.reason, "TooManyRequests")
        XCTAssertEqual(status.message, "Too many requests, please try again later.")
        XCTAssertEqual(status.retryAfterSeconds, 1)
    }

    func testAnExpiredContinueTokenComesWithOneToResumeFrom() throws {
        let status = try XCTUnwrap(StatusError(status: try XCTUnwrap(try Golden.response("list-expired-continue").json)))
        XCTAssertTrue(status.isExpired)
        XCTAssertNotNil(status.continueToken)
    }

    func testListPagesDecode() throws {
        let first = try ListPage.decode(try Golden.response("list-page-one").body)
        XCTAssertEqual(first.items.count, 1)
        XCTAssertFalse(first.resourceVersion.isEmpty)
        XCTAssertNotNil(first.continueToken)
        XCTAssertEqual(first.remainingItemCount, 1)
        let last = try ListPage.decode(try Golden.response("list-page-two").body)
        XCTAssertNil(last.continueToken)
        XCTAssertEqual(last.resourceVersion, first.resourceVersion, "every page of a list is at the list's resourceVersion")
        let metadata = try ListPage.decode(try Golden.response("list-secrets-metadata").body)
        XCTAssertEqual(metadata.items.map { $0["kind"] }, [.string("PartialObjectMetadata"), .string("PartialObjectMetadata")])
    }

    func testPartialObjectMetadataDecodesIntoObjectMeta() throws {
        let items = try ListPage.decode(try Golden.response("list-secrets-metadata").body).items
        let meta = try XCTUnwrap(items.compactMap(ObjectMeta.init(object:)).first { $0.name == "db-pass" })
        XCTAssertEqual(meta.namespace, "golden")
        XCTAssertEqual(meta.labels, ["app": "db"])
        XCTAssertEqual(meta.annotations, ["spillway.kroy.io/replicate-to": "team-*"])
        XCTAssertFalse(meta.uid.isEmpty)
        XCTAssertFalse(meta.resourceVersion.isEmpty)
        // The bytes seam decodes the same.
        let bytes = items.first { $0["metadata"]?["name"] == "db-pass" }!.encoded()
        XCTAssertEqual(bytes.withUnsafeBytes { ObjectMeta(jsonObject: $0) }, meta)
    }

    func testWatchStreamsSplitIntoEventsHoweverTheBytesArrive() throws {
        for name in ["watch-secrets", "watch-secrets-metadata", "watch-streaming-list", "watch-expired"] {
            let response = try Golden.response(name)
            var whole = JSONStreamDecoder()
            let all = try whole.feed(response.body)
            XCTAssertEqual(all, response.watchEvents, name)
            for chunk in [1, 7, 100] {
                var decoder = JSONStreamDecoder()
                var events: [JSONValue] = []
                var i = 0
                while i < response.body.count {
                    events += try decoder.feed(response.body[i..<min(i + chunk, response.body.count)])
                    i += chunk
                }
                XCTAssertEqual(events, all, "\(name) in chunks of \(chunk)")
                XCTAssertFalse(decoder.hasPartialEvent)
            }
        }
        let types = try Golden.response("watch-secrets").watchEvents.compactMap { $0["type"]?.stringValue }
        XCTAssertEqual(types, ["ADDED", "MODIFIED", "ADDED", "MODIFIED", "DELETED", "DELETED"])
        let end = try XCTUnwrap(try Golden.response("watch-streaming-list").watchEvents.last)
        XCTAssertEqual(end["type"], "BOOKMARK")
        XCTAssertEqual(end["object"]?["metadata"]?["annotations"]?["k8s.io/initial-events-end"], "true")
        let error = try XCTUnwrap(try Golden.response("watch-expired").watchEvents.first)
        XCTAssertEqual(error["type"], "ERROR")
        XCTAssertTrue(try XCTUnwrap(StatusError(status: try XCTUnwrap(error["object"]))).isExpired)
    }

    func testTablesCarryColumnsAndOneCellPerColumn() throws {
        for name in ["get-secret-table", "list-secrets-table"] {
            let table = try XCTUnwrap(try Golden.response(name).json, name)
            XCTAssertEqual(table["kind"], "Table")
            let columns = table["columnDefinitions"]?.arrayValue?.compactMap { $0["name"]?.stringValue }
            XCTAssertEqual(columns, ["Name", "Type", "Data", "Age"], name)
            for row in table["rows"]?.arrayValue ?? [] {
                XCTAssertEqual(row["cells"]?.arrayValue?.count, 4, name)
                XCTAssertEqual(row["object"]?["kind"], "PartialObjectMetadata", name)
            }
        }
    }

    func testSelectorErrorsAreTheServersWordForWord() throws {
        var checked = 0
        for (step, response) in try Golden.responses() where step.name.hasPrefix("list-bad-selector") {
            let query = try XCTUnwrap(URLComponents(string: "http://x" + step.path)?.queryItems)
            let selector = try XCTUnwrap(query.first { $0.name == "labelSelector" }?.value)
            XCTAssertThrowsError(try LabelSelector(parsing: selector), step.name) { error in
                XCTAssertEqual("\(error)", response.json?["message"]?.stringValue, step.name)
            }
            checked += 1
        }
        XCTAssertEqual(checked, 4)
    }
}
