import Foundation
import SpillwayContract
import XCTest

/// Pull replication as the pure planner decides it: the source consents, the object that asks
/// keeps what is its own, and nothing is ever read or written for a pull the source refuses.
final class PullPlannerTests: XCTestCase {
    private let namespaces = World.namespaces("platform", "team-a", "team-b", "kube-system")
    private let planner = Planner()

    /// A source in `platform` that allows pulls as `allow` says.
    private func source(allow: String? = "team-*", annotations: [String: String] = [:], type: String = SecretType.opaque,
                        data: [String: String] = ["password": "s3cr3t"], finalizer: Bool = true,
                        deleting: Bool = false) -> SourceObject {
        var all = annotations
        if let allow { all[Vocabulary.allowPullFrom] = allow }
        return World.secret("platform", "db", annotations: all, type: type, data: data, finalizer: finalizer, deleting: deleting)
    }

    /// An object `name` in `namespace` that asks for `platform/db`, holding `data`.
    private func asking(_ namespace: String = "team-a", _ name: String = "db-copy", request: String? = "platform/db",
                        data: [String: String] = [:], type: String = SecretType.opaque, annotations: [String: String] = [:],
                        labels: [String: String] = ["team": "a"]) -> PullTarget {
        var all = annotations
        if let request { all[Vocabulary.replicateFrom] = request }
        let payload = Payload(kind: .secret, secretType: type, data: data.mapValues(World.bytes))
        return PullTarget(key: ObjectKey(kind: .secret, namespace: namespace, name: name),
                          object: ObservedObject(namespace: namespace, uid: "uid-\(name)", resourceVersion: "5", labels: labels,
                                                 annotations: all, content: payload.digest),
                          held: PullTarget.HeldData(payload))
    }

    private func plan(_ target: PullTarget, _ source: SourceObject?, options: Options = Options(),
                      otherKind: SourceObject? = nil) -> PullPlan {
        Planner(options: options).planPull(target, source: source, otherKind: otherKind,
                                           namespace: World.namespace(target.key.namespace))
    }

    /// The object after the plan's write, as the API would hold it.
    private func written(_ plan: PullPlan) -> PullTarget? {
        guard let decision = plan.plan.decisions.first else { return nil }
        switch decision.action {
        case .update(let copy, _), .recreate(let copy, _):
            let object = World.observed(copy, uid: "uid-\(copy.key.name)", resourceVersion: "6")
            return Vocabulary.isManaged(labels: copy.labels) ? PullTarget(key: copy.key, object: object)
                : PullTarget(key: copy.key, object: object, held: PullTarget.HeldData(copy.payload))
        default:
            return nil
        }
    }

    // MARK: - The source consents

    func testAnAdmittedEmptyObjectIsFilledKeepingItsOwnNameLabelsAndAnnotations() throws {
        let target = asking(annotations: ["kubectl.kubernetes.io/last-applied-configuration": "{}"])
        let result = plan(target, source())
        let decision = try XCTUnwrap(result.plan.decisions.first)
        XCTAssertEqual(decision.cause, .missing)
        XCTAssertEqual(decision.reason, "filled from Secret/platform/db (matched spillway.kroy.io/allow-pull-from pattern team-*)")
        guard case .update(let copy, let precondition) = decision.action else { return XCTFail("\(decision.action)") }
        XCTAssertEqual(precondition, Precondition(uid: "uid-db-copy", resourceVersion: "5"))
        XCTAssertEqual(copy.key, target.key, "the copy keeps its own name")
        XCTAssertEqual(copy.labels, ["team": "a", Vocabulary.managedByLabel: "spillway", Vocabulary.pulledLabel: "true"])
        XCTAssertEqual(copy.annotations, [Vocabulary.replicateFrom: "platform/db", Vocabulary.sourceFrom: "Secret/platform/db",
                                          "kubectl.kubernetes.io/last-applied-configuration": "{}"])
        XCTAssertEqual(copy.payload.data, ["password": World.bytes("s3cr3t")])
        XCTAssertEqual(result.source, ObjectKey(kind: .secret, namespace: "platform", name: "db"))
        XCTAssertNil(result.refusal)
        // Filled, it is in place: nothing more to do.
        let again = plan(try XCTUnwrap(written(result)), source())
        XCTAssertTrue(again.plan.isSteadyState, "\(again)")
        XCTAssertEqual(again.plan.decisions.first?.action, .unchanged)
    }

    func testARefusalNeverSaysWhetherTheSourceExists() {
        let target = asking()
        let absent = plan(target, nil)
        let withoutConsent = plan(target, source(allow: nil))
        let otherNamespaces = plan(target, source(allow: "team-b"))
        for result in [absent, withoutConsent, otherNamespaces] {
            XCTAssertEqual(result.plan.writes, [], "the target's data is never touched")
            XCTAssertEqual(result.refusal, .notAllowed)
            XCTAssertEqual(result.plan.decisions.first?.cause, .pullNotAllowed)
            XCTAssertEqual(result.plan.events, [EventIntent(
                type: .warning, reason: Vocabulary.reasonSkipped,
                message: "pull refused: Secret/platform/db does not exist or does not allow pulls into team-a (spillway.kroy.io/allow-pull-from); nothing was written")])
        }
    }

    func testConsentUsesTheTargetsGrammarExcludesWinAndProtectedNamespacesOnlyByName() {
        func admitted(_ allow: String, into namespace: String, exclude: String? = nil) -> Bool {
            let annotations = exclude.map { [Vocabulary.excludeNamespaces: $0] } ?? [:]
            return plan(asking(namespace), source(allow: allow, annotations: annotations)).plan.writes.count == 1
        }
        XCTAssertTrue(admitted("team-a", into: "team-a"))
        XCTAssertTrue(admitted("team-?, sandbox", into: "team-a"))
        XCTAssertTrue(admitted("all", into: "team-b"))
        XCTAssertTrue(admitted("*", into: "team-b"))
        XCTAssertFalse(admitted("team-b", into: "team-a"))
        XCTAssertFalse(admitted("team-*", into: "team-a", exclude: "team-a"), "exclude-namespaces always wins")
        XCTAssertFalse(admitted("all", into: "kube-system"), "a protected namespace is reached only by its name")
        XCTAssertFalse(admitted("kube-*", into: "kube-system"))
        XCTAssertTrue(admitted("kube-system", into: "kube-system"))
        XCTAssertFalse(admitted("all", into: "platform"), "a pull never copies within the source's own namespace")
    }

    func testTheNamespacesOwnConsentRulesConcernPushesOnly() {
        // The namespace asked itself: accept-from and --require-namespace-consent are not consulted.
        let target = asking()
        let result = Planner(options: Options(requireNamespaceConsent: true)).planPull(
            target, source: source(), namespace: World.namespace("team-a", acceptFrom: "ConfigMap/nowhere/*"))
        XCTAssertEqual(result.plan.writes.count, 1)
    }

    // MARK: - What is the target's own

    func testAnObjectWithDataOfItsOwnIsNotOverwrittenUnlessForceAdoptIsAllowed() throws {
        let own = asking(data: ["password": "mine"])
        let refused = plan(own, source())
        XCTAssertEqual(refused.plan.writes, [])
        XCTAssertEqual(refused.refusal, .targetHasData)
        XCTAssertEqual(refused.plan.decisions.first?.cause, .targetHasData)
        XCTAssertTrue(refused.plan.events.first?.message.contains("holds data of its own") ?? false)

        let forcing = asking(data: ["password": "mine"], annotations: [Vocabulary.forceAdopt: "true"])
        XCTAssertEqual(plan(forcing, source()).plan.writes, [], "force-adopt needs --allow-force-adopt too")
        XCTAssertTrue(plan(forcing, source()).plan.events.first?.message.contains("--allow-force-adopt") ?? false)
        let adopted = plan(forcing, source(), options: Options(allowForceAdopt: true))
        XCTAssertEqual(adopted.plan.decisions.first?.cause, .adopted)
        XCTAssertEqual(adopted.plan.writes.count, 1)
    }

    func testEmptyValuesAndTheSourcesOwnDataAreNothingOfItsOwn() throws {
        // A typed placeholder with empty values, and a copy another tool made: nothing to lose.
        let placeholder = asking(data: ["tls.crt": "", "tls.key": ""], type: SecretType.tls)
        let tlsSource = source(type: SecretType.tls, data: ["tls.crt": "c", "tls.key": "k"])
        let filled = plan(placeholder, tlsSource)
        XCTAssertEqual(filled.plan.decisions.first?.cause, .missing)
        guard case .update = filled.plan.decisions.first?.action else { return XCTFail("same type: updated in place") }
        let alreadyACopy = asking(data: ["password": "s3cr3t"])
        XCTAssertEqual(plan(alreadyACopy, source()).plan.decisions.first?.cause, .missing)
    }

    func testAnObjectOfAnotherTypeIsRecreatedWithTheSourcesType() throws {
        let result = plan(asking(), source(type: SecretType.tls, data: ["tls.crt": "c", "tls.key": "k"]))
        guard case .recreate(let copy, _) = result.plan.decisions.first?.action else { return XCTFail("\(result.plan)") }
        XCTAssertEqual(copy.payload.secretType, SecretType.tls)
        XCTAssertEqual(copy.labels["team"], "a", "recreated with its own labels")
    }

    func testAnObjectNotReadYetIsNotTouched() {
        var target = asking()
        target.held = nil
        let result = plan(target, source())
        XCTAssertEqual(result.plan.writes, [])
        XCTAssertEqual(result.plan.events, [])
    }

    // MARK: - A filled copy

    func testAFilledCopyFollowsTheSourceKeepsHandMadeMetadataAndRevertsHandEditedData() throws {
        var copy = try XCTUnwrap(written(plan(asking(), source())))
        let changed = source(data: ["password": "rotated"])
        let update = plan(copy, changed)
        XCTAssertEqual(update.plan.decisions.first?.cause, .drifted)
        XCTAssertEqual(update.plan.decisions.first?.action.replica?.payload.data, ["password": World.bytes("rotated")])
        // Labels and annotations someone adds are the object's own: kept, never "drift".
        copy.object.labels["added"] = "by-hand"
        copy.object.annotations["note"] = "mine"
        XCTAssertTrue(plan(copy, source()).plan.isSteadyState)
        copy.object.content = Payload(kind: .secret, data: ["password": World.bytes("edited")]).digest
        XCTAssertEqual(plan(copy, source()).plan.decisions.first?.reason, "content differs from Secret/platform/db")
        let retyped = plan(copy, source(type: SecretType.basicAuth, data: ["password": "p"]))
        XCTAssertEqual(retyped.plan.decisions.first?.cause, .typeChanged)
        guard case .recreate = retyped.plan.decisions.first?.action else { return XCTFail("a type change recreates") }
    }

    func testWithdrawnConsentOrADeletedSourceEmptiesTheCopyAndLetsItGo() throws {
        let copy = try XCTUnwrap(written(plan(asking(), source())))
        for (source, cause, why) in [
            (self.source(allow: "team-b"), Cause.pullNotAllowed, "Secret/platform/db no longer allows pulls into team-a: not matched by"),
            (self.source(deleting: true), .sourceDeleted, "Secret/platform/db is no longer available to pulls: it is being deleted"),
            (nil, .sourceDeleted, "Secret/platform/db is no longer available to pulls: it is gone (if it was renamed, point"),
        ] {
            let result = plan(copy, source)
            let decision = try XCTUnwrap(result.plan.decisions.first)
            XCTAssertEqual(decision.cause, cause)
            XCTAssertTrue(decision.reason.hasPrefix(why), decision.reason)
            guard case .update(let emptied, let precondition) = decision.action else { return XCTFail("\(decision.action)") }
            XCTAssertEqual(precondition.resourceVersion, "6")
            XCTAssertEqual(emptied.payload, Payload(kind: .secret))
            XCTAssertEqual(emptied.labels, ["team": "a"], "spillway's labels go, the object's stay")
            XCTAssertEqual(emptied.annotations, [Vocabulary.replicateFrom: "platform/db"], "it still asks")
            XCTAssertEqual(result.plan.events.first?.type, .warning)
            XCTAssertTrue(result.plan.events.first?.message.contains("emptied and let go") ?? false)
        }
        // A typed copy cannot be emptied in place: it is recreated, Opaque.
        let tls = try XCTUnwrap(written(plan(asking(), source(type: SecretType.tls, data: ["tls.crt": "c", "tls.key": "k"]))))
        guard case .recreate(let emptied, _) = plan(tls, nil).plan.decisions.first?.action else { return XCTFail() }
        XCTAssertEqual(emptied.payload.secretType, SecretType.opaque)
        // Emptied, it asks again like any empty object: refused quietly, filled once allowed.
        let emptiedObject = try XCTUnwrap(written(plan(copy, nil)))
        XCTAssertFalse(emptiedObject.isPulledCopy)
        XCTAssertEqual(plan(emptiedObject, nil).plan.writes, [])
        XCTAssertEqual(plan(emptiedObject, source()).plan.decisions.first?.cause, .missing)
    }

    func testRemovingReplicateFromLetsTheCopyGoWithItsData() throws {
        var copy = try XCTUnwrap(written(plan(asking(), source())))
        copy.object.annotations[Vocabulary.replicateFrom] = nil
        let result = plan(copy, source())
        guard case .release(let labels, let annotations, let precondition) = result.plan.decisions.first?.action else {
            return XCTFail("\(result.plan)")
        }
        XCTAssertEqual(labels, ["team": "a"])
        XCTAssertEqual(annotations, [:])
        XCTAssertEqual(precondition.resourceVersion, "6")
        XCTAssertEqual(result.plan.decisions.first?.cause, .replicationStopped)
    }

    func testASourceWithMalformedConsentLeavesAFilledCopyAsItIs() throws {
        let copy = try XCTUnwrap(written(plan(asking(), source())))
        let result = plan(copy, source(allow: "team-[a"))
        XCTAssertEqual(result.plan.writes, [], "a mistake never empties anything")
        XCTAssertEqual(result.refusal, .malformed)
        // The source's owner is told by the source's own plan.
        let sourcePlan = World.plan(source(allow: "team-[a"), namespaces: namespaces)
        XCTAssertTrue(sourcePlan.events.contains { $0.type == .warning && $0.message.contains(Vocabulary.allowPullFrom) }, "\(sourcePlan)")
    }

    // MARK: - Ownership

    func testPushAndPullNeverTakeEachOthersObjects() throws {
        // A source pushing db-copy into team-a meets the object that asks there, and its copy.
        let pusher = World.secret("other", "db-copy", annotations: [Vocabulary.replicateTo: "team-a", Vocabulary.forceAdopt: "true"])
        let target = asking()
        let copy = try XCTUnwrap(written(plan(target, source())))
        for object in [target.object, copy.object] {
            let push = World.plan(pusher, namespaces: namespaces, observed: [object], options: Options(allowForceAdopt: true))
            XCTAssertEqual(push.decision("team-a")?.action, .skip, "not even force-adopt takes it")
            XCTAssertEqual(push.decision("team-a")?.cause, .ownedByAnotherSource)
            XCTAssertTrue(push.events.contains { $0.message.contains("held by a pull (spillway.kroy.io/replicate-from platform/db)") })
            // The source it names never deletes it either, even gone.
            let named = ObjectKey(kind: .secret, namespace: "platform", name: "db-copy")
            XCTAssertEqual(World.plan(nil, key: named, namespaces: namespaces, observed: [object]).writes, [])
        }
        // A replica of a push that someone annotates with replicate-from stays the push's.
        let replica = World.replicaOf(World.secret("other", "db-copy", annotations: [Vocabulary.replicateTo: "team-a"]), in: "team-a")
        var annotated = PullTarget(key: target.key, object: replica)
        annotated.object.annotations[Vocabulary.replicateFrom] = "platform/db"
        let ignored = plan(annotated, source())
        XCTAssertEqual(ignored.plan.writes, [])
        XCTAssertEqual(ignored.refusal, .owned)
        XCTAssertTrue(ignored.plan.events.first?.message.contains("is a replica of Secret/other/db-copy") ?? false)
    }

    func testAPulledCopyOrAnObjectThatPullsIsNeverASource() {
        let pulls = [Vocabulary.replicateFrom: "platform/db", Vocabulary.replicateTo: "all", Vocabulary.allowPullFrom: "all"]
        XCTAssertFalse(Vocabulary.isSource(labels: [:], annotations: pulls))
        XCTAssertFalse(Vocabulary.allowsPulls(labels: [:], annotations: pulls))
        let copyLabels = [Vocabulary.managedByLabel: "spillway", Vocabulary.pulledLabel: "true"]
        let copyAnnotations = [Vocabulary.replicateTo: "all", Vocabulary.allowPullFrom: "all"]
        XCTAssertFalse(Vocabulary.isSource(labels: copyLabels, annotations: copyAnnotations))
        XCTAssertFalse(Vocabulary.allowsPulls(labels: copyLabels, annotations: copyAnnotations))
        // So a copy that offers itself is unavailable to any pull.
        var chained = World.secret("team-a", "db-copy", annotations: [Vocabulary.allowPullFrom: "all"])
        chained.labels = copyLabels
        XCTAssertEqual(plan(asking("team-b", request: "team-a/db-copy"), chained).refusal, .notAllowed)
    }

    // MARK: - What the source decides

    func testTheSourcesKeyProjectionAndTypeRuleApply() throws {
        let tls = source(annotations: [Vocabulary.includeKeys: "tls.crt,tls.key"], type: SecretType.tls,
                         data: ["tls.crt": "c", "tls.key": "k", "ca.key": "secret"])
        let copy = try XCTUnwrap(plan(asking(type: SecretType.tls), tls).plan.decisions.first?.action.replica)
        XCTAssertEqual(Set(copy.payload.data.keys), ["tls.crt", "tls.key"], "ca.key stays home")
        XCTAssertEqual(copy.payload.secretType, SecretType.tls)
        let certOnly = source(annotations: [Vocabulary.includeKeys: "tls.crt"], type: SecretType.tls, data: ["tls.crt": "c", "tls.key": "k"])
        XCTAssertEqual(plan(asking(), certOnly).plan.decisions.first?.action.replica?.payload.secretType, SecretType.opaque)
    }

    func testADeniedSecretTypeIsNeverPulled() {
        let token = source(type: SecretType.serviceAccountToken, data: ["token": "t"])
        let result = plan(asking(), token)
        XCTAssertEqual(result.plan.writes, [])
        XCTAssertEqual(result.refusal, .typeDenied)
        XCTAssertTrue(result.plan.events.first?.message.contains("--deny-secret-types") ?? false)
    }

    func testACopyIsFilledOnlyOnceTheSourceHoldsTheFinalizer() {
        let result = plan(asking(), source(finalizer: false))
        XCTAssertTrue(result.awaitsSourceFinalizer)
        XCTAssertEqual(result.plan.writes, [])
        XCTAssertEqual(result.plan.decisions.first?.cause, .awaitingSourceFinalizer)
    }

    func testAMalformedRequestChangesNothingAndSaysWhy() {
        for request in ["db", "platform/", "Platform/db", "a/b/c"] {
            let result = plan(asking(request: request), source())
            XCTAssertEqual(result.plan.writes, [], request)
            XCTAssertEqual(result.refusal, .malformed, request)
            XCTAssertEqual(result.plan.events.first?.reason, Vocabulary.reasonFailed, request)
            XCTAssertTrue(result.plan.events.first?.message.contains("invalid annotation spillway.kroy.io/replicate-from=\"\(request)\"") ?? false,
                          "\(result.plan.events)")
        }
    }

    func testARetypedSourceIsNamedWhenItWouldAllowThePull() {
        let configMap = World.configMap("platform", "db", annotations: [Vocabulary.allowPullFrom: "team-*"])
        let result = plan(asking(), nil, otherKind: configMap)
        XCTAssertTrue(result.plan.events.first?.message.contains("ConfigMap/platform/db does, but a Secret pulls only a Secret") ?? false,
                      "\(result.plan.events)")
        let refusing = World.configMap("platform", "db", annotations: [Vocabulary.allowPullFrom: "team-b"])
        XCTAssertFalse(plan(asking(), nil, otherKind: refusing).plan.events.first?.message.contains("ConfigMap") ?? true)
    }

    // MARK: - The source's finalizer

    func testPullsHoldTheSourcesFinalizer() {
        let key = ObjectKey(kind: .secret, namespace: "platform", name: "db")
        func sourceActions(_ source: SourceObject, _ pulls: PullDemand) -> [SourceAction] {
            planner.plan(key: key, source: source, namespaces: namespaces, observed: [], now: World.now, pulls: pulls).sourceActions
        }
        // A source that only allows pulls gets the finalizer once a namespace it admits asks.
        XCTAssertEqual(sourceActions(source(finalizer: false), PullDemand()), [])
        XCTAssertEqual(sourceActions(source(finalizer: false), PullDemand(askingNamespaces: ["team-b"])), [.addFinalizer])
        XCTAssertEqual(sourceActions(source(allow: "team-b", finalizer: false), PullDemand(askingNamespaces: ["team-a"])), [])
        XCTAssertEqual(sourceActions(source(), PullDemand(askingNamespaces: ["team-b"])), [])
        // Being deleted, it is held while a copy remains, then released.
        XCTAssertEqual(sourceActions(source(deleting: true), PullDemand(copies: 1)), [])
        XCTAssertEqual(sourceActions(source(deleting: true), PullDemand(askingNamespaces: ["team-a"])), [.removeFinalizer])
        // Consent withdrawn: released once its copies are emptied.
        XCTAssertEqual(sourceActions(source(allow: "team-b"), PullDemand(copies: 1, askingNamespaces: ["team-a"])), [])
        XCTAssertEqual(sourceActions(source(allow: "team-b"), PullDemand(askingNamespaces: ["team-a"])), [.removeFinalizer])
    }
}
