import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// Pull replication end to end through the engine: a namespace asks with `replicate-from`, the
/// source decides with `allow-pull-from`, and nothing that is not spillway's is ever touched.
final class PullTests: EngineTestCase {
    static let from = Vocabulary.replicateFrom
    static let allow = Vocabulary.allowPullFrom

    /// `platform/wildcard` allowing `allow`, and an empty `team-a/tls` asking for it.
    private func sourceAndAsking(allow: String? = "team-*", askingData: [String: String] = [:]) async throws {
        try await namespaces("platform", "team-a", "team-b")
        try await world.startEngine()
        try await world.createSecret("platform", "wildcard", annotations: allow.map { [Self.allow: $0] } ?? [:],
                                     data: ["tls.key": "s3cr3t-alpha"])
        try await world.createSecret("team-a", "tls", annotations: [Self.from: "platform/wildcard", "team.example/owner": "a"],
                                     labels: ["app": "web"], data: askingData)
    }

    private func tlsData() async throws -> [String: String] {
        EngineWorld.secretData(try await world.get(.secrets, "team-a", "tls"))
    }

    func testAnAdmittedPullIsFilledFollowsTheSourceAndKeepsItsOwnMetadata() async throws {
        try await sourceAndAsking()
        try await eventually("the copy is filled") { try await tlsData() == ["tls.key": "s3cr3t-alpha"] }
        let copy = try await world.get(.secrets, "team-a", "tls")
        let labels = copy?["metadata"]?["labels"]?.stringMap ?? [:]
        let annotations = copy?["metadata"]?["annotations"]?.stringMap ?? [:]
        XCTAssertEqual(labels["app"], "web", "its own labels stay")
        XCTAssertEqual(labels[Vocabulary.managedByLabel], Vocabulary.managedByValue)
        XCTAssertEqual(annotations["team.example/owner"], "a", "its own annotations stay")
        XCTAssertEqual(annotations[Vocabulary.sourceFrom], "Secret/platform/wildcard")
        try await eventually("the source holds the finalizer, since a pull consumed it") {
            try await world.get(.secrets, "platform", "wildcard")?["metadata"]?["finalizers"] == [.string(Vocabulary.finalizer)]
        }
        try await eventually("a ReplicationSucceeded Event regards the object that pulls") {
            try await world.events(about: "tls", in: "team-a").contains { $0.reason == Vocabulary.reasonSucceeded }
        }
        XCTAssertTrue(world.logs.all.contains { $0.metadata["action"] == "fill" && $0.metadata["pull"] == "team-a/tls" })

        try await world.patch(.secrets, "platform", "wildcard", ["data": ["tls.key": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        let took = try await eventually("the source change reaches the copy") { try await tlsData() == ["tls.key": "s3cr3t-beta"] }
        Timings.record("pull source edited -> copy updated", took)
        XCTAssertLessThan(took, .seconds(1), "the contract says within a second")

        // A hand edit of the copy's data is reverted, as for a replica.
        try await world.patch(.secrets, "team-a", "tls", ["data": ["tls.key": .string(Data("s3cr3t-gamma".utf8).base64EncodedString())]])
        try await eventually("the hand edit is reverted") { try await tlsData() == ["tls.key": "s3cr3t-beta"] }
        let pulls = try await world.onEngine { $0.cacheCounts.pulls }
        XCTAssertEqual(pulls, 1)
    }

    func testWithoutConsentNothingIsCopiedAndTheTargetIsToldAndUntouched() async throws {
        try await sourceAndAsking(allow: "team-b")
        try await world.createSecret("team-b", "mine", annotations: [Self.from: "platform/unallowed"], data: ["own": "s3cr3t-gamma"])
        try await world.createSecret("platform", "unallowed", data: ["tls.key": "s3cr3t-alpha"])
        try await eventually("a refusal Event regards the object that asked") {
            try await world.events(about: "tls", in: "team-a").contains {
                $0.reason == Vocabulary.reasonSkipped && $0.note.contains("does not exist or does not allow pulls")
            }
        }
        try await eventually("the source without allow-pull-from refuses too") {
            try await world.events(about: "mine", in: "team-b").contains { $0.reason == Vocabulary.reasonSkipped }
        }
        try await settle()
        let asking = try await world.get(.secrets, "team-a", "tls")
        XCTAssertEqual(EngineWorld.secretData(asking), [:], "nothing was copied")
        XCTAssertNil(asking?["metadata"]?["labels"]?[Vocabulary.managedByLabel])
        let mine = try await world.get(.secrets, "team-b", "mine")
        XCTAssertEqual(EngineWorld.secretData(mine), ["own": "s3cr3t-gamma"], "the target's data is never touched")
        XCTAssertNil(mine?["metadata"]?["labels"]?[Vocabulary.managedByLabel])
        let source = try await world.get(.secrets, "platform", "unallowed")
        XCTAssertNil(source?["metadata"]?["finalizers"], "a refused pull never marks the source")
        XCTAssertTrue(world.logs.all.contains { $0.metadata["action"] == "pull-refused" && $0.metadata["pull"] == "team-a/tls" })
        // A resync writes nothing and says nothing again.
        try await settle()
        world.emulator.accounting.reset()
        try await world.onEngine { $0.enqueueAll("test resync") }
        try await settle()
        XCTAssertEqual(world.emulator.requests.writes.map { "\($0.verb) \($0.resource) \($0.namespace)/\($0.name)" }, [])
    }

    func testWithdrawnConsentEmptiesTheCopyAndLetsItGoUntilConsentReturns() async throws {
        try await sourceAndAsking()
        try await eventually("the copy is filled") { try await tlsData() == ["tls.key": "s3cr3t-alpha"] }
        try await world.patch(.secrets, "platform", "wildcard", ["metadata": ["annotations": [Self.allow: "team-b"]]])
        try await eventually("the copy is emptied and let go") {
            let copy = try await world.get(.secrets, "team-a", "tls")
            return EngineWorld.secretData(copy).isEmpty && copy?["metadata"]?["labels"]?[Vocabulary.managedByLabel] == nil
        }
        let asking = try await world.get(.secrets, "team-a", "tls")
        XCTAssertEqual(asking?["metadata"]?["annotations"]?[Self.from]?.stringValue, "platform/wildcard", "it still asks")
        XCTAssertEqual(asking?["metadata"]?["labels"]?["app"]?.stringValue, "web")
        try await eventually("the owner is told") {
            try await world.events(about: "tls", in: "team-a").contains { $0.note.contains("emptied and let go") }
        }
        try await eventually("no pull holds the source's finalizer any more") {
            try await world.get(.secrets, "platform", "wildcard")?["metadata"]?["finalizers"]?.arrayValue?.isEmpty ?? true
        }
        try await world.patch(.secrets, "platform", "wildcard", ["metadata": ["annotations": [Self.allow: "team-*"]]])
        try await eventually("filled again once consent returns") { try await tlsData() == ["tls.key": "s3cr3t-alpha"] }
    }

    func testDeletingTheSourceEmptiesItsCopiesBeforeItsFinalizerIsReleased() async throws {
        try await sourceAndAsking()
        try await eventually("the copy is filled") { try await tlsData() == ["tls.key": "s3cr3t-alpha"] }
        try await eventually("the source holds the finalizer") {
            try await world.get(.secrets, "platform", "wildcard")?["metadata"]?["finalizers"] == [.string(Vocabulary.finalizer)]
        }
        try await world.delete(.secrets, "platform", "wildcard")
        try await eventually("the copy is emptied, then the source is gone") {
            let source = try await world.get(.secrets, "platform", "wildcard")
            return try await tlsData().isEmpty && source == nil
        }
        let copy = try await world.get(.secrets, "team-a", "tls")
        XCTAssertNotNil(copy, "the object that asked is its namespace's own: it stays")
        XCTAssertNil(copy?["metadata"]?["labels"]?[Vocabulary.managedByLabel])
    }

    func testRemovingReplicateFromLetsTheCopyGoWithItsData() async throws {
        try await sourceAndAsking()
        try await eventually("the copy is filled") { try await tlsData() == ["tls.key": "s3cr3t-alpha"] }
        try await world.patch(.secrets, "team-a", "tls", ["metadata": ["annotations": [Self.from: .null]]])
        try await eventually("let go: spillway's markers removed") {
            let copy = try await world.get(.secrets, "team-a", "tls")
            return copy?["metadata"]?["labels"]?[Vocabulary.managedByLabel] == nil
                && copy?["metadata"]?["annotations"]?[Vocabulary.sourceFrom] == nil
        }
        let kept = try await tlsData()
        XCTAssertEqual(kept, ["tls.key": "s3cr3t-alpha"], "its data stays")
        try await world.patch(.secrets, "platform", "wildcard", ["data": ["tls.key": .string(Data("s3cr3t-beta".utf8).base64EncodedString())]])
        try await settle()
        let unsynced = try await tlsData()
        XCTAssertEqual(unsynced, ["tls.key": "s3cr3t-alpha"], "no longer kept in sync")
        let pulls = try await world.onEngine { $0.cacheCounts.pulls }
        XCTAssertEqual(pulls, 0, "an object that no longer asks is not kept")
    }

    func testAnObjectWithDataOfItsOwnIsNotOverwritten() async throws {
        try await sourceAndAsking(askingData: ["own": "s3cr3t-gamma"])
        try await eventually("the owner is told why") {
            try await world.events(about: "tls", in: "team-a").contains { $0.note.contains("holds data of its own") }
        }
        try await settle()
        let own = try await tlsData()
        XCTAssertEqual(own, ["own": "s3cr3t-gamma"])
        let conflicts = try await world.onEngine { $0.status.conflicts }
        XCTAssertEqual(conflicts, 1)
    }

    func testPushAndPullNeverTakeEachOthersObject() async throws {
        try await sourceAndAsking()
        try await eventually("the copy is filled") { try await tlsData() == ["tls.key": "s3cr3t-alpha"] }
        // A source of the copy's name pushing into its namespace: the pull holds it, it wins.
        try await namespaces("apps")
        try await world.createSecret("apps", "tls", annotations: [Self.to: "team-a"], data: ["tls.key": "s3cr3t-gamma"])
        try await eventually("the push is told the pull holds it") {
            try await world.events(about: "tls", in: "apps").contains { $0.reason == Vocabulary.reasonSkipped && $0.note.contains("held by a pull") }
        }
        try await settle()
        let pulled = try await tlsData()
        XCTAssertEqual(pulled, ["tls.key": "s3cr3t-alpha"])
        // A push replica that is annotated to pull: the existing owner (the push) wins.
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-b"], data: ["k": "s3cr3t-beta"])
        try await expectSecretReplicas("db", ["team-b"])
        try await world.patch(.secrets, "team-b", "db", ["metadata": ["annotations": [Self.from: "platform/wildcard"]]])
        try await eventually("the pull is told the push owns it") {
            try await world.events(about: "db", in: "team-b").contains { $0.reason == Vocabulary.reasonSkipped && $0.note.contains("existing owner wins") }
        }
        try await settle()
        let pushed = try await world.get(.secrets, "team-b", "db")
        XCTAssertEqual(EngineWorld.secretData(pushed), ["k": "s3cr3t-beta"])
    }

    func testASourcesContentIsHeldOnlyWhileAPullNamesItAndASteadyPullWritesNothing() async throws {
        try await namespaces("platform", "team-a")
        try await world.startEngine()
        try await world.createSecret("platform", "wildcard", annotations: [Self.allow: "team-*"], data: ["tls.key": "s3cr3t-alpha"])
        try await world.createSecret("team-a", "unrelated", data: ["k": "s3cr3t-gamma"])
        try await settle()
        var counts = try await world.onEngine { $0.cacheCounts }
        XCTAssertEqual(counts.payloads, 0, "a source no pull names is held as metadata only")
        XCTAssertEqual(counts.pulls, 0, "an object that does not ask is not kept")
        try await world.createSecret("team-a", "tls", annotations: [Self.from: "platform/wildcard"])
        try await eventually("the copy is filled") { try await tlsData() == ["tls.key": "s3cr3t-alpha"] }
        try await settle()
        counts = try await world.onEngine { $0.cacheCounts }
        XCTAssertEqual(counts.payloads, 1, "a pulled source is held like a pushed one")
        XCTAssertEqual(counts.pulls, 1)
        XCTAssertEqual(counts.blockers, 0)

        world.emulator.accounting.reset()
        try await world.onEngine { $0.enqueueAll("test resync") }
        try await settle()
        XCTAssertEqual(world.emulator.requests.writes.map { "\($0.verb) \($0.resource) \($0.namespace)/\($0.name)" }, [],
                       "a resync that finds the copy in place writes nothing")

        try await world.delete(.secrets, "team-a", "tls")
        try await eventually("the source's content is dropped once no pull names it") {
            try await world.onEngine { $0.cacheCounts.payloads == 0 && $0.cacheCounts.pulls == 0 }
        }
    }

    func testARetypedSourceIsNamedInTheEventOnTheCopy() async throws {
        try await sourceAndAsking()
        try await eventually("the copy is filled") { try await tlsData() == ["tls.key": "s3cr3t-alpha"] }
        try await world.delete(.secrets, "platform", "wildcard")
        try await world.createConfigMap("platform", "wildcard", annotations: [Self.allow: "team-*"], data: ["tls.key": "public"])
        try await eventually("the copy's Event asks whether the source was retyped") {
            try await world.events(about: "tls", in: "team-a").contains { $0.note.contains("was the source retyped?") }
        }
        let emptied = try await tlsData()
        XCTAssertEqual(emptied, [:])
    }

    func testForceAdoptFillsAnObjectWithDataOnlyWhenTheDaemonAllowsIt() async throws {
        try await namespaces("platform", "team-a")
        try await world.createSecret("platform", "wildcard", annotations: [Self.allow: "team-a"], data: ["tls.key": "s3cr3t-alpha"])
        try await world.createSecret("team-a", "tls", annotations: [Self.from: "platform/wildcard", Vocabulary.forceAdopt: "true"],
                                     data: ["own": "s3cr3t-gamma"])
        try await world.startEngine()
        try await eventually("refused without --allow-force-adopt") {
            try await world.events(about: "tls", in: "team-a").contains { $0.note.contains("--allow-force-adopt") }
        }
        let kept = try await tlsData()
        XCTAssertEqual(kept, ["own": "s3cr3t-gamma"])
        await world.stopEngine()
        try await world.startEngine(EngineOptions(contract: SpillwayContract.Options(allowForceAdopt: true)))
        try await eventually("adopted with it") { try await tlsData() == ["tls.key": "s3cr3t-alpha"] }
        XCTAssertTrue(world.logs.all.contains { $0.metadata["action"] == "adopt" && $0.metadata["pull"] == "team-a/tls" })
    }

    // MARK: - plan and uninstall

    func testPlanCoversPullsAndWritesNothing() async throws {
        try await namespaces("platform", "team-a", "other")
        try await world.createSecret("platform", "wildcard", annotations: [Self.allow: "team-*"], data: ["tls.key": "s3cr3t-alpha"])
        try await world.createSecret("team-a", "tls", annotations: [Self.from: "platform/wildcard"])
        try await world.createSecret("other", "tls", annotations: [Self.from: "platform/wildcard"])
        world.emulator.accounting.reset()
        let reports = try await Engine.planCluster(client: world.client, options: SpillwayContract.Options())
        XCTAssertEqual(world.emulator.requests.writes.count, 0)
        let admitted = try XCTUnwrap(reports.first { $0.source == ObjectKey(kind: .secret, namespace: "team-a", name: "tls") })
        XCTAssertEqual(admitted.pullFrom, ObjectKey(kind: .secret, namespace: "platform", name: "wildcard"))
        XCTAssertEqual(admitted.decisions.map(\.action), ["skip"], "filled once the source holds the finalizer")
        XCTAssertEqual(admitted.decisions.map(\.cause), [.awaitingSourceFinalizer])
        let refused = try XCTUnwrap(reports.first { $0.source == ObjectKey(kind: .secret, namespace: "other", name: "tls") })
        XCTAssertEqual(refused.decisions.map(\.cause), [.pullNotAllowed])
        let source = try XCTUnwrap(reports.first { $0.source == ObjectKey(kind: .secret, namespace: "platform", name: "wildcard") })
        XCTAssertEqual(source.sourceActions.map(\.action), ["add-finalizer"], "a pull it admits holds the source's finalizer")
        XCTAssertFalse(reports.flatMap(\.lines).joined().contains("s3cr3t"), "a plan shows fingerprints, never data")
    }

    func testUninstallEmptiesPulledCopiesAndLeavesThemInPlace() async throws {
        try await sourceAndAsking()
        try await eventually("the copy is filled") { try await tlsData() == ["tls.key": "s3cr3t-alpha"] }
        try await settle()
        await world.stopEngine()
        let report = await Engine.uninstall(client: world.client, deleteReplicas: true)
        XCTAssertEqual(report.failures, [])
        XCTAssertEqual(report.pulledCopiesEmptied.map(\.description), ["Secret/team-a/tls"])
        XCTAssertEqual(report.finalizersRemoved.map(\.description), ["Secret/platform/wildcard"])
        let copy = try await world.get(.secrets, "team-a", "tls")
        XCTAssertNotNil(copy, "its namespace's own object stays")
        XCTAssertEqual(EngineWorld.secretData(copy), [:])
        XCTAssertNil(copy?["metadata"]?["labels"]?[Vocabulary.managedByLabel])
        XCTAssertEqual(copy?["metadata"]?["labels"]?["app"]?.stringValue, "web")
    }
}
