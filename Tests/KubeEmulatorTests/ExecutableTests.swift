import Foundation
@testable import KubeEmulator
import KubeWire
import XCTest

/// The `kube-emulator` executable: serves, writes its kubeconfig, answers kubectl, obeys its
/// signals and saves its state on SIGTERM.
final class ExecutableTests: XCTestCase {
    /// The built executable, beside the test bundle in the build products directory.
    private var executable: String {
        // Linux: the bundle URL is the products directory; Darwin: the .xctest bundle inside it.
        let bundle = Bundle(for: ExecutableTests.self).bundleURL
        let candidates = [bundle, bundle.deletingLastPathComponent()].map { $0.appendingPathComponent("kube-emulator").path }
        return candidates.first { FileManager.default.isExecutableFile(atPath: $0) } ?? candidates[0]
    }

    func testServeWritesKubeconfigAnswersKubectlAndSavesStateOnSIGTERM() throws {
        let dir = NSTemporaryDirectory() + "emu-exe-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: dir) }
        let exe = try requireTool(executable, hint: "build it first with swift build --build-tests")
        let kubectl = try requireTool("/usr/bin/kubectl")

        let p = Process()
        p.executableURL = URL(fileURLWithPath: exe)
        p.arguments = ["serve", "--port", "0", "--tls", "--state-file", dir + "/state.json", "--kubeconfig-out", dir + "/kubeconfig", "--print-port"]
        let out = Pipe()
        p.standardOutput = out
        p.standardError = FileHandle.nullDevice
        try p.run()
        defer { if p.isRunning { p.terminate() } }

        var line = Data()
        while !line.contains(0x0a) {
            let d = out.fileHandleForReading.availableData
            if d.isEmpty { break }
            line += d
        }
        let url = String(decoding: line, as: UTF8.self).trimmingCharacters(in: .whitespacesAndNewlines)
        XCTAssertTrue(url.hasPrefix("https://127.0.0.1:"), url)

        let args = ["--kubeconfig", dir + "/kubeconfig", "--cache-dir", dir + "/cache"]
        let (s1, o1) = try runProcess(kubectl, args + ["create", "configmap", "kept", "--from-literal=a=b"])
        XCTAssertEqual(s1, 0, o1)
        XCTAssertEqual(o1, "configmap/kept created\n")

        kill(p.processIdentifier, SIGHUP)  // restart on the same port, keeping state
        var got = (Int32(1), "")
        for _ in 0..<100 {
            got = try runProcess(kubectl, args + ["get", "configmap", "kept", "-o", "name"])
            if got.0 == 0 { break }
            Thread.sleep(forTimeInterval: 0.1)
        }
        XCTAssertEqual(got.1, "configmap/kept\n")

        p.terminate()
        p.waitUntilExit()
        XCTAssertEqual(p.terminationStatus, 0)
        let state = try JSONParser.parse(Array(try Data(contentsOf: URL(fileURLWithPath: dir + "/state.json"))))
        let names = state["items"]?.arrayValue?.compactMap { $0["metadata"]?["name"]?.stringValue } ?? []
        XCTAssertTrue(names.contains("kept"), "state saved on SIGTERM: \(names)")
    }
}
