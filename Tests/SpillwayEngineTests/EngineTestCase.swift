import Foundation
import KubeClient
import KubeEmulator
import SpillwayContract
import XCTest

@testable import SpillwayEngine

/// A fresh emulator and reactor per test; the engine is started by the test, with the
/// options it is about.
class EngineTestCase: XCTestCase {
    var world: EngineWorld!

    static let to = Vocabulary.replicateTo
    static let matching = Vocabulary.replicateToMatching
    static let exclude = Vocabulary.excludeNamespaces

    override func setUp() async throws {
        world = try await EngineWorld()
    }

    /// Every verb the engine uses, for the authorization rules of a restricted world.
    static let allVerbs: Set<String> = ["get", "list", "watch", "create", "update", "patch", "delete"]

    /// A world whose engine runs as user "spillway", limited to `rules` (the emulator's RBAC).
    static func restrictedWorld(_ rules: [AccessRule]) async throws -> EngineWorld {
        try await EngineWorld(
            emulator: KubeEmulator.Configuration(tokens: ["engine-token": Identity(user: "spillway")], authorization: rules),
            engineToken: "engine-token")
    }

    override func tearDown() async throws {
        if let world {
            let secretLeaks = world.logs.all.filter { line in
                Self.secretValues.contains { line.rendered.contains($0) }
            }
            XCTAssertEqual(secretLeaks.map(\.rendered), [], "a secret value reached a log line")
            await world.shutdown()
        }
        world = nil
    }

    /// Every test writes its secret values from this list, so tearDown can prove none of them
    /// (nor their base64) ever reached a log line.
    static let secretValues = ["s3cr3t-alpha", "s3cr3t-beta", "s3cr3t-gamma"]
        + ["s3cr3t-alpha", "s3cr3t-beta", "s3cr3t-gamma"].map { Data($0.utf8).base64EncodedString() }

    func namespaces(_ names: String...) async throws {
        for name in names { try await world.createNamespace(name) }
    }

    /// Namespaces holding a replica of `Secret name` (any owner).
    func secretReplicas(_ name: String) async throws -> Set<String> {
        let items = try await world.client.list(.secrets, namespace: nil).items
        return Set(items.filter {
            $0["metadata"]?["name"]?.stringValue == name
                && $0["metadata"]?["labels"]?[Vocabulary.managedByLabel]?.stringValue == Vocabulary.managedByValue
        }.compactMap { $0["metadata"]?["namespace"]?.stringValue })
    }

    func configMapReplicas(_ name: String) async throws -> Set<String> {
        let items = try await world.client.list(.configMaps, namespace: nil).items
        return Set(items.filter {
            $0["metadata"]?["name"]?.stringValue == name
                && $0["metadata"]?["labels"]?[Vocabulary.managedByLabel]?.stringValue == Vocabulary.managedByValue
        }.compactMap { $0["metadata"]?["namespace"]?.stringValue })
    }

    /// Waits until the Secret's replicas are exactly in `expected`.
    @discardableResult
    func expectSecretReplicas(_ name: String, _ expected: Set<String>, file: StaticString = #filePath, line: UInt = #line) async throws -> Duration {
        var last: Set<String> = []
        let took = try await eventually("replicas of \(name) in \(expected.sorted())", file: file, line: line) {
            last = try await secretReplicas(name)
            return last == expected
        }
        XCTAssertEqual(last, expected, file: file, line: line)
        return took
    }

    /// Waits until the engine has nothing left to do.
    func settle() async throws {
        try await eventually("the engine settles") {
            try await world.onEngine { $0.queue.depth == 0 && $0.queue.processingCount == 0 && $0.lanes.inFlight == 0 && $0.events.pending == 0 }
        }
    }
}
