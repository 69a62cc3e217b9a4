import Foundation
import KubeClient
import KubeEmulator
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// Event posts that fail: tried again a few times when the failure may pass, dropped (logged
/// and counted) after the last attempt or at once when the API refuses for good; replica
/// writes never wait for them.
final class EventRetryTests: EngineTestCase {
    override func setUp() async throws {
        // The engine's client gives up on the first failure, so the emulator's injected 500s
        // reach the engine (a real client retries a 5xx with Retry-After by itself).
        world = try await EngineWorld(engineRateLimit: RateLimitConfiguration(maxAttempts: 1))
    }

    private static let retry = EventRetry(attempts: 3, backoff: .milliseconds(20))

    /// Starts the engine, replicates `apps/db` into `team-a`, and waits until all is quiet.
    private func replicated() async throws {
        try await namespaces("apps", "team-a")
        try await world.startEngine(EngineOptions(eventRetry: Self.retry))
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a"])
        try await eventually("the success event is posted") {
            try await world.events(about: "db", in: "apps").contains { $0.reason == Vocabulary.reasonSucceeded }
        }
        try await settle()
    }

    /// Posts an Event about `apps/db` straight through the engine's poster, as a reconcile does.
    private func post(_ note: String) async throws {
        try await world.onEngine { engine in
            let source = engine.state.source(ObjectKey(kind: .secret, namespace: "apps", name: "db"))!
            let body = EventBody.make(source: source, intent: EventIntent(type: .normal, reason: Vocabulary.reasonSucceeded, message: note),
                                      instance: "test", now: Date(), sequence: 1_000)
            engine.events.post(EventPoster.Post(namespace: "apps", body: body, source: "apps/db", reason: Vocabulary.reasonSucceeded))
        }
    }

    private func eventPosts(code: Int) -> Int {
        world.emulator.requests.writes.filter { $0.resource.hasPrefix("events") && $0.verb == "create" && $0.code == code }.count
    }

    func testAnEventWhosePostFailsIsPostedByALaterAttempt() async throws {
        try await replicated()
        world.emulator.accounting.reset()
        world.emulator.faults.failNext(2, status: 500)
        try await post("posted on the third attempt")
        try await settle()
        let notes = try await world.events(about: "db", in: "apps").map(\.note)
        XCTAssertEqual(notes.filter { $0 == "posted on the third attempt" }.count, 1)
        XCTAssertEqual(eventPosts(code: 500), 2)
        XCTAssertEqual(eventPosts(code: 201), 1)
        let dropped = try await world.onEngine { $0.events.dropped }
        XCTAssertEqual(dropped, 0)
    }

    func testAnEventStillFailingAfterTheLastAttemptIsDroppedAndCounted() async throws {
        try await replicated()
        world.emulator.accounting.reset()
        world.emulator.faults.failNext(Self.retry.attempts + 5, status: 500)
        try await post("never posted")
        try await settle()
        world.emulator.faults.clear()
        XCTAssertEqual(eventPosts(code: 500), Self.retry.attempts, "bounded: exactly the configured attempts")
        XCTAssertEqual(eventPosts(code: 201), 0)
        let dropped = try await world.onEngine { $0.events.dropped }
        XCTAssertEqual(dropped, 1)
        XCTAssertTrue(world.logs.all.contains { $0.level == .warning && $0.message.hasPrefix("event dropped") && $0.metadata["source"] == "apps/db" },
                      "the drop is logged with its source")
    }
}

/// The API refuses Events for good (no RBAC for them): each is tried once and dropped, and
/// replication goes on.
final class RefusedEventTests: EngineTestCase {
    override func setUp() async throws {
        world = try await Self.restrictedWorld([
            AccessRule(users: ["spillway"], verbs: Self.allVerbs, resources: ["namespaces", "secrets", "configmaps"]),
        ])
    }

    func testARefusedEventIsNotRetriedAndReplicationGoesOn() async throws {
        try await namespaces("apps", "team-a", "team-b")
        try await world.startEngine()
        try await world.createSecret("apps", "db", annotations: [Self.to: "team-a,team-b"], data: ["k": "s3cr3t-alpha"])
        try await expectSecretReplicas("db", ["team-a", "team-b"])
        try await settle()
        let refused = world.emulator.requests.writes.filter { $0.resource.hasPrefix("events") && $0.code == 403 }
        XCTAssertEqual(refused.count, 1, "one Event (replicas written), tried once: a 403 does not pass by waiting")
        let dropped = try await world.onEngine { $0.events.dropped }
        XCTAssertEqual(dropped, 1)
    }
}
