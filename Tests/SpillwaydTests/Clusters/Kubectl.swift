import Foundation
import KubeEmulator
import KubeWire

/// The machine's kubectl, the scenarios' own client of the cluster: it shares no code with
/// spillway's KubeClient, so a client bug cannot hide itself from the tests.
struct Kubectl: Sendable {
    static let path = "/usr/bin/kubectl"
    static var available: Bool { FileManager.default.isExecutableFile(atPath: path) }

    let kubeconfig: String
    let scratch: URL

    struct Failure: Error, CustomStringConvertible {
        let description: String
    }

    /// Runs kubectl; a non-zero exit throws with its arguments and output.
    @discardableResult
    func callAsFunction(_ arguments: String..., stdin: String? = nil) throws -> String {
        try run(arguments, stdin: stdin)
    }

    @discardableResult
    func run(_ arguments: [String], stdin: String? = nil) throws -> String {
        let result = try attempt(arguments, stdin: stdin)
        guard result.status == 0 else {
            throw Failure(description: "kubectl \(arguments.joined(separator: " ")) exited \(result.status): \(result.output)")
        }
        return result.output
    }

    /// Runs kubectl and returns its exit status and combined output, whatever they are.
    func attempt(_ arguments: [String], stdin: String? = nil) throws -> (status: Int32, output: String) {
        // Output to a file, not a pipe: a large answer cannot block kubectl while we wait.
        let output = scratch.appendingPathComponent("kubectl-\(UUID().uuidString).out")
        _ = FileManager.default.createFile(atPath: output.path, contents: nil)
        defer { try? FileManager.default.removeItem(at: output) }
        let handle = try FileHandle(forWritingTo: output)
        defer { try? handle.close() }
        let process = Process()
        process.executableURL = URL(fileURLWithPath: Self.path)
        process.arguments = ["--kubeconfig", kubeconfig, "--cache-dir", scratch.appendingPathComponent("kubectl-cache").path] + arguments
        process.environment = ["PATH": "/usr/bin:/bin", "HOME": scratch.path]
        process.standardOutput = handle
        process.standardError = handle
        let input = Pipe()
        process.standardInput = stdin == nil ? FileHandle.nullDevice : input
        try process.run()
        if let stdin {
            input.fileHandleForWriting.write(Data(stdin.utf8))
            try? input.fileHandleForWriting.close()
        }
        process.waitUntilExit()
        return (process.terminationStatus, String(decoding: (try? Data(contentsOf: output)) ?? Data(), as: UTF8.self))
    }

    /// `kubectl … -o json`, parsed.
    func json(_ arguments: String...) throws -> JSONValue {
        try JSONParser.parse(try run(arguments + ["-o", "json"]))
    }

    /// Creates or updates `object` (server-side validation, as a user's `kubectl apply`).
    func apply(_ object: JSONValue) throws {
        try run(["apply", "-f", "-"], stdin: object.jsonString)
    }
}
