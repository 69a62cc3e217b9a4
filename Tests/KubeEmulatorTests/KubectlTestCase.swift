import Foundation
import KubeEmulator
import XCTest

/// A TLS emulator, a scratch directory holding its kubeconfig, and the real kubectl pointed at
/// it: what the kubectl-fidelity tests share.
class KubectlTestCase: XCTestCase {
    var emu: KubeEmulator!
    var dir: String!
    var kubeconfig: String { dir + "/kubeconfig" }

    override func setUpWithError() throws {
        emu = try KubeEmulator.start(.init(tls: true, threads: 1))
        dir = NSTemporaryDirectory() + "emu-kubectl-\(UUID().uuidString)"
        try FileManager.default.createDirectory(atPath: dir, withIntermediateDirectories: true)
        try emu.writeKubeconfig(to: kubeconfig)
    }

    override func tearDown() {
        emu.shutdown()
        try? FileManager.default.removeItem(atPath: dir)
    }

    @discardableResult
    func kubectl(_ args: String..., input: String? = nil, expectSuccess: Bool = true) throws -> String {
        let exe = try requireTool("/usr/bin/kubectl")
        let (status, out) = try runProcess(exe, ["--kubeconfig", kubeconfig, "--cache-dir", dir + "/cache"] + args, input: input)
        if expectSuccess { XCTAssertEqual(status, 0, "kubectl \(args.joined(separator: " ")): \(out)") }
        return out
    }
}
