import Foundation
import KubeClient
import KubeEmulator
import KubeWire
import SpillwayTestSupport
import XCTest

/// Requests against the TLS emulator: verbs, Status errors, pagination, auth forms, TLS errors.
final class RequestTests: XCTestCase {
    /// libcurl reports the shared connection's socket again for every request that starts on
    /// it; the reactor changes the socket's watch only when its events change, not once per
    /// request.
    func testConcurrentRequestsOnTheOneConnectionDoNotEachChangeItsWatch() async throws {
        let w = try World()
        defer { w.shutdown() }
        let c = w.client
        _ = try await c.create(.secrets, namespace: "default", object: secret("first")) // the connection is up
        let reactor = ReactorBound(w.reactor)
        let before = await w.onLoop { reactor.value.watchModifications }
        let count = 64
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<count {
                group.addTask { _ = try await c.create(.secrets, namespace: "default", object: secret("s\(i)")) }
            }
            try await group.waitForAll()
        }
        let changes = await w.onLoop { reactor.value.watchModifications } - before
        XCTAssertLessThan(changes, UInt64(count / 4), "\(changes) watch changes for \(count) requests")
    }

    func testVerbsRoundTripAndStatusErrorsKeepTheirDetails() async throws {
        let w = try World()
        defer { w.shutdown() }
        let c = w.client
        let created = try await c.create(.secrets, namespace: "default", object: secret("s1"))
        let meta = try XCTUnwrap(ObjectMeta(object: created))
        XCTAssertEqual(created["data"]?["k"]?.stringValue, "dg==")

        do {
            _ = try await c.create(.secrets, namespace: "default", object: secret("s1"))
            XCTFail("a second create must fail")
        } catch {
            XCTAssertTrue(error.status?.isAlreadyExists == true, "\(error)")
            XCTAssertEqual(error.status?.message, #"secrets "s1" already exists"#)
        }

        var stale = created
        stale["data"] = ["k": "eA=="]
        _ = try await c.update(.secrets, namespace: "default", name: "s1", object: stale)
        do {
            _ = try await c.update(.secrets, namespace: "default", name: "s1", object: stale)
            XCTFail("an update on a stale resourceVersion must conflict")
        } catch {
            XCTAssertTrue(error.status?.isConflict == true, "\(error)")
            XCTAssertEqual(error.status?.code, 409)
        }

        let merged = try await c.patch(.secrets, namespace: "default", name: "s1", patch: .merge(["metadata": ["labels": ["a": "b"]]]))
        XCTAssertEqual(ObjectMeta(object: merged)?.labels, ["a": "b"])
        let patched = try await c.patch(.secrets, namespace: "default", name: "s1", patch: .json([
            ["op": "test", "path": "/metadata/labels/a", "value": "b"],
            ["op": "add", "path": "/metadata/annotations", "value": ["x": "y"]],
        ]))
        XCTAssertEqual(ObjectMeta(object: patched)?.annotations, ["x": "y"])

        var immutable = secret("tls-type")
        immutable["type"] = "kubernetes.io/tls"
        immutable["data"] = ["tls.crt": "Yw==", "tls.key": "aw=="]
        let tlsSecret = try await c.create(.secrets, namespace: "default", object: immutable)
        var retyped = tlsSecret
        retyped["type"] = "Opaque"
        do {
            _ = try await c.update(.secrets, namespace: "default", name: "tls-type", object: retyped)
            XCTFail("a type change must be refused")
        } catch {
            XCTAssertEqual(error.status?.code, 422)
            XCTAssertEqual(error.status?.causes.first?.field, "type")
        }

        do {
            _ = try await c.delete(.secrets, namespace: "default", name: "s1", options: .init(preconditionUID: "not-the-uid"))
            XCTFail("a delete with a wrong uid precondition must fail")
        } catch {
            XCTAssertEqual(error.status?.code, 409, "\(error)")
        }
        let outcome = try await c.delete(.secrets, namespace: "default", name: "s1", options: .init(preconditionUID: meta.uid, propagationPolicy: "Background"))
        XCTAssertEqual(outcome, .deleted)
        do {
            _ = try await c.get(.secrets, namespace: "default", name: "s1")
            XCTFail("deleted")
        } catch {
            XCTAssertTrue(error.status?.isNotFound == true)
        }

        var withFinalizer = configMap("held")
        withFinalizer["metadata"]?["finalizers"] = ["spillway.kroy.io/replicas"]
        _ = try await c.create(.configMaps, namespace: "default", object: withFinalizer)
        guard case .pending(let pending) = try await c.delete(.configMaps, namespace: "default", name: "held") else {
            return XCTFail("a delete held by a finalizer answers the object")
        }
        XCTAssertNotNil(ObjectMeta(object: pending)?.deletionTimestamp)
    }

    func testListFollowsContinueAcrossPagesAndMetadataOnlyCarriesNoData() async throws {
        let w = try World()
        defer { w.shutdown() }
        try w.emulator.store.seed(try (0..<1234).map { (ResourceType.secret, try JSONParser.parse(secret("s\($0)").jsonString)) })
        let full = try await w.client.list(.secrets, namespace: "default", options: .init(pageSize: 500))
        XCTAssertEqual(full.items.count, 1234)
        XCTAssertEqual(Set(full.items.compactMap { ObjectMeta(object: $0)?.name }).count, 1234)
        XCTAssertEqual(w.emulator.requests.count(verb: "list", resource: "secrets"), 3, "1234 objects in pages of 500")
        let meta = try await w.client.list(.secrets, namespace: "default", options: .init(metadataOnly: true))
        XCTAssertEqual(meta.items.count, 1234)
        XCTAssertTrue(meta.items.allSatisfy { $0["data"] == nil && $0["kind"]?.stringValue == "PartialObjectMetadata" })
        let one = try await w.client.get(.secrets, namespace: "default", name: "s7", metadataOnly: true)
        XCTAssertNil(one["data"])
        XCTAssertEqual(ObjectMeta(object: one)?.name, "s7")
    }

    /// A write whose writer knows its content is answered with the metadata alone (the server is
    /// asked for PartialObjectMetadata, as the golden steps `*-answering-metadata` show a real
    /// one answers): the new uid and resourceVersion, not the data just sent.
    func testMetadataReadingWritesAreAnsweredWithoutTheContent() async throws {
        let w = try World()
        defer { w.shutdown() }
        var body = secret("answered")
        body["metadata"]?["namespace"] = nil
        let created = try await w.client.onReactor { c, done in
            c.createReadingMetadata(.secrets, namespace: "default", json: body.encoded(), completion: done)
        }
        let createdAnswer = try created.object()
        XCTAssertEqual(createdAnswer["kind"], "PartialObjectMetadata")
        XCTAssertNil(createdAnswer["data"])
        let meta = try XCTUnwrap(created.metadata)
        XCTAssertEqual(meta.namespace, "default", "the server fills in the namespace the path names")

        body["metadata"]?["resourceVersion"] = .string(meta.resourceVersion)
        body["data"] = ["k": "eA=="]
        let updated = try await w.client.onReactor { c, done in
            c.updateReadingMetadata(.secrets, namespace: "default", name: "answered", json: body.encoded(), completion: done)
        }
        XCTAssertEqual(try updated.object()["kind"], "PartialObjectMetadata")
        XCTAssertNotEqual(updated.metadata?.resourceVersion, meta.resourceVersion)
        let stored = try await w.client.get(.secrets, namespace: "default", name: "answered")
        XCTAssertEqual(stored["data"]?["k"], "eA==", "the write itself carried the content")
    }

    func testABurstOfRequestsBesideWatchesSharesOneConnection() async throws {
        // kube-apiserver, like the emulator, allows 100 streams on an HTTP/2 connection. A
        // client with more requests in flight made libcurl open more connections, and kept
        // them: a daemon with 1,000 sources held 35 to the API server after each start.
        let w = try World()
        defer { w.shutdown() }
        try w.emulator.store.seed(try (0..<400).map { (ResourceType.secret, try JSONParser.parse(secret("s\($0)").jsonString)) })
        var probes: [InformerProbe] = []
        for resource in [Resource.secrets, .configMaps, .namespaces] {
            probes.append(await w.startInformer(Informer.Options(resource: resource, metadataOnly: true)))
        }
        let client = w.client
        try await withThrowingTaskGroup(of: Void.self) { group in
            for i in 0..<400 {
                group.addTask { _ = try await client.get(.secrets, namespace: "default", name: "s\(i)") }
            }
            try await group.waitForAll()
        }
        XCTAssertEqual(try TCPConnections.established(toLoopbackPort: w.emulator.port), 1, "the gets and the watches share one connection")
        for probe in probes { await probe.stop() }
    }

    func testRetriesThrough429StormHonouringRetryAfter() async throws {
        let w = try World()
        defer { w.shutdown() }
        w.emulator.faults.failNext(3, status: 429, retryAfterSeconds: 1)
        _ = try await w.client.create(.configMaps, namespace: "default", object: configMap("after-storm"))
        let retries = await w.onLoop { w.client.statistics.retries }
        XCTAssertEqual(retries, 3)
        w.emulator.faults.failNext(12, status: 429, retryAfterSeconds: 0)
        do {
            _ = try await w.client.get(.configMaps, namespace: "default", name: "after-storm")
            XCTFail("ten attempts, then the 429 is reported")
        } catch {
            XCTAssertEqual(error.status?.code, 429)
            XCTAssertEqual(error.status?.message, "Too many requests, please try again later.")
        }
    }

    func testWrongCAFailsWithATLSErrorThatSaysSo() async throws {
        let other = try KubeEmulator.start(.init(tls: true))
        defer { other.shutdown() }
        let w = try World { emu, _ in
            var c = ClientConfiguration(server: emu.baseURL)
            c.certificateAuthority = .data(Array(other.caPEM!.utf8))
            c.auth = .token(emu.adminToken)
            return c
        }
        defer { w.shutdown() }
        do {
            _ = try await w.client.get(.namespaces, namespace: nil, name: "default")
            XCTFail("a server signed by another CA must be refused")
        } catch {
            guard case .transport(let message) = error else { return XCTFail("\(error)") }
            XCTAssertTrue(message.contains("TLS verification failed"), message)
        }
    }

    func testClientCertificateAuthentication() async throws {
        let w = try World { emu, scratch in
            let path = scratch.dir + "/kubeconfig"
            try emu.writeKubeconfig(to: path, identity: .clientCertificate(commonName: "cert-user", groups: ["system:masters"]))
            return try ClientConfiguration.load(kubeconfig: path, environment: [:])
        }
        defer { w.shutdown() }
        _ = try await w.client.create(.configMaps, namespace: "default", object: configMap("by-cert"))
        XCTAssertEqual(w.emulator.requests.writes.last?.user, "cert-user")
    }

    func testExecPluginCredentialIsCachedAndRefreshedOn401() async throws {
        let w = try World { emu, scratch in
            let counter = scratch.dir + "/calls"
            let plugin = try scratch.write("bin/get-token", """
                #!/bin/sh
                n=$(cat "\(counter)" 2>/dev/null || echo 0); n=$((n+1)); echo $n > "\(counter)"
                if [ $n -eq 1 ]; then tok=revoked; else tok=\(emu.adminToken); fi
                echo '{"apiVersion":"client.authentication.k8s.io/v1","kind":"ExecCredential","status":{"token":"'$tok'"}}'
                """, mode: 0o755)
            _ = plugin
            try scratch.write("kubeconfig", """
                current-context: e
                clusters: [{name: c, cluster: {server: "\(emu.baseURL)", certificate-authority-data: \(Data(emu.caPEM!.utf8).base64EncodedString())}}]
                users:
                - name: u
                  user:
                    exec: {apiVersion: client.authentication.k8s.io/v1, command: ./bin/get-token, interactiveMode: Never}
                contexts: [{name: e, context: {cluster: c, user: u}}]
                """)
            return try ClientConfiguration.load(kubeconfig: scratch.dir + "/kubeconfig", environment: [:])
        }
        defer { w.shutdown() }
        _ = try await w.client.get(.namespaces, namespace: nil, name: "default")
        _ = try await w.client.get(.namespaces, namespace: nil, name: "default")
        let refreshes = await w.onLoop { w.client.statistics.refreshesAfter401 }
        XCTAssertEqual(refreshes, 1)
        let calls = try String(contentsOfFile: w.scratch.dir + "/calls", encoding: .utf8).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertEqual(calls, "2", "the plugin ran once, was refreshed once on the 401, then its token was cached")
    }

    func testTokenFileThatChangesUnderTheRunningClientIsPickedUp() async throws {
        let config = KubeEmulator.Configuration(tls: true, tokens: ["token-a": Identity(user: "alice", groups: ["system:masters"]),
                                                                    "token-b": Identity(user: "bob", groups: ["system:masters"])])
        let w = try World(emulator: config) { emu, scratch in
            let tokenPath = try scratch.write("token", "token-a\n")
            try scratch.write("kubeconfig", """
                current-context: t
                clusters: [{name: c, cluster: {server: "\(emu.baseURL)", certificate-authority-data: \(Data(emu.caPEM!.utf8).base64EncodedString())}}]
                users: [{name: u, user: {tokenFile: token}}]
                contexts: [{name: t, context: {cluster: c, user: u}}]
                """)
            var c = try ClientConfiguration.load(kubeconfig: scratch.dir + "/kubeconfig", environment: [:])
            XCTAssertEqual(c.auth, .tokenFile(path: tokenPath, reread: .seconds(60)))
            c.auth = .tokenFile(path: tokenPath, reread: .milliseconds(200))
            return c
        }
        defer { w.shutdown() }
        _ = try await w.client.create(.configMaps, namespace: "default", object: configMap("one"))
        XCTAssertEqual(w.emulator.requests.writes.last?.user, "alice")
        try w.scratch.write("token", "  token-b \n")
        try await Task.sleep(for: .milliseconds(300))
        _ = try await w.client.create(.configMaps, namespace: "default", object: configMap("two"))
        XCTAssertEqual(w.emulator.requests.writes.last?.user, "bob")
        try w.scratch.write("token", "\n")
        try await Task.sleep(for: .milliseconds(300))
        _ = try await w.client.create(.configMaps, namespace: "default", object: configMap("three"))
        XCTAssertEqual(w.emulator.requests.writes.last?.user, "bob", "an empty token file keeps the last good token")
    }

    func testCAFileAndClientCertificateFilesAreReadAgainWhenTheyChange() async throws {
        let other = try KubeEmulator.start(.init(tls: true))
        defer { other.shutdown() }
        let w = try World { emu, scratch in
            // A CA bundle that does not sign the server yet, as before a CA rotation reaches us.
            try scratch.write("ca.crt", other.caPEM!)
            let alice = try emu.issueClientCertificate(commonName: "alice", groups: ["system:masters"])
            try scratch.write("client.crt", alice.certificatePEM)
            try scratch.write("client.key", alice.privateKeyPEM)
            try scratch.write("kubeconfig", """
                current-context: t
                clusters: [{name: c, cluster: {server: "\(emu.baseURL)", certificate-authority: ca.crt}}]
                users: [{name: u, user: {client-certificate: client.crt, client-key: client.key}}]
                contexts: [{name: t, context: {cluster: c, user: u}}]
                """)
            return try ClientConfiguration.load(kubeconfig: scratch.dir + "/kubeconfig", environment: [:])
        }
        defer { w.shutdown() }
        do {
            _ = try await w.client.get(.namespaces, namespace: nil, name: "default")
            XCTFail("the server is not signed by the CA in the file yet")
        } catch {}

        try w.scratch.write("ca.crt", w.emulator.caPEM!)
        var reached = false
        for _ in 0..<40 where !reached {
            try await Task.sleep(for: .milliseconds(100))
            reached = (try? await w.client.get(.namespaces, namespace: nil, name: "default")) != nil
        }
        XCTAssertTrue(reached, "the rewritten CA file was read again")
        _ = try await w.client.create(.configMaps, namespace: "default", object: configMap("as-alice"))
        XCTAssertEqual(w.emulator.requests.writes.last?.user, "alice")

        let bob = try w.emulator.issueClientCertificate(commonName: "bob", groups: ["system:masters"])
        // As cert-manager or a kubelet rotates: new files renamed into place.
        try w.scratch.write("client.crt.new", bob.certificatePEM)
        try w.scratch.write("client.key.new", bob.privateKeyPEM)
        XCTAssertEqual(rename(w.scratch.dir + "/client.key.new", w.scratch.dir + "/client.key"), 0)
        XCTAssertEqual(rename(w.scratch.dir + "/client.crt.new", w.scratch.dir + "/client.crt"), 0)
        try await Task.sleep(for: .milliseconds(1100))
        _ = try await w.client.create(.configMaps, namespace: "default", object: configMap("as-bob"))
        XCTAssertEqual(w.emulator.requests.writes.last?.user, "bob", "the rotated client certificate is used")
    }
}
