import KubeWire
import Foundation
import SpillwayContract
import XCTest

final class PlannerTests: XCTestCase {
    private let teams = World.namespaces("default", "team-a", "team-b", "other")
    private let toTeams = [Vocabulary.replicateTo: "team-*"]

    // MARK: creation and steady state

    func testNewSourceCreatesAReplicaInEveryTarget() {
        let plan = World.plan(World.secret(annotations: toTeams), namespaces: teams)
        XCTAssertEqual(plan.created, ["team-a", "team-b"])
        XCTAssertNil(plan.decision("other"), "unmatched namespaces are not mentioned")
        XCTAssertEqual(plan.decision("team-a")?.reason, "matched replicate-to pattern team-*")
        XCTAssertEqual(plan.decision("team-a")?.action.replica?.key.namespace, "team-a")
    }

    func testSourceWithoutFinalizerGetsOneAdded() {
        let plan = World.plan(World.secret(annotations: toTeams, finalizer: false), namespaces: teams)
        XCTAssertEqual(plan.sourceActions, [.addFinalizer])
        XCTAssertEqual(World.plan(World.secret(annotations: toTeams), namespaces: teams).sourceActions, [])
    }

    func testEverythingInPlaceMeansZeroActions() {
        let source = World.secret(annotations: toTeams.merging([Vocabulary.excludeNamespaces: "team-b"]) { a, _ in a })
        let observed = World.apply(World.plan(source, namespaces: teams), to: [])
        let again = World.plan(source, namespaces: teams, observed: observed)
        XCTAssertTrue(again.isSteadyState, "\(again)")
        XCTAssertEqual(again.decision("team-a")?.action, .unchanged)
        XCTAssertEqual(again.decision("team-a")?.cause, .inPlace)
    }

    func testSteadyStateHoldsForEveryFeatureAtOnce() {
        let namespaces = [World.namespace("default"), World.namespace("team-a", acceptFrom: "Secret/default/*"),
                          World.namespace("b", labels: ["env": "prod"]), World.namespace("kube-system", labels: ["env": "prod"]),
                          World.namespace("team-qa")]
        let source = World.secret(
            annotations: [Vocabulary.replicateTo: "team-*", Vocabulary.replicateToMatching: "env in (prod)",
                          Vocabulary.excludeNamespaces: "team-qa", Vocabulary.includeKeys: "tls.crt,tls.key",
                          Vocabulary.replicaTTL: "24h", "kubectl.kubernetes.io/last-applied-configuration": "{}"],
            labels: ["app": "web"], type: SecretType.tls, data: ["tls.crt": "c", "tls.key": "k", "extra": "e"])
        let options = Options(requireNamespaceConsent: false, labelDenyPrefixes: ["app"])
        let first = World.plan(source, namespaces: namespaces, options: options)
        XCTAssertEqual(first.created, ["team-a", "b"])
        let later = World.plan(source, namespaces: namespaces, observed: World.apply(first, to: []),
                               options: options, now: World.now.addingTimeInterval(3600))
        XCTAssertTrue(later.isSteadyState, "\(later)")
    }

    func testConfigMapsReplicateLikeSecrets() {
        let source = World.configMap(annotations: [Vocabulary.replicateTo: "team-a"], binaryData: ["b": [0, 1]])
        let plan = World.plan(source, namespaces: teams)
        let replica = plan.decision("team-a")?.action.replica
        XCTAssertEqual(replica?.key, ObjectKey(kind: .configMap, namespace: "team-a", name: "settings"))
        XCTAssertEqual(replica?.annotations[Vocabulary.sourceFrom], "ConfigMap/default/settings")
        XCTAssertTrue(World.plan(source, namespaces: teams, observed: World.apply(plan, to: [])).isSteadyState)
    }

    func testObjectsInTheSourceNamespaceAreIgnored() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "all"])
        let plan = World.plan(source, namespaces: teams, observed: [World.unmanaged(in: "default")])
        XCTAssertNil(plan.decision("default"))
    }

    // MARK: updates and recreates

    func testChangedSourceContentUpdatesTheReplicaWithPreconditions() {
        let old = World.secret(annotations: toTeams, data: ["password": "old"])
        let replica = World.replicaOf(old, in: "team-a")
        let plan = World.plan(World.secret(annotations: toTeams, data: ["password": "new"]),
                              namespaces: teams, observed: [replica])
        guard case .update(let desired, let precondition)? = plan.decision("team-a")?.action else {
            return XCTFail("expected an update: \(plan)")
        }
        XCTAssertEqual(desired.payload.data["password"], World.bytes("new"))
        XCTAssertEqual(precondition, Precondition(uid: "uid-team-a", resourceVersion: "1"))
        XCTAssertEqual(plan.decision("team-a")?.cause, .drifted)
    }

    func testHandEditedReplicaLabelsAreRestored() {
        let source = World.secret(annotations: toTeams, labels: ["app": "db"])
        var replica = World.replicaOf(source, in: "team-a")
        replica.labels["app"] = "hacked"
        let plan = World.plan(source, namespaces: teams, observed: [replica])
        XCTAssertEqual(plan.decision("team-a")?.action.verb, "update")
        XCTAssertEqual(plan.decision("team-a")?.action.replica?.labels["app"], "db")
    }

    func testRemovedSourceAnnotationIsRemovedFromReplicas() {
        let before = World.secret(annotations: toTeams.merging(["note": "x"]) { a, _ in a })
        let plan = World.plan(World.secret(annotations: toTeams), namespaces: teams,
                              observed: [World.replicaOf(before, in: "team-a")])
        XCTAssertEqual(plan.decision("team-a")?.action.verb, "update")
        XCTAssertNil(plan.decision("team-a")?.action.replica?.annotations["note"])
    }

    func testDenyPrefixedMetadataOnAReplicaIsNeitherComparedNorStripped() {
        let source = World.secret(annotations: toTeams, data: ["password": "old"])
        var replica = World.replicaOf(source, in: "team-a")
        replica.annotations["kubectl.kubernetes.io/last-applied-configuration"] = "{}"
        XCTAssertEqual(World.plan(source, namespaces: teams, observed: [replica]).decision("team-a")?.action, .unchanged)

        let changed = World.secret(annotations: toTeams, data: ["password": "new"])
        let update = World.plan(changed, namespaces: teams, observed: [replica]).decision("team-a")?.action.replica
        XCTAssertEqual(update?.annotations["kubectl.kubernetes.io/last-applied-configuration"], "{}")
    }

    func testSecretTypeChangeRecreatesTheReplica() {
        let old = World.secret(annotations: toTeams, type: SecretType.opaque, data: ["tls.crt": "c", "tls.key": "k"])
        let new = World.secret(annotations: toTeams, type: SecretType.tls, data: ["tls.crt": "c", "tls.key": "k"])
        let plan = World.plan(new, namespaces: teams, observed: [World.replicaOf(old, in: "team-a")])
        guard case .recreate(let replica, let precondition)? = plan.decision("team-a")?.action else {
            return XCTFail("expected a recreate: \(plan)")
        }
        XCTAssertEqual(replica.payload.secretType, SecretType.tls)
        XCTAssertEqual(precondition.uid, "uid-team-a")
        XCTAssertEqual(plan.decision("team-a")?.cause, .typeChanged)
    }

    func testImmutableReplicaThatDiffersIsRecreated() {
        let old = World.secret(annotations: toTeams, data: ["password": "old"], immutable: true)
        let new = World.secret(annotations: toTeams, data: ["password": "new"], immutable: true)
        let plan = World.plan(new, namespaces: teams, observed: [World.replicaOf(old, in: "team-a")])
        XCTAssertEqual(plan.decision("team-a")?.action.verb, "recreate")
        XCTAssertEqual(plan.decision("team-a")?.cause, .immutableChanged)
    }

    func testImmutableReplicaMadeMutableIsRecreated() {
        let old = World.secret(annotations: toTeams, immutable: true)
        let new = World.secret(annotations: toTeams, immutable: false)
        XCTAssertEqual(World.plan(new, namespaces: teams, observed: [World.replicaOf(old, in: "team-a")])
            .decision("team-a")?.action.verb, "recreate")
    }

    func testMutableReplicaMadeImmutableIsUpdatedInPlace() {
        let old = World.secret(annotations: toTeams, immutable: false)
        let new = World.secret(annotations: toTeams, immutable: true)
        XCTAssertEqual(World.plan(new, namespaces: teams, observed: [World.replicaOf(old, in: "team-a")])
            .decision("team-a")?.action.verb, "update")
    }

    func testImmutableReplicaWithOnlyMetadataChangesIsUpdatedInPlace() {
        let old = World.secret(annotations: toTeams, labels: ["v": "1"], immutable: true)
        let new = World.secret(annotations: toTeams, labels: ["v": "2"], immutable: true)
        XCTAssertEqual(World.plan(new, namespaces: teams, observed: [World.replicaOf(old, in: "team-a")])
            .decision("team-a")?.action.verb, "update")
    }

    func testReplicaWithUnknownContentIsRewritten() {
        let source = World.secret(annotations: toTeams)
        var replica = World.replicaOf(source, in: "team-a")
        replica.content = nil
        XCTAssertEqual(World.plan(source, namespaces: teams, observed: [replica]).decision("team-a")?.action.verb, "update")
    }

    // MARK: objects spillway does not own

    func testUnmanagedObjectIsSkippedWithAWarningAndAHint() {
        let plan = World.plan(World.secret(annotations: toTeams), namespaces: teams,
                              observed: [World.unmanaged(in: "team-b")])
        let decision = plan.decision("team-b")
        XCTAssertEqual(decision?.action, .skip)
        XCTAssertEqual(decision?.cause, .unmanagedObject)
        XCTAssertEqual(decision?.reason,
                       "unmanaged object exists; add force-adopt and run with --allow-force-adopt to take it over")
        XCTAssertEqual(plan.events, [EventIntent(type: .warning, reason: "ReplicationSkipped",
                                                 message: "Secret team-b/db-pass: " + decision!.reason)])
        XCTAssertEqual(plan.created, ["team-a"])
    }

    func testForceAdoptWithoutTheDaemonFlagIsSkipped() {
        let source = World.secret(annotations: toTeams.merging([Vocabulary.forceAdopt: "true"]) { a, _ in a })
        let plan = World.plan(source, namespaces: teams, observed: [World.unmanaged(in: "team-b")])
        XCTAssertEqual(plan.decision("team-b")?.action, .skip)
        XCTAssertTrue(plan.decision("team-b")?.reason.contains("--allow-force-adopt") ?? false)
        XCTAssertEqual(plan.events.count, 1)
    }

    func testDaemonFlagWithoutForceAdoptDoesNotAdopt() {
        let plan = World.plan(World.secret(annotations: toTeams), namespaces: teams,
                              observed: [World.unmanaged(in: "team-b")], options: Options(allowForceAdopt: true))
        XCTAssertEqual(plan.decision("team-b")?.action, .skip)
    }

    func testForceAdoptWithTheFlagTakesTheObjectOver() {
        let source = World.secret(annotations: toTeams.merging([Vocabulary.forceAdopt: "true"]) { a, _ in a })
        let options = Options(allowForceAdopt: true)
        let plan = World.plan(source, namespaces: teams, observed: [World.unmanaged(in: "team-b")], options: options)
        guard case .update(let replica, let precondition)? = plan.decision("team-b")?.action else {
            return XCTFail("expected an update: \(plan)")
        }
        XCTAssertEqual(plan.decision("team-b")?.cause, .adopted)
        XCTAssertEqual(precondition, Precondition(uid: "foreign-team-b", resourceVersion: "7"))
        XCTAssertEqual(replica.labels[Vocabulary.managedByLabel], "spillway")
        XCTAssertEqual(replica.annotations[Vocabulary.sourceFrom], "Secret/default/db-pass")
        XCTAssertTrue(plan.events.isEmpty)
        let adopted = World.apply(plan, to: [World.unmanaged(in: "team-b")])
        XCTAssertTrue(World.plan(source, namespaces: teams, observed: adopted, options: options).isSteadyState)
    }

    func testForceAdoptRecreatesWhenTheTypeDiffers() {
        let source = World.secret(annotations: toTeams.merging([Vocabulary.forceAdopt: "true"]) { a, _ in a })
        let plan = World.plan(source, namespaces: teams, observed: [World.unmanaged(in: "team-b", type: SecretType.tls)],
                              options: Options(allowForceAdopt: true))
        XCTAssertEqual(plan.decision("team-b")?.action.verb, "recreate")
        XCTAssertEqual(plan.decision("team-b")?.cause, .adopted)
    }

    func testReplicaOfAnotherSourceIsNeverTouchedEvenWithForceAdopt() {
        let other = World.secret("platform", annotations: toTeams)
        let source = World.secret(annotations: toTeams.merging([Vocabulary.forceAdopt: "true"]) { a, _ in a })
        let plan = World.plan(source, namespaces: teams, observed: [World.replicaOf(other, in: "team-a")],
                              options: Options(allowForceAdopt: true))
        XCTAssertEqual(plan.decision("team-a")?.action, .skip)
        XCTAssertEqual(plan.decision("team-a")?.reason, "owned by Secret/platform/db-pass")
        XCTAssertEqual(plan.decision("team-a")?.cause, .ownedByAnotherSource)
        XCTAssertEqual(plan.events.first?.reason, "ReplicationSkipped")
        XCTAssertTrue(plan.events.first?.message.contains("owned by Secret/platform/db-pass") ?? false)
    }

    func testLoserOfASameNameConflictTakesOverOnceTheWinnersReplicaIsGone() {
        let source = World.secret(annotations: toTeams)
        let winner = World.replicaOf(World.secret("platform", annotations: toTeams), in: "team-a")
        XCTAssertEqual(World.plan(source, namespaces: teams, observed: [winner]).decision("team-a")?.action, .skip)
        XCTAssertEqual(World.plan(source, namespaces: teams, observed: []).decision("team-a")?.action.verb, "create")
    }

    func testManagedObjectWithoutAValidSourceFromCountsAsUnmanaged() {
        var object = World.replicaOf(World.secret(annotations: toTeams), in: "team-a")
        object.annotations[Vocabulary.sourceFrom] = "garbage"
        let plan = World.plan(World.secret(annotations: toTeams), namespaces: teams, observed: [object])
        XCTAssertEqual(plan.decision("team-a")?.cause, .unmanagedObject)
    }

    func testForeignObjectsOutsideTheTargetsAreNeverDeleted() {
        let plan = World.plan(World.secret(annotations: [Vocabulary.replicateTo: "team-a"]), namespaces: teams,
                              observed: [World.unmanaged(in: "other"),
                                         World.replicaOf(World.secret("platform", annotations: toTeams), in: "team-b")])
        XCTAssertTrue(plan.deleted.isEmpty)
        XCTAssertNil(plan.decision("other"))
        XCTAssertNil(plan.decision("team-b"))
    }

    func testObjectBeingDeletedIsWaitedForNotOverwritten() {
        var replica = World.replicaOf(World.secret(annotations: toTeams, data: ["password": "old"]), in: "team-a")
        replica.deletionTimestamp = World.now
        let plan = World.plan(World.secret(annotations: toTeams), namespaces: teams, observed: [replica])
        XCTAssertEqual(plan.decision("team-a")?.action, .skip)
        XCTAssertEqual(plan.decision("team-a")?.cause, .objectTerminating)
    }

    // MARK: malformed input

    func testMalformedAnnotationEmitsAWarningAndDoesNothingElse() {
        let good = World.secret(annotations: [Vocabulary.replicateTo: "team-a,team-b"])
        let observed = [World.replicaOf(good, in: "team-a"), World.replicaOf(good, in: "team-b"),
                        World.replicaOf(good, in: "other")]
        let broken = World.secret(annotations: [Vocabulary.replicateTo: "team-a",
                                                Vocabulary.replicateToMatching: "env in (prod"],
                                  data: ["password": "changed"], finalizer: false)
        let plan = World.plan(broken, namespaces: teams, observed: observed)
        XCTAssertEqual(plan.decisions, [])
        XCTAssertEqual(plan.sourceActions, [])
        XCTAssertEqual(plan.events.count, 1)
        XCTAssertEqual(plan.events[0].type, .warning)
        XCTAssertEqual(plan.events[0].reason, "ReplicationFailed")
        XCTAssertTrue(plan.events[0].message.contains(Vocabulary.replicateToMatching), plan.events[0].message)
        XCTAssertTrue(plan.events[0].message.contains("env in (prod"), plan.events[0].message)
    }

    func testEachMalformedAnnotationGetsItsOwnWarning() {
        let broken = World.secret(annotations: [Vocabulary.replicateTo: "BAD", Vocabulary.replicaTTL: "forever"])
        let plan = World.plan(broken, namespaces: teams)
        XCTAssertEqual(plan.events.count, 2)
        XCTAssertTrue(plan.writes.isEmpty)
    }

    func testMalformedAcceptFromLeavesThatNamespaceUntouchedAndWarns() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "all"], data: ["password": "new"])
        let namespaces = [World.namespace("default"), World.namespace("a", acceptFrom: "Secret/broken"),
                          World.namespace("b")]
        let old = World.replicaOf(World.secret(annotations: [Vocabulary.replicateTo: "all"], data: ["password": "old"]), in: "a")
        let plan = World.plan(source, namespaces: namespaces, observed: [old])
        XCTAssertEqual(plan.decision("a")?.action, .skip)
        XCTAssertEqual(plan.decision("a")?.cause, .consentMalformed)
        XCTAssertEqual(plan.decision("b")?.action.verb, "create")
        XCTAssertEqual(plan.events.count, 1)
        XCTAssertTrue(plan.events[0].message.contains("Secret/broken"))
    }

    // MARK: leaving the target set

    func testRemovingReplicationDeletesReplicasThenReleasesTheFinalizer() {
        let source = World.secret(annotations: toTeams)
        let replicas = [World.replicaOf(source, in: "team-a"), World.replicaOf(source, in: "team-b")]
        let stopped = World.secret(annotations: [:])
        let first = World.plan(stopped, namespaces: teams, observed: replicas)
        XCTAssertEqual(first.deleted, ["team-a", "team-b"])
        XCTAssertEqual(first.decision("team-a")?.cause, .replicationStopped)
        XCTAssertEqual(first.sourceActions, [], "the finalizer stays while replicas remain")
        let second = World.plan(stopped, namespaces: teams, observed: World.apply(first, to: replicas))
        XCTAssertEqual(second.sourceActions, [.removeFinalizer])
        XCTAssertTrue(second.writes.isEmpty)
    }

    func testStoppedSourceWithoutFinalizerNeedsNothing() {
        XCTAssertTrue(World.plan(World.secret(annotations: [:], finalizer: false), namespaces: teams).isSteadyState)
    }

    func testTerminatingSourceDeletesItsReplicasThenReleasesTheFinalizer() {
        let source = World.secret(annotations: toTeams)
        let replicas = [World.replicaOf(source, in: "team-a"), World.unmanaged(in: "team-b")]
        let deleting = World.secret(annotations: toTeams, deleting: true)
        let first = World.plan(deleting, namespaces: teams, observed: replicas)
        XCTAssertEqual(first.deleted, ["team-a"], "only its own replica")
        XCTAssertEqual(first.decision("team-a")?.cause, .sourceDeleted)
        XCTAssertEqual(first.decision("team-a")?.action, .delete(Precondition(uid: "uid-team-a", resourceVersion: "1")))
        XCTAssertEqual(first.sourceActions, [])
        let second = World.plan(deleting, namespaces: teams, observed: World.apply(first, to: replicas))
        XCTAssertEqual(second.sourceActions, [.removeFinalizer])
    }

    func testTerminatingSourceWithMalformedAnnotationsStillCleansUp() {
        let replica = World.replicaOf(World.secret(annotations: toTeams), in: "team-a")
        let deleting = World.secret(annotations: [Vocabulary.replicateTo: "BROKEN"], deleting: true)
        let plan = World.plan(deleting, namespaces: teams, observed: [replica])
        XCTAssertEqual(plan.deleted, ["team-a"], "a deletion is never held up by a typo")
        XCTAssertTrue(plan.events.isEmpty)
    }

    func testTerminatingSourceDeletesReplicasInTerminatingNamespacesToo() {
        let source = World.secret(annotations: toTeams)
        let namespaces = [World.namespace("default"), World.namespace("team-a", terminating: true)]
        let plan = World.plan(World.secret(annotations: toTeams, deleting: true), namespaces: namespaces,
                              observed: [World.replicaOf(source, in: "team-a")])
        XCTAssertEqual(plan.deleted, ["team-a"])
    }

    func testReplicaAlreadyBeingDeletedDoesNotHoldTheFinalizer() {
        var replica = World.replicaOf(World.secret(annotations: toTeams), in: "team-a")
        replica.deletionTimestamp = World.now
        let plan = World.plan(World.secret(annotations: toTeams, deleting: true), namespaces: teams, observed: [replica])
        XCTAssertTrue(plan.writes.isEmpty)
        XCTAssertEqual(plan.sourceActions, [.removeFinalizer])
    }

    func testGoneSourceHasItsReplicasDeleted() {
        let source = World.secret(annotations: toTeams)
        let plan = World.plan(nil, key: source.key, namespaces: teams,
                              observed: [World.replicaOf(source, in: "team-a"), World.unmanaged(in: "team-b")])
        XCTAssertEqual(plan.deleted, ["team-a"])
        XCTAssertEqual(plan.sourceActions, [])
        XCTAssertTrue(plan.decision("team-a")?.reason.contains("gone") ?? false)
    }

    func testManagedReplicaIsNeverTreatedAsASource() {
        let looping = World.secret(annotations: [Vocabulary.replicateTo: "all"],
                                   labels: [Vocabulary.managedByLabel: "spillway"], finalizer: false)
        let plan = World.plan(looping, namespaces: teams)
        XCTAssertTrue(plan.isSteadyState, "\(plan)")
    }

    func testExcludedNamespaceLosesOnlyThisSourcesReplica() {
        let source = World.secret(annotations: toTeams)
        let observed = [World.replicaOf(source, in: "team-a"), World.replicaOf(source, in: "team-b")]
        let excluded = World.secret(annotations: toTeams.merging([Vocabulary.excludeNamespaces: "team-b"]) { a, _ in a })
        let plan = World.plan(excluded, namespaces: teams, observed: observed)
        XCTAssertEqual(plan.deleted, ["team-b"])
        XCTAssertEqual(plan.decision("team-b")?.cause, .excluded)
        XCTAssertEqual(plan.decision("team-b")?.reason, "no longer a target: excluded by exclude-namespaces team-b")
        XCTAssertEqual(plan.decision("team-a")?.action, .unchanged)
    }

    func testRelabelledNamespaceLosesTheReplica() {
        let source = World.secret(annotations: [Vocabulary.replicateToMatching: "env=prod"])
        let replica = World.replicaOf(source, in: "a")
        let prod = [World.namespace("default"), World.namespace("a", labels: ["env": "prod"])]
        let dev = [World.namespace("default"), World.namespace("a", labels: ["env": "dev"])]
        XCTAssertEqual(World.plan(source, namespaces: prod, observed: [replica]).decision("a")?.action, .unchanged)
        let plan = World.plan(source, namespaces: dev, observed: [replica])
        XCTAssertEqual(plan.deleted, ["a"])
        XCTAssertEqual(plan.decision("a")?.cause, .notSelected)
    }

    func testRelabelledNamespaceGainsTheReplica() {
        let source = World.secret(annotations: [Vocabulary.replicateToMatching: "env=prod"])
        let plan = World.plan(source, namespaces: [World.namespace("a", labels: ["env": "prod"])])
        XCTAssertEqual(plan.created, ["a"])
        XCTAssertEqual(plan.decision("a")?.reason, "matched replicate-to-matching env=prod")
    }

    func testWithdrawnConsentDeletesTheReplica() {
        let source = World.secret(annotations: toTeams)
        let namespaces = [World.namespace("default"), World.namespace("team-a", acceptFrom: "ConfigMap/*/*")]
        let plan = World.plan(source, namespaces: namespaces, observed: [World.replicaOf(source, in: "team-a")])
        XCTAssertEqual(plan.deleted, ["team-a"])
        XCTAssertEqual(plan.decision("team-a")?.cause, .consentDenied)
    }

    func testRequiredConsentDeniesNamespacesWithoutAcceptFrom() {
        let source = World.secret(annotations: toTeams)
        let namespaces = [World.namespace("team-a", acceptFrom: "Secret/default/db-pass"), World.namespace("team-b")]
        let plan = World.plan(source, namespaces: namespaces, options: Options(requireNamespaceConsent: true))
        XCTAssertEqual(plan.created, ["team-a"])
        XCTAssertEqual(plan.decision("team-b")?.action, .skip)
        XCTAssertEqual(plan.decision("team-b")?.cause, .consentDenied)
    }

    func testNewlyProtectedNamespaceLosesAWildcardReplica() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "all"])
        let plan = World.plan(source, namespaces: teams, observed: [World.replicaOf(source, in: "team-a")],
                              options: Options(protectedNamespaces: ["team-a"]))
        XCTAssertEqual(plan.deleted, ["team-a"])
        XCTAssertEqual(plan.decision("team-a")?.cause, .protectedNamespace)
    }

    func testExplicitlyNamedProtectedNamespaceGetsAReplica() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "all,kube-system"])
        let plan = World.plan(source, namespaces: World.namespaces("default", "kube-system", "a"))
        XCTAssertEqual(plan.created, ["kube-system", "a"])
    }

    func testProtectedNamespaceMatchedByWildcardIsListedAsSkipped() {
        let plan = World.plan(World.secret(annotations: [Vocabulary.replicateTo: "all"]),
                              namespaces: World.namespaces("default", "kube-system"))
        XCTAssertEqual(plan.decision("kube-system")?.action, .skip)
        XCTAssertEqual(plan.decision("kube-system")?.cause, .protectedNamespace)
        XCTAssertTrue(plan.events.isEmpty)
    }

    func testEmptyReplicateToTargetsNothingAndDeletesReplicas() {
        let source = World.secret(annotations: toTeams)
        let plan = World.plan(World.secret(annotations: [Vocabulary.replicateTo: " "]), namespaces: teams,
                              observed: [World.replicaOf(source, in: "team-a")])
        XCTAssertEqual(plan.deleted, ["team-a"])
        XCTAssertTrue(plan.created.isEmpty)
    }

    // MARK: namespaces in flux

    func testTerminatingNamespaceGetsNoReplicaAndKeepsItsOwn() {
        let source = World.secret(annotations: toTeams, data: ["password": "new"])
        let old = World.replicaOf(World.secret(annotations: toTeams, data: ["password": "old"]), in: "team-b")
        let namespaces = [World.namespace("default"), World.namespace("team-a", terminating: true),
                          World.namespace("team-b", terminating: true)]
        let plan = World.plan(source, namespaces: namespaces, observed: [old])
        XCTAssertEqual(plan.decision("team-a")?.action, .skip)
        XCTAssertEqual(plan.decision("team-a")?.cause, .namespaceTerminating)
        XCTAssertEqual(plan.decision("team-b")?.action, .skip, "neither updated nor deleted")
        XCTAssertTrue(plan.events.isEmpty)
    }

    func testReplicaInAnUnknownNamespaceIsLeftAlone() {
        let source = World.secret(annotations: toTeams)
        let plan = World.plan(source, namespaces: World.namespaces("default"),
                              observed: [World.replicaOf(source, in: "team-new")])
        XCTAssertEqual(plan.decision("team-new")?.action, .skip)
        XCTAssertEqual(plan.decision("team-new")?.cause, .namespaceUnknown)
    }

    // MARK: TTL

    private func ttlSource(_ ttl: String = "24h", expired: String? = nil, data: String = "p") -> SourceObject {
        var annotations = [Vocabulary.replicateTo: "team-a,team-b", Vocabulary.replicaTTL: ttl]
        annotations[Vocabulary.expiredNamespaces] = expired
        return World.secret(annotations: annotations, data: ["password": data])
    }

    func testTTLStampsExpiresAtAtCreation() {
        let plan = World.plan(ttlSource(), namespaces: teams)
        XCTAssertEqual(plan.decision("team-a")?.action.replica?.annotations[Vocabulary.expiresAt], "2027-01-16T08:00:00Z")
        XCTAssertEqual(plan.requeueAt, World.now.addingTimeInterval(86_400))
    }

    func testExpiresAtIsPreservedOnLaterUpdates() {
        let replica = World.replicaOf(ttlSource(data: "old"), in: "team-a", expiresAt: "2027-01-15T12:00:00Z")
        let plan = World.plan(ttlSource(data: "new"), namespaces: teams, observed: [replica],
                              now: World.now.addingTimeInterval(60))
        XCTAssertEqual(plan.decision("team-a")?.action.verb, "update")
        XCTAssertEqual(plan.decision("team-a")?.action.replica?.annotations[Vocabulary.expiresAt], "2027-01-15T12:00:00Z")
    }

    func testRequeueIsTheEarliestExpiry() {
        let a = World.replicaOf(ttlSource(), in: "team-a", expiresAt: "2027-01-15T12:00:00Z")
        let b = World.replicaOf(ttlSource(), in: "team-b", expiresAt: "2027-01-15T10:00:00Z")
        let plan = World.plan(ttlSource(), namespaces: teams, observed: [a, b])
        XCTAssertTrue(plan.isSteadyState, "\(plan)")
        XCTAssertEqual(plan.requeueAt, Timestamp.parse("2027-01-15T10:00:00Z"))
    }

    func testExpiredReplicaIsDeletedAndRecordedOnTheSource() {
        let a = World.replicaOf(ttlSource(), in: "team-a", expiresAt: "2027-01-15T07:59:59Z")
        let b = World.replicaOf(ttlSource(), in: "team-b", expiresAt: "2027-01-16T00:00:00Z")
        let plan = World.plan(ttlSource(), namespaces: teams, observed: [a, b])
        XCTAssertEqual(plan.deleted, ["team-a"])
        XCTAssertEqual(plan.decision("team-a")?.cause, .expired)
        XCTAssertEqual(plan.sourceActions, [.setExpiredNamespaces(["team-a"])])
        XCTAssertEqual(plan.decision("team-b")?.action, .unchanged)
    }

    func testExpiryAtExactlyNowCounts() {
        let a = World.replicaOf(ttlSource(), in: "team-a", expiresAt: Timestamp.format(World.now))
        XCTAssertEqual(World.plan(ttlSource(), namespaces: teams, observed: [a]).deleted, ["team-a"])
    }

    func testExpiredNamespaceIsNotRecreatedWhileListed() {
        let source = ttlSource(expired: "team-a")
        let b = World.replicaOf(source, in: "team-b", expiresAt: "2027-01-16T00:00:00Z")
        let plan = World.plan(source, namespaces: teams, observed: [b])
        XCTAssertEqual(plan.decision("team-a")?.action, .skip)
        XCTAssertEqual(plan.decision("team-a")?.cause, .expired)
        XCTAssertTrue(plan.isSteadyState, "\(plan)")
    }

    func testNewExpiriesAreAddedToTheExistingList() {
        let source = ttlSource(expired: "team-a")
        let b = World.replicaOf(source, in: "team-b", expiresAt: "2027-01-01T00:00:00Z")
        XCTAssertEqual(World.plan(source, namespaces: teams, observed: [b]).sourceActions,
                       [.setExpiredNamespaces(["team-a", "team-b"])])
    }

    func testReplicaInAListedNamespaceIsDeleted() {
        let source = ttlSource(expired: "team-a")
        let a = World.replicaOf(source, in: "team-a", expiresAt: "2027-01-16T00:00:00Z")
        let plan = World.plan(source, namespaces: teams, observed: [a])
        XCTAssertEqual(plan.deleted, ["team-a"])
        XCTAssertEqual(plan.sourceActions, [], "already listed")
    }

    func testRemovingANamespaceFromTheListRecreatesItWithAFreshExpiry() {
        let plan = World.plan(ttlSource(expired: "team-b"), namespaces: teams)
        XCTAssertEqual(plan.created, ["team-a"])
        XCTAssertEqual(plan.decision("team-a")?.action.replica?.annotations[Vocabulary.expiresAt], "2027-01-16T08:00:00Z")
    }

    func testRemovingTheTTLClearsTheListAndRecreates() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a,team-b",
                                                Vocabulary.expiredNamespaces: "team-a"])
        let kept = World.replicaOf(ttlSource(), in: "team-b", expiresAt: "2027-01-16T00:00:00Z")
        let plan = World.plan(source, namespaces: teams, observed: [kept])
        XCTAssertEqual(plan.sourceActions, [.setExpiredNamespaces([])])
        XCTAssertEqual(plan.created, ["team-a"])
        XCTAssertNil(plan.decision("team-a")?.action.replica?.annotations[Vocabulary.expiresAt])
        XCTAssertEqual(plan.decision("team-b")?.action.verb, "update", "expires-at is removed")
        XCTAssertNil(plan.decision("team-b")?.action.replica?.annotations[Vocabulary.expiresAt])
        XCTAssertNil(plan.requeueAt)
    }

    func testAddingATTLStampsExistingReplicas() {
        let replica = World.replicaOf(World.secret(annotations: [Vocabulary.replicateTo: "team-a,team-b"]), in: "team-a")
        let plan = World.plan(ttlSource(), namespaces: teams, observed: [replica])
        XCTAssertEqual(plan.decision("team-a")?.action.verb, "update")
        XCTAssertEqual(plan.decision("team-a")?.action.replica?.annotations[Vocabulary.expiresAt], "2027-01-16T08:00:00Z")
    }

    func testMangledExpiresAtIsStampedAgain() {
        let replica = World.replicaOf(ttlSource(), in: "team-a", expiresAt: "soon")
        let plan = World.plan(ttlSource(), namespaces: teams, observed: [replica])
        XCTAssertEqual(plan.decision("team-a")?.action.replica?.annotations[Vocabulary.expiresAt], "2027-01-16T08:00:00Z")
        XCTAssertTrue(plan.deleted.isEmpty)
    }

    func testExpiresAtIgnoredWithoutTTL() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "team-a"])
        let replica = World.replicaOf(source, in: "team-a", expiresAt: "2000-01-01T00:00:00Z")
        let plan = World.plan(source, namespaces: teams, observed: [replica])
        XCTAssertTrue(plan.deleted.isEmpty)
        XCTAssertEqual(plan.decision("team-a")?.action.verb, "update")
    }

    // MARK: plan invariants

    func testRemoveFinalizerNeverComesWithReplicaWrites() {
        let source = World.secret(annotations: toTeams)
        let worlds: [[ObservedObject]] = [[], [World.replicaOf(source, in: "team-a")], [World.unmanaged(in: "team-a")]]
        for observed in worlds {
            for candidate in [World.secret(annotations: [:]), World.secret(annotations: toTeams, deleting: true)] {
                let plan = World.plan(candidate, namespaces: teams, observed: observed)
                if plan.sourceActions.contains(.removeFinalizer) {
                    XCTAssertTrue(plan.writes.isEmpty, "\(plan)")
                }
            }
        }
    }

    func testDecisionsAreSortedByNamespace() {
        let plan = World.plan(World.secret(annotations: [Vocabulary.replicateTo: "all"]),
                              namespaces: World.namespaces("zeta", "alpha", "default", "mid"))
        XCTAssertEqual(plan.decisions.map(\.namespace), ["alpha", "mid", "zeta"])
    }

    func testEventsNeverCarrySecretData() {
        let source = World.secret(annotations: [Vocabulary.replicateTo: "all", Vocabulary.replicaTTL: "bad"],
                                  data: ["password": "hunter2"])
        let plans = [World.plan(source, namespaces: teams),
                     World.plan(World.secret(annotations: toTeams, data: ["password": "hunter2"]), namespaces: teams,
                                observed: [World.unmanaged(in: "team-a")])]
        for plan in plans {
            XCTAssertFalse(plan.events.isEmpty)
            for event in plan.events {
                XCTAssertFalse(event.message.contains("hunter2"), event.message)
            }
        }
    }
}
