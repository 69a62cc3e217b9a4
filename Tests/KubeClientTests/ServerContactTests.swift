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
}
