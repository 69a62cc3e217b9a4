import Foundation
import KubeClient
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// docs/contract.md, "Which namespaces get a replica": which namespaces receive replicas.
final class TargetingTests: EngineTestCase {
    func testReplicateToNamesGlobsAndMixedEntriesWithWhitespaceAndEmptyEntries() async throws {
        try await namespaces("apps", "team-a", "team-b", "sandbox", "prod", "other")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: " team-* , sandbox,, prod "], data: ["password": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a", "team-b", "sandbox", "prod"])
        let replica = try await world.get(.secrets, "team-a", "db")
        XCTAssertEqual(EngineWorld.secretData(replica), ["password": "s3cr3t-alpha"])
        XCTAssertEqual(replica?["metadata"]?["labels"]?[Vocabulary.managedByLabel], "spillway")
        XCTAssertEqual(replica?["metadata"]?["annotations"]?[Vocabulary.sourceFrom], "Secret/apps/db")
    }

    func testAllReachesEveryNamespaceButTheSourcesOwnAndProtectedOnes() async throws {
        try await namespaces("apps", "team-a", "payments")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "all"], data: ["password": "s3cr3t-alpha"])
        // The emulator creates default, kube-system, kube-public and kube-node-lease.
        try await expectSecretReplicas("db", ["team-a", "payments", "default", "kube-public", "kube-node-lease"])
    }

    func testNamingKubeSystemExplicitlyIncludesItButExcludesStillWin() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        try await world.createSecret("apps", "named", annotations: [Self.to: "*,kube-system"], data: ["k": "s3cr3t-alpha"])
        try await world.createSecret("apps", "excluded", annotations: [Self.to: "kube-system,team-a", Self.exclude: "kube-*"],
                                     data: ["k": "s3cr3t-beta"])
        try await expectSecretReplicas("named", ["team-a", "default", "kube-public", "kube-node-lease", "kube-system"])
        try await expectSecretReplicas("excluded", ["team-a"])
    }

    func testExcludeNamespacesWinsOverEveryInclude() async throws {
        try await namespaces("apps", "team-dev", "team-qa-1", "team-prod")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*,team-dev", Self.exclude: "team-dev, team-qa-*"],
                                     data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-prod"])
    }

    func testReplicateToMatchingSelectsByLabelInUnionWithReplicateTo() async throws {
        try await world.createNamespace("apps")
        try await world.createNamespace("p1", labels: ["env": "prod", "tier": "web"])
        try await world.createNamespace("p2", labels: ["env": "prod"])
        try await world.createNamespace("s1", labels: ["env": "staging"])
        try await world.createNamespace("named")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.matching: "env in (prod), tier", Self.to: "named"],
                                     data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["p1", "named"])
    }

    func testASelectorNeverReachesAProtectedNamespace() async throws {
        try await world.createNamespace("apps")
        try await world.createNamespace("p1", labels: ["env": "prod"])
        try await world.patch(.namespaces, nil, "kube-system", ["metadata": ["labels": ["env": "prod"]]])
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.matching: "env=prod"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["p1"])
        try await settle()
        try await expectSecretReplicas("db", ["p1"])
    }

    func testAcceptFromConsentAdmitsOnlyMatchingSources() async throws {
        try await world.createNamespace("apps")
        try await world.createNamespace("open")
        try await world.createNamespace("picky", annotations: [Vocabulary.acceptFrom: "Secret/other/*"])
        try await world.createNamespace("friendly", annotations: [Vocabulary.acceptFrom: "Secret/apps/*"])
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "open,picky,friendly"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["open", "friendly"])
        try await eventually("the consent denial is audited") {
            world.logs.all.contains { $0.metadata["action"] == "consent-denied" && $0.metadata["target_namespace"] == "picky" }
        }
        // Withdrawing consent removes exactly that replica.
        try await world.patch(.namespaces, nil, "friendly", ["metadata": ["annotations": [Vocabulary.acceptFrom: "ConfigMap/*/*"]]])
        try await expectSecretReplicas("db", ["open"])
    }

    func testRequiredConsentDeniesNamespacesWithoutAcceptFrom() async throws {
        try await world.createNamespace("apps")
        try await world.createNamespace("silent")
        try await world.createNamespace("willing", annotations: [Vocabulary.acceptFrom: "*/*/*"])
        try await world.startEngine(EngineOptions(contract: SpillwayContract.Options(requireNamespaceConsent: true)))
        try await world.createSecret("apps", "db", annotations: [Self.to: "silent,willing"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["willing"])
    }

    func testANewNamespaceMatchingAGlobReceivesItsReplicaFromTheWatch() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a"])
        try await settle()
        try await world.createNamespace("team-new")
        let took = try await expectSecretReplicas("db", ["team-a", "team-new"])
        Timings.record("new namespace -> replica", took)
    }

    func testARelabelledNamespaceGainsAndLosesItsReplica() async throws {
        try await namespaces("apps", "svc")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.matching: "env=prod"], data: ["k": "s3cr3t-alpha"])
        try await settle()
        try await world.patch(.namespaces, nil, "svc", ["metadata": ["labels": ["env": "prod"]]])
        let gained = try await expectSecretReplicas("db", ["svc"])
        Timings.record("relabelled namespace -> replica", gained)
        try await world.patch(.namespaces, nil, "svc", ["metadata": ["labels": ["env": "dev"]]])
        let lost = try await expectSecretReplicas("db", [])
        Timings.record("relabelled namespace -> replica removed", lost)
    }

    func testConfigMapsReplicateWithLabelsAndAnnotationsMinusDenyPrefixes() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine(EngineOptions(contract: SpillwayContract.Options(labelDenyPrefixes: ["argocd.argoproj.io/"])))
        try await world.createConfigMap("apps", "settings",
                                        annotations: [Self.to: "team-a", "team": "payments",
                                                      "kubectl.kubernetes.io/last-applied-configuration": "{}"],
                                        labels: ["app": "web", "argocd.argoproj.io/instance": "x"],
                                        data: ["mode": "fast"])
        try await eventually("the ConfigMap replica exists") { try await configMapReplicas("settings") == ["team-a"] }
        let replica = try await world.get(.configMaps, "team-a", "settings")
        XCTAssertEqual(replica?["data"]?["mode"], "fast")
        XCTAssertEqual(replica?["metadata"]?["labels"]?["app"], "web")
        XCTAssertNil(replica?["metadata"]?["labels"]?["argocd.argoproj.io/instance"])
        XCTAssertEqual(replica?["metadata"]?["annotations"]?["team"], "payments")
        XCTAssertNil(replica?["metadata"]?["annotations"]?["kubectl.kubernetes.io/last-applied-configuration"])
        XCTAssertNil(replica?["metadata"]?["annotations"]?[Self.to], "spillway's own annotations are never copied")
    }

    func testATerminatingNamespaceIsSkippedQuietly() async throws {
        try await namespaces("apps", "team-a", "team-b")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-*"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a", "team-b"])
        try await world.delete(.namespaces, nil, "team-b")
        try await eventually("team-b is gone or terminating") {
            let ns = try await world.get(.namespaces, nil, "team-b")
            return ns == nil || ns?["status"]?["phase"]?.stringValue == "Terminating"
        }
        try await settle()
        let failures = world.logs.all.filter { $0.level >= .warning }
        XCTAssertEqual(failures.map(\.rendered), [], "no error storm for a terminating namespace")
    }
}
