import Foundation
@testable import KubeEmulator
import KubeWire
import XCTest

/// Fidelity checked with the real client: the machine's kubectl drives the emulator and the
/// tests assert what it prints.
final class KubectlTests: KubectlTestCase {

    func testCreateSecretAndConfigMapFromLiteralsAndGetThemBack() throws {
        XCTAssertEqual(try kubectl("create", "namespace", "demo"), "namespace/demo created\n")
        XCTAssertEqual(try kubectl("-n", "demo", "create", "secret", "generic", "creds", "--from-literal=user=admin", "--from-literal=pass=s3cr3t"),
                       "secret/creds created\n")
        XCTAssertEqual(try kubectl("-n", "demo", "create", "configmap", "settings", "--from-literal=mode=fast"), "configmap/settings created\n")

        let json = try JSONParser.parse(try kubectl("-n", "demo", "get", "secret", "creds", "-o", "json"))
        XCTAssertEqual(json["data"], ["user": "YWRtaW4=", "pass": "czNjcjN0"])
        XCTAssertEqual(json["type"], "Opaque")

        let table = try kubectl("-n", "demo", "get", "secrets")
        let lines = table.split(separator: "\n")
        XCTAssertEqual(lines.first?.split(separator: " ", omittingEmptySubsequences: true), ["NAME", "TYPE", "DATA", "AGE"])
        XCTAssertEqual(lines.dropFirst().first?.split(separator: " ", omittingEmptySubsequences: true).prefix(3), ["creds", "Opaque", "2"])

        let yaml = try kubectl("-n", "demo", "get", "configmap", "settings", "-o", "yaml")
        XCTAssertTrue(yaml.contains("mode: fast"), yaml)
        XCTAssertTrue(yaml.contains("kind: ConfigMap"), yaml)

        let ns = try kubectl("get", "namespaces", "demo")
        XCTAssertEqual(ns.split(separator: "\n").dropFirst().first?.split(separator: " ", omittingEmptySubsequences: true).prefix(2), ["demo", "Active"])
    }

    func testApplyCreatesThenConfiguresAndLabelAnnotateWork() throws {
        let manifest = """
            apiVersion: v1
            kind: ConfigMap
            metadata:
              name: app
              namespace: default
            data:
              a: "1"
            """
        try manifest.write(toFile: dir + "/cm.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try kubectl("apply", "-f", dir + "/cm.yaml"), "configmap/app created\n")
        try manifest.replacingOccurrences(of: "a: \"1\"", with: "b: \"2\"").write(toFile: dir + "/cm.yaml", atomically: true, encoding: .utf8)
        XCTAssertEqual(try kubectl("apply", "-f", dir + "/cm.yaml"), "configmap/app configured\n")
        XCTAssertEqual(try emu.store.get(.configMap, namespace: "default", name: "app").json["data"], ["b": "2"], "apply removed the key it no longer declares")

        XCTAssertEqual(try kubectl("label", "configmap", "app", "tier=web"), "configmap/app labeled\n")
        XCTAssertEqual(try kubectl("annotate", "configmap", "app", "spillway.kroy.io/replicate-to=team-*"), "configmap/app annotated\n")
        let got = try JSONParser.parse(try kubectl("get", "configmap", "app", "-o", "json"))
        XCTAssertEqual(got["metadata"]?["labels"]?["tier"], "web")
        XCTAssertEqual(got["metadata"]?["annotations"]?["spillway.kroy.io/replicate-to"], "team-*")
        XCTAssertEqual(try kubectl("get", "configmaps", "-l", "tier=web", "-o", "name"), "configmap/app\n")
    }

    func testDeleteAndWaitForDelete() throws {
        try emu.store.create(.secret, namespace: "default", {
            var s = secret("held")
            s["metadata"]?["finalizers"] = ["example.com/hold"]
            return s
        }())
        XCTAssertEqual(try kubectl("delete", "secret", "held", "--wait=false"), "secret \"held\" deleted\n")
        let exe = try requireTool("/usr/bin/kubectl")
        let waiter = Process()
        waiter.executableURL = URL(fileURLWithPath: exe)
        waiter.arguments = ["--kubeconfig", kubeconfig, "--cache-dir", dir + "/cache", "wait", "--for=delete", "secret/held", "--timeout=60s"]
        let out = Pipe()
        waiter.standardOutput = out
        waiter.standardError = out
        try waiter.run()
        // Release the finalizer once kubectl watches, so it sees the deletion happen.
        let deadline = Date().addingTimeInterval(30)
        while emu.requests.count(verb: "watch", resource: "secrets") == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        try emu.store.patch(.secret, namespace: "default", name: "held", .merge, ["metadata": ["finalizers": .null]])
        waiter.waitUntilExit()
        let text = String(decoding: out.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self)
        XCTAssertEqual(waiter.terminationStatus, 0, text)
        XCTAssertEqual(text, "secret/held condition met\n")
    }

    func testGetWatchPrintsLiveChanges() throws {
        let exe = try requireTool("/usr/bin/kubectl")
        let watcher = Process()
        watcher.executableURL = URL(fileURLWithPath: exe)
        watcher.arguments = ["--kubeconfig", kubeconfig, "--cache-dir", dir + "/cache", "get", "configmaps", "--watch", "--request-timeout=0",
                             "-o", "custom-columns=NAME:.metadata.name,DATA:.data.k"]
        let out = Pipe()
        watcher.standardOutput = out
        watcher.standardError = out
        try watcher.run()
        defer { if watcher.isRunning { watcher.terminate() } }
        // Wait for kubectl's watch to be open, then change things.
        let deadline = Date().addingTimeInterval(30)
        while emu.requests.count(verb: "watch", resource: "configmaps") == 0 && Date() < deadline { Thread.sleep(forTimeInterval: 0.05) }
        try emu.store.create(.configMap, namespace: "default", configMap("live", data: ["k": "v1"]))
        try emu.store.patch(.configMap, namespace: "default", name: "live", .merge, ["data": ["k": "v2"]])
        var text = ""
        let handle = out.fileHandleForReading
        while !text.contains("v2") && Date() < deadline {
            let d = handle.availableData
            if d.isEmpty { break }
            text += String(decoding: d, as: UTF8.self)
        }
        watcher.terminate()
        let rows = text.split(separator: "\n").map { $0.split(separator: " ", omittingEmptySubsequences: true).map(String.init) }
        XCTAssertEqual(rows.first, ["NAME", "DATA"])
        XCTAssertTrue(rows.contains(["live", "v1"]), text)
        XCTAssertTrue(rows.contains(["live", "v2"]), text)
    }

    func testKubectlWithAClientCertificateKubeconfigAndForbiddenMessage() throws {
        let limited = dir + "/limited"
        try emu.writeKubeconfig(to: limited, identity: .clientCertificate(commonName: "jane", groups: ["devs"]))
        let exe = try requireTool("/usr/bin/kubectl")
        let (status, out) = try runProcess(exe, ["--kubeconfig", limited, "--cache-dir", dir + "/cache2", "get", "secrets"])
        XCTAssertNotEqual(status, 0)
        XCTAssertTrue(out.contains("Error from server (Forbidden): secrets is forbidden: User \"jane\" cannot list resource \"secrets\" in API group \"\" in the namespace \"default\""), out)
    }

    func testBadInputIsReportedNotCrashed() throws {
        let out = try kubectl("create", "configmap", "Bad_Name", "--from-literal=a=b", expectSuccess: false)
        XCTAssertTrue(out.hasPrefix("error: failed to create configmap: ConfigMap \"Bad_Name\" is invalid: metadata.name: Invalid value: \"Bad_Name\""), out)
        let missing = try kubectl("get", "secret", "nope", expectSuccess: false)
        XCTAssertEqual(missing, "Error from server (NotFound): secrets \"nope\" not found\n")
    }
}
