import Foundation
import KubeClient
import KubeEmulator
import XCTest

/// What the client's own traffic says about the API server (``ServerContact``), and the one
/// request ``SilenceProbe`` sends: only after a silence, never while a watch delivers.
final class ServerContactTests: XCTestCase {
    private func probes(_ w: World, _ probe: ReactorBound<SilenceProbe>) async -> Int {
        await w.onLoop { probe.value.probes }
    }

    func testAWatchThatDeliversBookmarksKeepsTheProbeSilent() async throws {
        // Bookmarks every second, a silence of two: the watch alone proves the server is there.
        let w = try World()
        defer { w.shutdown() }
        let informer = await w.startInformer(
            Informer.Options(resource: .secrets, metadataOnly: true, idleTimeout: .seconds(30)))
        let client = w.client
        let probe = await w.onLoop { () -> ReactorBound<SilenceProbe> in
            let probe = SilenceProbe(client: client, silence: .seconds(2))
            probe.start()
            return ReactorBound(probe)
        }
        w.emulator.accounting.reset()
        try await Task.sleep(for: .seconds(5))
        let sent = await probes(w, probe)
        XCTAssertEqual(sent, 0, "the probe asked although the watch delivered bookmarks")
        XCTAssertEqual(w.emulator.requests.count(), 0, "requests while idle: \(w.emulator.requests.counts)")
        let problem = await w.onLoop { client.contact.problem }
        XCTAssertNil(problem)
        await w.onLoop { probe.value.stop() }
        await informer.stop()
    }

    func testASilentServerIsAskedOnceASilenceAndAnUnansweredProbeMarksItUnreachable() async throws {
        let w = try World()
        let client = w.client
        let probe = await w.onLoop { () -> ReactorBound<SilenceProbe> in
            let probe = SilenceProbe(client: client, silence: .seconds(1))
            probe.start()
            return ReactorBound(probe)
        }
        try await Task.sleep(for: .milliseconds(3500))
        let sent = await probes(w, probe)
        XCTAssertTrue((2...4).contains(sent), "one probe a silence, not \(sent) in 3.5 s")
        XCTAssertEqual(w.emulator.requests.count(verb: "get", resource: "namespaces"), sent)
        let answered = await w.onLoop { client.contact.problem }
        XCTAssertNil(answered, "any answer (here 404 or 200) proves the server is there")

        w.emulator.shutdown()
        var problem: String?
        for _ in 0..<50 where problem == nil {
            try await Task.sleep(for: .milliseconds(100))
            problem = await w.onLoop { client.contact.problem }
        }
        XCTAssertNotNil(problem, "an unanswered probe marks the server unreachable")
        await w.onLoop { probe.value.stop() }
        w.shutdown()
    }

    func testARefusedListAndRejectedCredentialsAreProblemsARefusedGetIsNot() async throws {
        // A reader of configmaps in default only, and a token the server does not know.
        let config = KubeEmulator.Configuration(
            tls: true, tokens: ["reader-token": Identity(user: "reader", groups: ["readers"])],
            authorization: [AccessRule(groups: ["readers"], verbs: ["get", "list", "watch"], resources: ["configmaps"], namespaces: ["default"])])
        let w = try World(emulator: config) { emulator, scratch in
            let path = scratch.dir + "/kubeconfig"
            try emulator.writeKubeconfig(to: path, identity: .token("reader-token"))
            return try ClientConfiguration.load(kubeconfig: path, environment: [:])
        }
        defer { w.shutdown() }
        let client = w.client
        _ = try? await client.list(.secrets, namespace: nil)
        var problem = await w.onLoop { client.contact.problem }
        XCTAssertEqual(problem.map { $0.hasPrefix("not allowed to read secrets") }, true, problem ?? "no problem")
        _ = try? await client.list(.configMaps, namespace: "default")
        problem = await w.onLoop { client.contact.problem }
        XCTAssertEqual(problem.map { $0.hasPrefix("not allowed to read secrets") }, true, "only a read of the refused collection clears it")
        _ = try? await client.get(.secrets, namespace: "default", name: "x")
        problem = await w.onLoop { client.contact.problem }
        XCTAssertNotNil(problem, "a refused GET is not a refused read of the collection, and does not clear it either")

        let rejected = try World { emulator, scratch in
            let path = scratch.dir + "/kubeconfig"
            try emulator.writeKubeconfig(to: path, identity: .token("unknown-token"))
            return try ClientConfiguration.load(kubeconfig: path, environment: [:])
        }
        defer { rejected.shutdown() }
        let stranger = rejected.client
        _ = try? await stranger.list(.configMaps, namespace: "default")
        problem = await rejected.onLoop { stranger.contact.problem }
        XCTAssertEqual(problem.map { $0.hasPrefix("credentials rejected") }, true, problem ?? "no problem")
    }
}
