import Foundation
import KubeWire

/// What an exec credential plugin returned.
public struct ExecCredential: Sendable, Equatable {
    public var token: String?
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    /// When the credential stops being valid; nil = until the server rejects it (401).
    public var expiration: Date?

    /// Runs the plugin (blocking: call it off the reactor thread) and parses its ExecCredential.
    /// Errors say which command failed and how, with the plugin's install hint when it is missing;
    /// they never include the credential itself.
    public static func run(_ exec: Kubeconfig.ExecConfig, clusterInfo: JSONValue?) throws(KubeClientError) -> ExecCredential {
        var spec: JSONValue = ["interactive": false]
        if let clusterInfo { spec["cluster"] = clusterInfo }
        let input: JSONValue = ["apiVersion": .string(exec.apiVersion), "kind": "ExecCredential", "spec": spec]

        let process = Process()
        if exec.command.contains("/") {
            process.executableURL = URL(fileURLWithPath: exec.command)
            process.arguments = exec.args
        } else {
            process.executableURL = URL(fileURLWithPath: "/usr/bin/env")
            process.arguments = [exec.command] + exec.args
        }
        var env = ProcessInfo.processInfo.environment
        for e in exec.env { env[e.name] = e.value }
        env["KUBERNETES_EXEC_INFO"] = input.jsonString
        process.environment = env
        let stdout = Pipe()
        let stderr = Pipe()
        process.standardOutput = stdout
        process.standardError = stderr
        process.standardInput = FileHandle.nullDevice
        let hint = exec.installHint.map { "\n\($0)" } ?? ""
        do {
            try process.run()
        } catch {
            throw .credentials("exec plugin \"\(exec.command)\" could not be started: \(error.localizedDescription)\(hint)")
        }
        // Read both pipes before waiting, so a chatty plugin cannot block on a full pipe.
        let errData = ThreadReader(stderr.fileHandleForReading)
        let outData = stdout.fileHandleForReading.readDataToEndOfFile()
        process.waitUntilExit()
        let errText = String(decoding: errData.finish().suffix(2048), as: UTF8.self).trimmingWhitespace()
        if process.terminationReason == .exit && process.terminationStatus == 127 && !exec.command.contains("/") {
            throw .credentials("exec plugin \"\(exec.command)\" was not found in PATH\(hint)")
        }
        guard process.terminationReason == .exit, process.terminationStatus == 0 else {
            let how = process.terminationReason == .exit ? "exited with status \(process.terminationStatus)" : "was killed by signal \(process.terminationStatus)"
            throw .credentials("exec plugin \"\(exec.command)\" \(how)\(errText.isEmpty ? "" : ": \(errText)")")
        }
        return try parse(output: [UInt8](outData), command: exec.command, apiVersion: exec.apiVersion)
    }

    /// Parses the plugin's stdout.
    static func parse(output: [UInt8], command: String, apiVersion: String) throws(KubeClientError) -> ExecCredential {
        let json: JSONValue
        do {
            json = try JSONParser.parse(output)
        } catch {
            throw .credentials("exec plugin \"\(command)\" printed no valid ExecCredential JSON (\(error))")
        }
        guard json["kind"]?.stringValue == "ExecCredential" else {
            throw .credentials("exec plugin \"\(command)\" printed kind \"\(json["kind"]?.stringValue ?? "")\", not ExecCredential")
        }
        guard json["apiVersion"]?.stringValue == apiVersion else {
            throw .credentials("exec plugin \"\(command)\" answered apiVersion \"\(json["apiVersion"]?.stringValue ?? "")\" to a \(apiVersion) request")
        }
        guard let status = json["status"] else {
            throw .credentials("exec plugin \"\(command)\" returned an ExecCredential without status")
        }
        var c = ExecCredential()
        c.token = status["token"]?.stringValue.flatMap { $0.isEmpty ? nil : $0 }
        c.clientCertificatePEM = status["clientCertificateData"]?.stringValue.map { Array($0.utf8) }
        c.clientKeyPEM = status["clientKeyData"]?.stringValue.map { Array($0.utf8) }
        if (c.clientCertificatePEM == nil) != (c.clientKeyPEM == nil) {
            throw .credentials("exec plugin \"\(command)\" returned only one of clientCertificateData and clientKeyData")
        }
        if c.token == nil && c.clientCertificatePEM == nil {
            throw .credentials("exec plugin \"\(command)\" returned neither a token nor a client certificate")
        }
        if let ts = status["expirationTimestamp"]?.stringValue {
            guard let d = parseRFC3339(ts) else {
                throw .credentials("exec plugin \"\(command)\" returned an unparsable expirationTimestamp \"\(ts)\"")
            }
            c.expiration = d
        }
        return c
    }
}

func parseRFC3339(_ s: String) -> Date? {
    let f = ISO8601DateFormatter()
    f.formatOptions = [.withInternetDateTime]
    if let d = f.date(from: s) { return d }
    f.formatOptions = [.withInternetDateTime, .withFractionalSeconds]
    return f.date(from: s)
}

/// Drains a pipe on its own thread (a plugin's stderr), so neither pipe can fill up and stall it.
private final class ThreadReader: @unchecked Sendable {
    private let done = DispatchSemaphore(value: 0)
    private var data = Data()

    init(_ handle: FileHandle) {
        Thread.detachNewThread { [self] in
            data = handle.readDataToEndOfFile()
            done.signal()
        }
    }

    func finish() -> Data {
        done.wait()
        return data
    }
}
