import FoundationEssentials
import Glibc
import KubeWire

/// What an exec credential plugin returned.
public struct ExecCredential: Sendable, Equatable {
    public var token: String?
    public var clientCertificatePEM: [UInt8]?
    public var clientKeyPEM: [UInt8]?
    /// When the credential stops being valid; nil = until the server rejects it (401).
    public var expiration: Date?

    /// How long a plugin may run before it is killed and the request fails. kubectl waits
    /// forever; a daemon cannot, as every request waits for the credential. Real plugins answer
    /// within a few seconds (they may call a cloud API); half a minute leaves room for a slow
    /// identity provider while keeping a hung plugin from parking requests for long.
    public static let defaultTimeout: Duration = .seconds(30)

    /// Runs the plugin (blocking: call it off the reactor thread) and parses its ExecCredential.
    /// The plugin starts with no signal blocked or ignored, whatever the calling thread blocks,
    /// and is killed (with its process group) when it runs longer than `timeout`.
    /// Errors say which command failed and how, with the plugin's install hint when it is missing;
    /// they never include the credential itself.
    public static func run(
        _ exec: Kubeconfig.ExecConfig, clusterInfo: JSONValue?, timeout: Duration = defaultTimeout
    ) throws(KubeClientError) -> ExecCredential {
        var spec: JSONValue = ["interactive": false]
        if let clusterInfo { spec["cluster"] = clusterInfo }
        let input: JSONValue = ["apiVersion": .string(exec.apiVersion), "kind": "ExecCredential", "spec": spec]

        var env = ProcessInfo.processInfo.environment
        for e in exec.env { env[e.name] = e.value }
        env["KUBERNETES_EXEC_INFO"] = input.jsonString
        let hint = exec.installHint.map { "\n\($0)" } ?? ""
        let plugin: PluginProcess
        do {
            plugin = try PluginProcess.run([exec.command] + exec.args, environment: env, timeout: timeout)
        } catch {
            if error.code == .ENOENT && !exec.command.contains("/") {
                throw .credentials("exec plugin \"\(exec.command)\" was not found in PATH\(hint)")
            }
            throw .credentials("exec plugin \"\(exec.command)\" could not be started: \(String(cString: strerror(error.code.rawValue)))\(hint)")
        }
        let errText = String(decoding: plugin.stderrTail, as: UTF8.self).trimmingWhitespace()
        switch plugin.ending {
        case .exited(0):
            return try parse(output: plugin.stdout, command: exec.command, apiVersion: exec.apiVersion)
        case .exited(let status):
            throw .credentials("exec plugin \"\(exec.command)\" exited with status \(status)\(errText.isEmpty ? "" : ": \(errText)")")
        case .killedBySignal(let signal):
            throw .credentials("exec plugin \"\(exec.command)\" was killed by signal \(signal)\(errText.isEmpty ? "" : ": \(errText)")")
        case .timedOut:
            throw .credentials("exec plugin \"\(exec.command)\" did not answer within \(Self.format(timeout)) and was killed")
        }
    }

    /// "30 s", "1.5 s".
    private static func format(_ duration: Duration) -> String {
        let (seconds, attoseconds) = duration.components
        if attoseconds == 0 { return "\(seconds) s" }
        return "\(Double(seconds) + Double(attoseconds) / 1e18) s"
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
            guard let d = Timestamp.parse(ts) else {
                throw .credentials("exec plugin \"\(command)\" returned an unparsable expirationTimestamp \"\(ts)\"")
            }
            c.expiration = d
        }
        return c
    }
}
