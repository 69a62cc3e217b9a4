import XCTest

/// The scenarios against a real kube-apiserver, with spillwayd running as the chart's
/// ServiceAccount (RBAC and priority and fairness apply): the control plane in `../shared/kube`,
/// started once for the run, or the cluster `SPILLWAY_TEST_KUBECONFIG` names. Skips with one
/// line when neither is there. See docs/testing.md.
final class RealAPIServerTests: ClusterScenarioTestCase {
    override func makeCluster() throws -> ScenarioCluster { try RealScenarioCluster(self) }

    func testReplicatesFollowsEditsAndCleansUp() throws { try replicatesFollowsEditsAndCleansUp() }
    func testProfileReplicatesReportsAndCleansUp() throws { try profileReplicatesReportsAndCleansUp() }
    func testProfileCRDInstalledLaterIsServedAndItsDeletionStopsTheWatch() throws {
        try profileCRDInstalledLaterIsServedAndItsDeletionStopsTheWatch()
    }
    func testSteadyStateWritesNothing() throws { try steadyStateWritesNothing() }
    func testABurstOfSourcesSharesOneConnectionAndHandsItsMemoryBack() throws { try aBurstOfSourcesSharesOneConnectionAndHandsItsMemoryBack() }
    func testCatchesUpAfterItsLinkIsCutFor12Seconds() throws { try catchesUpAfterItsLinkIsCut(for: 12) }
    func testCatchesUpAfterTheServerRestarts() throws { try catchesUpAfterTheServerRestarts() }
    func testTwoDaemonsStartedTogetherAgreeOnTheLeader() throws { try twoDaemonsStartedTogetherAgreeOnTheLeader() }
    func testLeaderHandsOverOnSIGTERM() throws { try leaderHandsOverOnSIGTERM() }
    func testLeaderCutOffStopsWritingBeforeItsLeaseExpires() throws { try leaderCutOffStopsWritingBeforeItsLeaseExpires() }
    func testRotatedTokenFileIsPickedUp() throws { try rotatedTokenFileIsPickedUp() }
    func testPullsOnlyWhatTheSourceAllows() throws { try pullsOnlyWhatTheSourceAllows() }
    func testWritesRefusedByAQuotaPostABoundedNumberOfEvents() throws { try writesRefusedByAQuotaPostABoundedNumberOfEvents() }
}

/// The same scenarios against the in-process emulator: quick, and a check that the emulator
/// behaves as the real server does where spillway depends on it.
final class EmulatorScenarioTests: ClusterScenarioTestCase {
    override func makeCluster() throws -> ScenarioCluster {
        try XCTSkipUnless(Kubectl.available, "the scenarios drive the cluster with /usr/bin/kubectl")
        return try EmulatorScenarioCluster(self)
    }

    func testReplicatesFollowsEditsAndCleansUp() throws { try replicatesFollowsEditsAndCleansUp() }
    func testProfileReplicatesReportsAndCleansUp() throws { try profileReplicatesReportsAndCleansUp() }
    func testProfileCRDInstalledLaterIsServedAndItsDeletionStopsTheWatch() throws {
        try profileCRDInstalledLaterIsServedAndItsDeletionStopsTheWatch()
    }
    func testSteadyStateWritesNothing() throws { try steadyStateWritesNothing() }
    func testABurstOfSourcesSharesOneConnectionAndHandsItsMemoryBack() throws { try aBurstOfSourcesSharesOneConnectionAndHandsItsMemoryBack() }
    func testCatchesUpAfterItsLinkIsCutFor12Seconds() throws { try catchesUpAfterItsLinkIsCut(for: 12) }
    func testTwoDaemonsStartedTogetherAgreeOnTheLeader() throws { try twoDaemonsStartedTogetherAgreeOnTheLeader() }
    func testLeaderHandsOverOnSIGTERM() throws { try leaderHandsOverOnSIGTERM() }
    func testLeaderCutOffStopsWritingBeforeItsLeaseExpires() throws { try leaderCutOffStopsWritingBeforeItsLeaseExpires() }
    func testPullsOnlyWhatTheSourceAllows() throws { try pullsOnlyWhatTheSourceAllows() }
}
