import Foundation
import KubeClient
import KubeWire
import SpillwayContract
@testable import SpillwayEngine
import XCTest

/// The planning cost behind the latency and idle-CPU figures of docs/engine.md: one source
/// whose replicas are all in place in N namespaces, planned whole (a resync or a source
/// edit) and planned for one namespace (a namespace created). A measurement, not an
/// assertion: run it with `SPILLWAY_MEASURE_PLAN=1` in a release build
/// (`swift build -c release --build-tests`); `SPILLWAY_MEASURE_NAMESPACES` changes N (5,000).
final class PlanMeasurement: XCTestCase {
    func testPlanningCostWithEveryReplicaInPlace() throws {
        let environment = ProcessInfo.processInfo.environment
        try XCTSkipUnless(environment["SPILLWAY_MEASURE_PLAN"] == "1", "set SPILLWAY_MEASURE_PLAN=1 to measure")
        let count = Int(environment["SPILLWAY_MEASURE_NAMESPACES"] ?? "") ?? 5_000
        let key = ObjectKey(kind: .secret, namespace: "apps", name: "db")
        let state = ObservedState()
        for i in 0..<count {
            _ = state.applyNamespace(.added(KubeObject(json: ["metadata": ["name": .string("team-\(i)")]], keepBody: true)!))
        }
        state.recordSource(key, [
            "metadata": ["name": "db", "namespace": "apps", "uid": "u", "resourceVersion": "1",
                         "annotations": .stringMap([Vocabulary.replicateTo: "team-*"]),
                         "finalizers": [.string(Vocabulary.finalizer)]],
            "data": ["k": "dg=="],
        ])
        let planner = Planner()
        let source = try XCTUnwrap(state.source(key))
        let template = planner.plan(key: key, source: source, namespaces: state.namespaceList,
                                    observedByNamespace: [:], now: Date())
        for decision in template.decisions {
            guard case .create(let replica) = decision.action else { continue }
            state.recordReplica(replica.key, KubeObject(json: ObjectCoding.body(of: replica).with(uid: "u-\(decision.namespace)"), keepBody: true)!)
        }
        XCTAssertEqual(state.replicas.count, count)

        func time(_ rounds: Int, _ body: () -> Plan) -> Duration {
            let clock = ContinuousClock()
            let start = clock.now
            for _ in 0..<rounds { XCTAssertTrue(body().writes.isEmpty, "every replica is in place") }
            return (clock.now - start) / rounds
        }
        let whole = time(20) {
            planner.plan(key: key, source: source, namespaces: state.namespaceList,
                         observedByNamespace: state.observedObjects(for: key), now: Date())
        }
        let scope: Set<String> = ["team-0"]
        let one = time(2_000) {
            planner.plan(key: key, source: source, namespaces: scope.compactMap { state.namespaces[$0] },
                         observedByNamespace: state.observedObjects(for: key, in: scope), now: Date())
        }
        print("plan of one source with \(count) replicas in place: whole \(whole), one namespace \(one)")
    }
}

private extension JSONValue {
    func with(uid: String) -> JSONValue {
        var copy = self
        copy["metadata"]?["uid"] = .string(uid)
        copy["metadata"]?["resourceVersion"] = "1"
        return copy
    }
}
