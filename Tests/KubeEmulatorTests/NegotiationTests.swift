import KubeWire
import XCTest

@testable import KubeEmulator

/// What the emulator answers for the Accept headers clients send, and the metadata-only
/// answer copied from an object's bytes.
final class NegotiationTests: XCTestCase {
    private func format(_ accept: String?, list: Bool = false, watch: Bool = false) -> OutputFormat {
        Negotiation.format(accept: accept, isList: list, isWatch: watch)
    }

    func testClientsOwnHeaders() {
        // spillwayd's writes, and client-go's metadata informers (list, then watch).
        let metadata = "application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1,application/json"
        let metadataList = "application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1,application/json"
        XCTAssertEqual(format(metadata), .partialMetadata)
        XCTAssertEqual(format(metadataList, list: true), .partialMetadata)
        XCTAssertEqual(format(metadata, watch: true), .partialMetadata)
        // kubectl get: protobuf first, which the emulator does not speak, then the table.
        let kubectl = "application/vnd.kubernetes.protobuf;as=Table;v=v1;g=meta.k8s.io,application/json;as=Table;v=v1;g=meta.k8s.io,application/json"
        XCTAssertEqual(format(kubectl, list: true), .table(version: "v1"))
        XCTAssertEqual(format("application/json;as=Table;v=v1beta1;g=meta.k8s.io", list: true), .table(version: "v1beta1"))
        // Plain clients.
        XCTAssertEqual(format(nil), .full)
        XCTAssertEqual(format(""), .full)
        XCTAssertEqual(format("application/json"), .full)
        XCTAssertEqual(format("*/*"), .full)
        XCTAssertEqual(format("application/*"), .full)
    }

    func testARangeThatCannotBeServedFallsToTheNext() {
        // A list transform asked of a single object, and the reverse, are skipped.
        XCTAssertEqual(format("application/json;as=PartialObjectMetadataList;g=meta.k8s.io;v=v1"), .full)
        XCTAssertEqual(format("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v1", list: true), .full)
        // Another group or an unknown version is skipped; the next range is served.
        XCTAssertEqual(format("application/json;as=PartialObjectMetadata;g=example.com;v=v1,application/json;as=Table;g=meta.k8s.io;v=v1"),
                       .table(version: "v1"))
        XCTAssertEqual(format("application/json;as=PartialObjectMetadata;g=meta.k8s.io;v=v2"), .full)
        XCTAssertEqual(format("application/json;as=PartialObjectMetadata;g=meta.k8s.io"), .full)
        XCTAssertEqual(format("text/html,application/yaml"), .full)
    }

    func testSpacesEmptyPartsAndRepeatedParametersReadAsBefore() {
        XCTAssertEqual(format(" application/json ; as = PartialObjectMetadata ; g = meta.k8s.io ; v = v1 "), .partialMetadata)
        XCTAssertEqual(format(",,;application/json;;as=PartialObjectMetadata;g=meta.k8s.io;v=v1;;"), .partialMetadata)
        // The later of two values wins; a parameter without a name or a value is ignored.
        XCTAssertEqual(format("application/json;as=Table;as=PartialObjectMetadata;g=meta.k8s.io;v=v1"), .partialMetadata)
        XCTAssertEqual(format("application/json;as=;=PartialObjectMetadata;g=meta.k8s.io;v=v1"), .full)
        XCTAssertEqual(format("application/json;as"), .full)
    }

    func testTheMetadataAnswerCopiedFromTheObjectsBytesIsItsEncoding() throws {
        let secret: JSONValue = [
            "apiVersion": "v1", "kind": "Secret", "type": "Opaque", "data": ["k": "dg=="],
            "metadata": [
                "name": "s", "namespace": "team-a", "resourceVersion": "7", "uid": "u-1",
                "labels": ["app": "x"], "annotations": ["spillway.kroy.io/replicate-to": "team-*", "note": "quote \" and \\ and é"],
            ],
        ]
        let stored = StoredObject(json: secret, resourceVersion: 7)
        XCTAssertEqual(stored.partialMetadataBytes, stored.partialMetadata.encoded())
        let bare = StoredObject(json: ["apiVersion": "v1", "kind": "Secret"], resourceVersion: 1)
        XCTAssertEqual(bare.partialMetadataBytes, bare.partialMetadata.encoded())
        var inList: [UInt8] = Array("[".utf8)
        stored.appendPartialMetadata(to: &inList)
        XCTAssertEqual(inList, Array("[".utf8) + stored.partialMetadata.encoded())
    }
}
