import KubeClient
import KubeWire
import SpillwayContract
@testable import SpillwayEngine
import XCTest

final class ObservedStateTests: XCTestCase {
    private let source = ObjectKey(kind: .secret, namespace: "apps", name: "db")

    private func meta(_ namespace: String, _ name: String, rv: String = "1", labels: [String: String] = [:],
                      annotations: [String: String] = [:], finalizers: [String] = []) -> KubeObject {
        KubeObject(metadata: ObjectMeta(name: name, namespace: namespace, uid: "uid-\(namespace)-\(name)", resourceVersion: rv,
                                        labels: labels, annotations: annotations, finalizers: finalizers), object: nil)
    }

    private func replica(_ namespace: String, of owner: ObjectKey, rv: String = "1", data: [String: String] = ["k": "dg=="]) -> KubeObject {
        let json: JSONValue = [
            "kind": "Secret", "apiVersion": "v1", "type": "Opaque",
            "metadata": [
                "name": .string(owner.name), "namespace": .string(namespace), "uid": .string("r-\(namespace)"),
                "resourceVersion": .string(rv),
                "labels": [Vocabulary.managedByLabel: "spillway"],
                "annotations": [Vocabulary.sourceFrom: .string(owner.description)],
            ],
            "data": .stringMap(data),
        ]
        return KubeObject(json: json, keepBody: true)!
    }

    private func namespace(_ name: String, labels: [String: String] = [:], phase: String = "Active") -> KubeObject {
        KubeObject(json: ["metadata": ["name": .string(name), "labels": .stringMap(labels)], "status": ["phase": .string(phase)]],
                   keepBody: true)!
    }

    /// Replicas of one source, each decoded from its own bytes, keep one copy of what they
    /// have alike (labels, annotations, fingerprint): the storage of equal values is the same.
    func testReplicasOfOneSourceShareTheirLabelsAnnotationsAndFingerprint() throws {
        let state = ObservedState()
        _ = state.applyReplica(.secret, .replaceBegin)
        for namespace in ["team-a", "team-b", "team-c"] {
            _ = state.applyReplica(.secret, .listed(replica(namespace, of: source)))
        }
        _ = state.applyReplica(.secret, .replaceEnd)
        let replicas = ["team-a", "team-b", "team-c"].compactMap { state.replicas[ObjectKey(kind: .secret, namespace: $0, name: "db")] }
        XCTAssertEqual(replicas.count, 3)
        func storage(_ map: [String: String]) -> UInt { unsafeBitCast(map, to: UInt.self) }
        XCTAssertEqual(Set(replicas.map { storage($0.labels) }).count, 1, "one labels dictionary")
        XCTAssertEqual(Set(replicas.map { storage($0.annotations) }).count, 1, "one annotations dictionary")
        let fingerprints = replicas.compactMap(\.content?.fingerprint)
        XCTAssertEqual(fingerprints.count, 3)
        XCTAssertEqual(Set(fingerprints.map { $0.utf8.withContiguousStorageIfAvailable { UInt(bitPattern: $0.baseAddress) } ?? 0 }).count, 1,
                       "one fingerprint string")
    }

    func testASharedValuesTableIsBoundedAndStillAnswersEqualValues() {
        var table = SharedValues<String>(limit: 2)
        let first = table.share(String(repeating: "a", count: 40))
        for i in 0..<10 { _ = table.share(String(repeating: "b", count: 40) + "\(i)") }
        XCTAssertEqual(table.share(String(repeating: "a", count: 40)), first, "equal whether or not still held")
    }

    func testUnrelatedObjectsAreSeenAndDropped() {
        let state = ObservedState()
        _ = state.applyCandidate(.secret, .replaceBegin)
        for i in 0..<3000 {
            XCTAssertEqual(state.applyCandidate(.secret, .listed(meta("ns\(i % 50)", "unrelated-\(i)"))), .none)
        }
        _ = state.applyCandidate(.secret, .listed(meta("apps", "db", annotations: [Vocabulary.replicateTo: "all"])))
        _ = state.applyCandidate(.secret, .replaceEnd)
        XCTAssertEqual(state.sources.count, 1)
        XCTAssertEqual(state.blockers.count, 0)
        XCTAssertEqual(state.sourceCount, 1)
    }

    func testAnObjectThatStillHoldsTheFinalizerIsKeptSoItCanBeCleanedUp() {
        let state = ObservedState()
        let triggers = state.applyCandidate(.secret, .added(meta("apps", "db", finalizers: [Vocabulary.finalizer])))
        XCTAssertNotNil(state.sources[source])
        XCTAssertEqual(state.sourceCount, 0, "not a source by the contract any more")
        XCTAssertEqual(triggers.keys, [.source(source)], "it is reconciled, to clean up and release the finalizer")
    }

    func testRemovingTheAnnotationWithoutAFinalizerDropsTheSourceAndQueuesItsCleanup() {
        let state = ObservedState()
        _ = state.applyCandidate(.secret, .added(meta("apps", "db", annotations: [Vocabulary.replicateTo: "all"])))
        let triggers = state.applyCandidate(.secret, .modified(meta("apps", "db", rv: "2")))
        XCTAssertNil(state.sources[source])
        XCTAssertEqual(triggers.keys, [.source(source)])
    }

    func testAnUnchangedResourceVersionTriggersNothing() {
        let state = ObservedState()
        let object = meta("apps", "db", annotations: [Vocabulary.replicateTo: "all"])
        _ = state.applyCandidate(.secret, .added(object))
        XCTAssertEqual(state.applyCandidate(.secret, .modified(object)), .none)
        XCTAssertEqual(state.applyCandidate(.secret, .modified(meta("apps", "db", rv: "2", annotations: [Vocabulary.replicateTo: "x"]))).keys,
                       [.source(source)])
    }

    func testReplicasKeepADigestNotTheDataAndQueueTheirOwner() {
        let state = ObservedState()
        let triggers = state.applyReplica(.secret, .added(replica("team-a", of: source)))
        XCTAssertEqual(triggers.keys, [.source(source)])
        let observed = state.replicas[source.inNamespace("team-a")]
        XCTAssertEqual(observed?.content?.fingerprint, Payload(kind: .secret, data: ["k": Array("v".utf8)]).digest.fingerprint)
        XCTAssertEqual(state.replicaKeys(ownedBy: .source(source)), [source.inNamespace("team-a")])
        XCTAssertEqual(state.applyReplica(.secret, .modified(replica("team-a", of: source))), .none,
                       "our own write's echo (same resourceVersion) queues nothing")
    }

    func testAReplicaDeletionQueuesItsOwnerAndEverySourceOfThatName() {
        let state = ObservedState()
        let other = ObjectKey(kind: .secret, namespace: "other", name: "db")
        _ = state.applyCandidate(.secret, .added(meta("apps", "db", annotations: [Vocabulary.replicateTo: "all"])))
        _ = state.applyCandidate(.secret, .added(meta("other", "db", annotations: [Vocabulary.replicateTo: "all"])))
        _ = state.applyReplica(.secret, .added(replica("team-a", of: source)))
        let triggers = state.applyReplica(.secret, .deleted(replica("team-a", of: source)))
        XCTAssertEqual(triggers.keys, [.source(source), .source(other)], "the loser of a same-name conflict takes over")
        XCTAssertTrue(state.replicaKeys(ownedBy: .source(source)).isEmpty)
    }

    func testARelistDropsWhatVanishedWhileDisconnected() {
        let state = ObservedState()
        _ = state.applyReplica(.secret, .added(replica("team-a", of: source)))
        _ = state.applyReplica(.secret, .added(replica("team-b", of: source)))
        _ = state.applyReplica(.secret, .replaceBegin)
        _ = state.applyReplica(.secret, .listed(replica("team-a", of: source)))
        let triggers = state.applyReplica(.secret, .replaceEnd)
        XCTAssertEqual(Set(state.replicas.keys), [source.inNamespace("team-a")])
        XCTAssertEqual(triggers.keys, [.source(source)])
    }

    func testANamespaceChangeQueuesEverySourceButAnIdenticalOneDoesNot() {
        let state = ObservedState()
        XCTAssertEqual(state.applyNamespace(.added(namespace("team-a"))), Triggers(namespaces: ["team-a"]),
                       "every source, in that namespace only")
        XCTAssertEqual(state.applyNamespace(.modified(namespace("team-a"))), .none)
        XCTAssertEqual(state.applyNamespace(.modified(namespace("team-a", labels: ["env": "prod"]))), Triggers(namespaces: ["team-a"]))
        XCTAssertEqual(state.applyNamespace(.modified(namespace("team-a", labels: ["env": "prod"], phase: "Terminating"))),
                       Triggers(namespaces: ["team-a"]))
        XCTAssertEqual(state.namespaces["team-a"]?.isTerminating, true)
        XCTAssertTrue(state.applyNamespace(.deleted(namespace("team-a"))).all)
        XCTAssertTrue(state.namespaces.isEmpty)
    }

    func testABlockerIsKeptOnceRunIntoAndItsChangesQueueTheSourcesOfItsName() {
        let state = ObservedState()
        _ = state.applyCandidate(.secret, .added(meta("apps", "db", annotations: [Vocabulary.replicateTo: "all"])))
        let blocker = source.inNamespace("team-a")
        XCTAssertEqual(state.applyCandidate(.secret, .added(meta("team-a", "db"))), .none, "not of interest yet: dropped")
        XCTAssertNil(state.blockers[blocker])
        state.recordBlocker(blocker, ["metadata": ["name": "db", "namespace": "team-a", "uid": "u", "resourceVersion": "1"],
                                      "data": ["k": "dg=="]])
        XCTAssertNotNil(state.blockers[blocker]?.content)
        XCTAssertEqual(state.observedObjects(for: source).keys.sorted(), ["team-a"])
        let changed = state.applyCandidate(.secret, .modified(meta("team-a", "db", rv: "2")))
        XCTAssertEqual(changed.keys, [.source(source)])
        XCTAssertNil(state.blockers[blocker]?.content, "changed content is read again before planning")
        XCTAssertEqual(state.staleBlockers(for: source), [blocker])
        XCTAssertEqual(state.applyCandidate(.secret, .deleted(meta("team-a", "db", rv: "2"))).keys, [.source(source)])
        XCTAssertNil(state.blockers[blocker])
    }

    func testAnotherSourceOfTheSameNameIsSeenAsAnUnmanagedObject() {
        let state = ObservedState()
        _ = state.applyCandidate(.secret, .added(meta("apps", "db", annotations: [Vocabulary.replicateTo: "all"])))
        let triggers = state.applyCandidate(.secret, .added(meta("other", "db", annotations: [Vocabulary.replicateTo: "all"])))
        XCTAssertEqual(triggers.keys, [.source(source), .source(source.inNamespace("other"))],
                       "the new source is planned, and the existing one too: a new object holds its name in `other`")
        let observed = state.observedObjects(for: source)
        XCTAssertEqual(observed.keys.sorted(), ["other"])
        XCTAssertFalse(observed["other"]!.isManaged)
    }

    func testTheSourceContentIsStaleUntilReadAtItsResourceVersion() {
        let state = ObservedState()
        _ = state.applyCandidate(.secret, .added(meta("apps", "db", annotations: [Vocabulary.replicateTo: "all"])))
        XCTAssertTrue(state.sources[source]!.needsPayload)
        state.recordSource(source, ["metadata": ["name": "db", "namespace": "apps", "resourceVersion": "1",
                                                 "annotations": [Vocabulary.replicateTo: "all"]],
                                    "data": ["k": "dg=="]])
        XCTAssertFalse(state.sources[source]!.needsPayload)
        XCTAssertEqual(state.source(source)?.payload.data["k"], Array("v".utf8))
        _ = state.applyCandidate(.secret, .modified(meta("apps", "db", rv: "2", annotations: [Vocabulary.replicateTo: "all"])))
        XCTAssertTrue(state.sources[source]!.needsPayload)
    }

    /// Reads and writes of one object share its tickets; only the writes mark it as being
    /// written, and only until their own answers.
    func testAWriteTicketMarksItsObjectAsBeingWrittenUntilItsAnswerWhateverReadsAreOut() {
        var tickets = AnswerTickets<String>()
        let read = tickets.issue(for: "db")
        XCTAssertFalse(tickets.isBeingWritten("db"), "a read is not a write")
        let first = tickets.issue(for: "db", writing: true)
        let second = tickets.issue(for: "db", writing: true)
        XCTAssertTrue(tickets.isBeingWritten("db"))
        XCTAssertFalse(tickets.isBeingWritten("other"))
        XCTAssertTrue(tickets.redeem(first))
        XCTAssertTrue(tickets.isBeingWritten("db"), "the second write is still out")
        tickets.news(of: "db")
        XCTAssertFalse(tickets.redeem(second), "the watch spoke after it was issued")
        XCTAssertFalse(tickets.isBeingWritten("db"), "the read alone is out")
        XCTAssertFalse(tickets.redeem(read))
        XCTAssertTrue(tickets.isEmpty)
    }

    /// The echo of a replica write that arrives before the write's answer is cached without its
    /// content (not decoded); the answer then fills in what was written, for that version only.
    func testTheAnswerToAWriteFillsInTheContentOfItsEchoThatCameFirst() {
        let state = ObservedState()
        let key = ObjectKey(kind: .secret, namespace: "team-a", name: "db")
        let written = ContentDigest(secretType: "Opaque", immutable: false, fingerprint: "f-written")
        let managed = [Vocabulary.managedByLabel: Vocabulary.managedByValue]
        let annotations = [Vocabulary.sourceFrom: source.description]
        func echo(rv: String) -> KubeObject {
            meta("team-a", "db", rv: rv, labels: managed, annotations: annotations)
        }

        XCTAssertFalse(state.isBeingWritten(.secret, echo(rv: "5").metadata))
        XCTAssertTrue(state.wantsReplicaBody(.secret, echo(rv: "5").metadata), "an event about a replica nobody is writing")
        let ticket = state.tickets.issue(for: key, writing: true)
        XCTAssertTrue(state.isBeingWritten(.secret, echo(rv: "5").metadata), "the engine does not ask for the echo's body")
        XCTAssertFalse(state.wantsReplicaBody(.secret, echo(rv: "5").metadata))
        _ = state.applyReplica(.secret, .added(echo(rv: "5")))
        XCTAssertNil(state.replicas[key]?.content)

        state.fillWrittenContent(key, resourceVersion: "4", content: written)
        XCTAssertNil(state.replicas[key]?.content, "another version: a plan writes it again")
        state.fillWrittenContent(key, resourceVersion: "5", content: written)
        XCTAssertEqual(state.replicas[key]?.content, written)
        XCTAssertFalse(state.tickets.redeem(ticket), "the echo came before the answer")
        XCTAssertFalse(state.isBeingWritten(.secret, echo(rv: "5").metadata))
        XCTAssertFalse(state.wantsReplicaBody(.secret, echo(rv: "5").metadata), "the cache holds that version")
        XCTAssertTrue(state.wantsReplicaBody(.secret, echo(rv: "7").metadata), "another version is read whole")

        // Content the watch delivered is newer than any answer, and stays.
        _ = state.applyReplica(.secret, .modified(replica("team-a", of: source, rv: "6")))
        let delivered = state.replicas[key]?.content
        XCTAssertNotNil(delivered)
        state.fillWrittenContent(key, resourceVersion: "6", content: written)
        XCTAssertEqual(state.replicas[key]?.content, delivered)
    }

}
