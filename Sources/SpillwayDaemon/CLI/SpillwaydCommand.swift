import ArgumentParser
import FoundationEssentials
import Glibc
import SpillwayReactor

/// `spillwayd`: the root command. `run` is the default subcommand.
public struct SpillwaydCommand: ParsableCommand {
    public static let configuration = CommandConfiguration(
        commandName: "spillwayd",
        abstract: "Replicates Kubernetes Secrets and ConfigMaps into other namespaces, driven by annotations.",
        discussion: """
            Every option is also a SPILLWAY_<NAME> environment variable (SPILLWAY_SYNC_PERIOD for \
            --sync-period) and a key of the config file (sync-period: 5m). Flags win over the \
            environment, the environment over the file; an empty value keeps the default. An \
            invalid value stops the daemon with exit code 2 before it contacts the cluster. The \
            original spillway's spellings work too: -flag, --flag=true|false, -version, \
            --zap-log-level, --zap-encoder.
            """,
        version: SpillwayVersion.report,
        subcommands: [RunCommand.self, PlanCommand.self, UninstallCommand.self, VersionCommand.self],
        defaultSubcommand: RunCommand.self)

    public init() {}

    /// Exit code for every configuration or usage error, as Go's flag package and the chart's
    /// probes expect; ArgumentParser's own is 64.
    public static let usageExitCode: Int32 = 2

    /// The process entry point: parses, runs, and maps errors to exit codes.
    public static func main(arguments: [String] = Array(CommandLine.arguments.dropFirst())) -> Never {
        do {
            var command = try parseAsRoot(try GoFlagSpellings.normalize(arguments))
            try command.run()
            Glibc.exit(0)
        } catch let error as SettingsError {
            StandardError.write("spillwayd: \(error)\n")
            Glibc.exit(usageExitCode)
        } catch let error as ConnectionError {
            StandardError.write("spillwayd: \(error)\n")
            Glibc.exit(usageExitCode)
        } catch let error as ManifestFile.Problem {
            StandardError.write("spillwayd: \(error)\n")
            Glibc.exit(usageExitCode)
        } catch {
            let code = exitCode(for: error)
            if code == .validationFailure {
                StandardError.write((fullMessage(for: error) + "\n"))
                Glibc.exit(usageExitCode)
            }
            exit(withError: error)
        }
    }
}

struct VersionCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "version", abstract: "Print the version, the commit it was built from and the build date.")

    func run() {
        print(SpillwayVersion.report)
    }
}
