@testable import KubeClient
import KubeWire
import XCTest

final class ObjectStoreTests: XCTestCase {
    func obj(_ name: String, rv: String, ns: String = "a") -> KubeObject {
        KubeObject(metadata: ObjectMeta(name: name, namespace: ns, resourceVersion: rv), object: nil)
    }

    func testReplacementDeletesWhatWasNotListedAndReportsChanges() {
        var changes: [String] = []
        let store = ObjectStore { c in
            switch c {
            case .added(let o): changes.append("+\(o.key)")
            case .updated(_, let n): changes.append("~\(n.key)@\(n.metadata.resourceVersion)")
            case .deleted(let o): changes.append("-\(o.key)")
            }
        }
        for e: InformerEvent in [.replaceBegin, .listed(obj("x", rv: "1")), .listed(obj("y", rv: "2")), .replaceEnd] { store.apply(e) }
        store.apply(.modified(obj("x", rv: "3")))
        changes.removeAll()
        // Disconnected: y vanished, x unchanged, z appeared.
        for e: InformerEvent in [.replaceBegin, .listed(obj("x", rv: "3")), .listed(obj("z", rv: "5")), .replaceEnd] { store.apply(e) }
        XCTAssertEqual(changes.sorted(), ["+a/z", "-a/y"])
        XCTAssertEqual(Set(store.objects.keys.map(\.description)), ["a/x", "a/z"])
    }

    func testRestartedReplacementForgetsTheAbandonedOne() {
        let store = ObjectStore()
        for e: InformerEvent in [.replaceBegin, .listed(obj("x", rv: "1")), .listed(obj("y", rv: "1")), .replaceEnd] { store.apply(e) }
        // A list lists x, fails half-way, starts over and finds only y.
        for e: InformerEvent in [.replaceBegin, .listed(obj("x", rv: "1")), .replaceBegin, .listed(obj("y", rv: "1")), .replaceEnd] { store.apply(e) }
        XCTAssertEqual(store.objects.keys.map(\.description), ["a/y"])
    }

    func testDeleteEventAndMetadataDecoding() throws {
        let store = ObjectStore()
        let json = try JSONParser.parse(#"{"kind":"PartialObjectMetadata","metadata":{"name":"n","namespace":"ns","uid":"u","resourceVersion":"7","generation":2,"labels":{"a":"b"},"annotations":{"c":"d"},"finalizers":["f"],"deletionTimestamp":"2026-01-01T00:00:00Z"}}"#)
        let o = try XCTUnwrap(KubeObject(json: json, keepBody: false))
        XCTAssertEqual(o.metadata, ObjectMeta(name: "n", namespace: "ns", uid: "u", resourceVersion: "7", generation: 2,
                                              deletionTimestamp: "2026-01-01T00:00:00Z", labels: ["a": "b"], annotations: ["c": "d"], finalizers: ["f"]))
        XCTAssertNil(o.object)
        store.apply(.added(o))
        store.apply(.deleted(o))
        XCTAssertTrue(store.objects.isEmpty)
    }
}
