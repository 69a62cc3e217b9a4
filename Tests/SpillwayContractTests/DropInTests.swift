import Foundation
import SpillwayContract
import XCTest

/// What the original spillway's users meet when spillwayd replaces it, and the refusals an
/// operator must be able to see: the original's finalizer and replicas, SpillwayProfile
/// replicas, Secret types never replicated, namespaces that do not consent.
final class DropInTests: XCTestCase {
    private let teams = World.namespaces("default", "team-a", "team-b")
    private let toTeams = [Vocabulary.replicateTo: "team-*"]

    private func withFinalizers(_ source: SourceObject, _ finalizers: [String]) -> SourceObject {
        var source = source
        source.finalizers = finalizers
        return source
    }

    /// A replica as the original wrote it: the label, `source-from`, and its managed-by annotation.
    private func originalReplica(of source: SourceObject, in namespace: String) -> ObservedObject {
        var replica = World.replicaOf(source, in: namespace)
        replica.annotations[Vocabulary.legacyManagedByAnnotation] = "spillway"
        return replica
    }

    // MARK: the original's finalizer

    func testTheOriginalsFinalizerIsReplacedOnALiveSource() {
        let source = withFinalizers(World.secret(annotations: toTeams), ["example.com/other", Vocabulary.legacyFinalizer])
        let plan = World.plan(source, namespaces: teams, observed: [originalReplica(of: source, in: "team-a")])
        XCTAssertEqual(plan.sourceActions, [.replaceLegacyFinalizer])
        XCTAssertEqual(PlanReport(plan).lines.filter { $0.hasPrefix("source") }, [
            "source    Secret default/db-pass: replace finalizer spillway.kroy.io/finalizer (the original spillway's) with spillway.kroy.io/replicas",
        ])
        // Both at once (the original ran beside spillwayd): the original's still goes.
        let both = withFinalizers(source, [Vocabulary.finalizer, Vocabulary.legacyFinalizer])
        XCTAssertEqual(World.plan(both, namespaces: teams).sourceActions, [.replaceLegacyFinalizer])
    }

    func testTheOriginalsFinalizerIsReleasedAfterCleanupOfADeletedSource() {
        var source = withFinalizers(World.secret(annotations: toTeams), [Vocabulary.legacyFinalizer])
        source.deletionTimestamp = World.now
        let replica = originalReplica(of: source, in: "team-a")
        let first = World.plan(source, namespaces: teams, observed: [replica])
        XCTAssertEqual(first.deleted, ["team-a"], "its replicas go first")
        XCTAssertEqual(first.sourceActions, [])
        XCTAssertEqual(World.plan(source, namespaces: teams).sourceActions, [.removeFinalizer])
    }

    func testASourceThatStoppedReplicatingReleasesTheOriginalsFinalizer() {
        let source = withFinalizers(World.secret(annotations: ["owner": "x"]), [Vocabulary.legacyFinalizer])
        XCTAssertEqual(World.plan(source, namespaces: teams).sourceActions, [.removeFinalizer])
        XCTAssertTrue(Vocabulary.holdsFinalizer(source.finalizers))
    }

    // MARK: the original's replicas

    func testTheOriginalsReplicasAreAdoptedWithoutAWrite() {
        let source = World.secret(annotations: toTeams.merging(["note": "hi"]) { a, _ in a }, labels: ["app": "db"])
        let observed = ["team-a", "team-b"].map { originalReplica(of: source, in: $0) }
        let plan = World.plan(source, namespaces: teams, observed: observed)
        XCTAssertTrue(plan.isSteadyState, "\(plan)")
        XCTAssertEqual(plan.verbs, ["team-a": "unchanged", "team-b": "unchanged"])
    }

    func testAnAdoptedReplicaThatNeedsAnUpdateKeepsTheOriginalsAnnotation() {
        let source = World.secret(annotations: toTeams)
        var stale = originalReplica(of: source, in: "team-a")
        stale.content = Payload(kind: .secret, data: ["password": [1]]).digest
        let replica = World.plan(source, namespaces: teams, observed: [stale]).decision("team-a")?.action.replica
        XCTAssertEqual(replica?.annotations[Vocabulary.legacyManagedByAnnotation], "spillway",
                       "dropping it would be a second write for nothing")
    }

    func testAReplicaOfASpillwayProfileIsLeftToItsProfile() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a"])
        var profiled = World.replicaOf(source, in: "team-b")
        profiled.annotations[Vocabulary.profileRef] = "default/shared"
        var inTarget = World.replicaOf(source, in: "team-a")
        inTarget.annotations[Vocabulary.profileRef] = "default/shared"
        let plan = World.plan(source, namespaces: teams, observed: [profiled, inTarget])
        XCTAssertTrue(plan.writes.isEmpty, "\(plan)")
        XCTAssertEqual(plan.decision("team-a")?.reason, "owned by SpillwayProfile default/shared")
        XCTAssertTrue(World.plan(nil, key: source.key, namespaces: teams, observed: [profiled]).writes.isEmpty,
                      "a gone source does not take a profile's replicas with it")
    }

    // MARK: Secret types never replicated

    func testADeniedSecretTypeGetsAWarningAndNothingIsWritten() {
        for type in [SecretType.serviceAccountToken, SecretType.bootstrapToken] {
            let source = World.secret(annotations: [Vocabulary.replicateTo: "all"], type: type, finalizer: false)
            let plan = World.plan(source, namespaces: teams, observed: [World.replicaOf(source, in: "team-a")])
            XCTAssertTrue(plan.decisions.isEmpty && plan.sourceActions.isEmpty, "\(plan)")
            XCTAssertEqual(plan.events, [EventIntent(
                type: .warning, reason: Vocabulary.reasonSkipped,
                message: "Secret type \(type) is never replicated (--deny-secret-types); nothing was written")])
        }
    }

    func testTheDenyListIsTheOperatorsToChange() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a"], type: SecretType.serviceAccountToken)
        let plan = World.plan(source, namespaces: teams, options: Options(deniedSecretTypes: []))
        XCTAssertEqual(plan.decision("team-a")?.action.replica?.payload.secretType, SecretType.opaque)
        let tls = World.secret(annotations: [Vocabulary.replicateTo: "team-a"], type: SecretType.tls,
                               data: ["tls.crt": "c", "tls.key": "k"])
        XCTAssertTrue(World.plan(tls, namespaces: teams, options: Options(deniedSecretTypes: [SecretType.tls])).writes.isEmpty)
    }

    // MARK: consent

    func testNamespacesThatDoNotConsentAreNamedInOneEvent() {
        let namespaces = [World.namespace("default"), World.namespace("team-a", acceptFrom: "ConfigMap/*/*"),
                          World.namespace("team-b"), World.namespace("team-c", acceptFrom: "Secret/default/*")]
        let plan = World.plan(World.secret(annotations: toTeams), namespaces: namespaces,
                              options: Options(requireNamespaceConsent: true))
        XCTAssertEqual(plan.created, ["team-c"])
        XCTAssertEqual(plan.events, [EventIntent(
            type: .normal, reason: Vocabulary.reasonSkipped,
            message: "2 namespaces do not accept Secret/default/db-pass (spillway.kroy.io/accept-from, or none while consent is required): team-a, team-b")])
    }

    func testAConsentEventNamesTenNamespacesAndCountsTheRest() {
        let names = (1...12).map { "team-\($0)" }
        let plan = World.plan(World.secret(annotations: toTeams), namespaces: [World.namespace("default")] + names.map { World.namespace($0) },
                              options: Options(requireNamespaceConsent: true))
        XCTAssertEqual(plan.events.count, 1)
        XCTAssertTrue(plan.events[0].message.hasPrefix("12 namespaces do not accept"), plan.events[0].message)
        XCTAssertTrue(plan.events[0].message.hasSuffix("and 2 more"), plan.events[0].message)
    }

    func testNamespacesNeverMatchedAreNotReportedAsRefusing() {
        let namespaces = [World.namespace("default"), World.namespace("other", acceptFrom: "ConfigMap/*/*")]
        XCTAssertEqual(World.plan(World.secret(annotations: toTeams), namespaces: namespaces).events, [])
    }
}
