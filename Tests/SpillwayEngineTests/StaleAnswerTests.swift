import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// The engine's own requests race its watches: an answer the server gave before a change can
/// reach the engine after the watch event of that change. Such an answer must not put the older
/// state back in the caches, where nothing would ever correct it (the watch has already said
/// its last word about the object, and self-heal replans from the caches).
///
/// The emulator trickles answers out slowly (watch streams are not slowed), and the test changes
/// the object between the moment the server answered and the moment the answer arrives.
final class StaleAnswerTests: EngineTestCase {
    private var store: Store { world.emulator.store }

    /// Answers of a few hundred bytes take a second or two; watch events come at once.
    private func trickleAnswers() {
        world.emulator.faults.slowResponses = .init(chunkBytes: 16, interval: .milliseconds(40))
    }

    private func sourceBody(data: String) -> JSONValue {
        ["metadata": ["name": "db", "annotations": [Self.to: "team-a"]],
         "data": ["k": .string(Data(data.utf8).base64EncodedString())]]
    }

    private func storedSource() -> StoredObject? {
        try? store.get(.secret, namespace: "apps", name: "db")
    }

    private func storedReplica() -> StoredObject? {
        try? store.get(.secret, namespace: "team-a", name: "db")
    }

    /// The source is gone (its finalizer released) and so is its replica.
    private func expectSourceCleanedUp(file: StaticString = #filePath, line: UInt = #line) async throws {
        try await eventually("the source's replica deleted and its finalizer released", timeout: .seconds(20), file: file, line: line) {
            storedSource() == nil && storedReplica() == nil
        }
    }

    func testASourceDeletedWhileTheAnswerToItsFinalizerPatchIsOnItsWayIsStillCleanedUp() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        trickleAnswers()
        try store.create(.secret, namespace: "apps", sourceBody(data: "s3cr3t-alpha"))
        // The finalizer patch is applied at once; its answer is still trickling out when the
        // source is deleted (held by that finalizer) and the watch says so.
        try await eventually("the engine adds its finalizer") {
            storedSource()?.json["metadata"]?["finalizers"]?.arrayValue?.contains(.string(Vocabulary.finalizer)) == true
        }
        try store.delete(.secret, namespace: "apps", name: "db")
        XCTAssertNotNil(storedSource()?.json["metadata"]?["deletionTimestamp"], "the finalizer holds the source, deleting")
        world.emulator.faults.slowResponses = nil
        try await expectSourceCleanedUp()
    }

    func testASourceDeletedWhileItsNewContentIsReadIsStillCleanedUp() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        try store.create(.secret, namespace: "apps", sourceBody(data: "s3cr3t-alpha"))
        try await expectSecretReplicas("db", ["team-a"])
        try await settle()
        trickleAnswers()
        let reads = world.emulator.requests.count(verb: "get", resource: "secrets")
        // New content: the engine reads the source again. The server answers at once, and the
        // source is deleted while that answer (the source alive) is on its way.
        try store.patch(.secret, namespace: "apps", name: "db", .merge, ["data": ["k": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        try await eventually("the engine reads the new content") {
            world.emulator.requests.count(verb: "get", resource: "secrets") > reads
        }
        try store.delete(.secret, namespace: "apps", name: "db")
        world.emulator.faults.slowResponses = nil
        try await expectSourceCleanedUp()
    }

    func testAReplicaDeletedByHandWhileTheAnswerToItsCreateIsOnItsWayIsCreatedAgain() async throws {
        try await namespaces("apps", "team-a")
        try store.create(.secret, namespace: "apps", sourceBody(data: "s3cr3t-alpha"))
        try await world.startEngine()
        try await expectSecretReplicas("db", ["team-a"])
        try await settle()
        trickleAnswers()
        // The replica is deleted by hand; the engine creates it again, and it is deleted by hand
        // once more while the create's answer is on its way: the watch said ADDED, then DELETED.
        try store.delete(.secret, namespace: "team-a", name: "db")
        let replica = try await eventuallyValue("the engine creates the replica again") { storedReplica() }
        try store.delete(.secret, namespace: "team-a", name: "db")
        world.emulator.faults.slowResponses = nil
        try await eventually("the replica is created a third time", timeout: .seconds(20)) {
            storedReplica().map { $0.uid != replica.uid } ?? false
        }
        // Nothing is kept for objects no request waits on any more.
        try await settle()
        let ticketsLeft = try await world.onEngine { !$0.state.tickets.isEmpty || !$0.profiles.tickets.isEmpty }
        XCTAssertFalse(ticketsLeft, "answer tickets outlived their requests")
    }

    func testAProfileDeletedWhileTheAnswerToItsFinalizerPatchIsOnItsWayIsStillCleanedUp() async throws {
        let crd = try ProfileTests.crd()
        world.emulator.register(crd)
        let profiles = try XCTUnwrap(crd.resourceTypes.first { $0.version == "v1" })
        try await namespaces("platform", "team-a")
        try store.create(.secret, namespace: "platform", ["metadata": ["name": "db"],
                                                          "data": ["k": .string(Data("s3cr3t-alpha".utf8).base64EncodedString())]])
        try await world.startEngine()
        trickleAnswers()
        try store.create(profiles, namespace: "platform", [
            "apiVersion": "spillway.kroy.io/v1", "kind": "SpillwayProfile", "metadata": ["name": "base"],
            "spec": ["targetNamespaces": ["team-a"], "sources": [["kind": "Secret", "name": "db"]]],
        ])
        try await eventually("the engine adds its finalizer to the profile") {
            (try? store.get(profiles, namespace: "platform", name: "base"))?.json["metadata"]?["finalizers"]?.arrayValue?
                .contains(.string(Vocabulary.finalizer)) == true
        }
        try store.delete(profiles, namespace: "platform", name: "base")
        world.emulator.faults.slowResponses = nil
        try await eventually("the profile's replica deleted and its finalizer released", timeout: .seconds(20)) {
            (try? store.get(profiles, namespace: "platform", name: "base")) == nil && storedReplica() == nil
        }
    }

    private func eventuallyValue<T>(_ what: String, _ value: () -> T?) async throws -> T {
        var found: T?
        try await eventually(what) {
            found = value()
            return found != nil
        }
        return try XCTUnwrap(found)
    }

    /// A write is answered with its metadata alone (PartialObjectMetadata). Should that answer
    /// not be a managed replica (a mutating webhook took the label away and asked for a pull),
    /// its content is unknown: it is cached as such, to be read, never as the empty content a
    /// metadata answer seems to hold.
    func testAMetadataAnswerThatIsNoLongerAReplicaLeavesItsContentUnknown() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a"])
        try await settle()
        let target = ObjectKey(kind: .secret, namespace: "team-a", name: "db")
        let answer: JSONValue = ["kind": "PartialObjectMetadata", "apiVersion": "meta.k8s.io/v1",
                                 "metadata": ["name": "db", "namespace": "team-a", "uid": "u-1", "resourceVersion": "999999",
                                              "annotations": [Vocabulary.replicateFrom: "apps/db"]]]
        let bytes = answer.encoded()
        let meta = try XCTUnwrap(bytes.withUnsafeBytes { ObjectMeta.decode(jsonObject: $0) }.get())
        let asking = try await world.onEngine { engine in
            engine.recordWritten(target, WriteAnswer(metadata: meta, body: bytes),
                                 content: Payload(kind: .secret, data: ["k": Array("s3cr3t-alpha".utf8)]).digest, in: engine.local)
            return (replica: engine.state.replicas[target], pull: engine.state.pulls.asking[target])
        }
        XCTAssertNil(asking.replica, "no longer a replica")
        let pull = try XCTUnwrap(asking.pull, "a pull now")
        XCTAssertNil(pull.object.content, "its content is to be read, not taken from a metadata answer")
        XCTAssertNil(pull.held)
    }
}
