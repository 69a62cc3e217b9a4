import ArgumentParser
import FoundationEssentials
import SpillwayReactor

/// `spillwayd plan`: a dry run. Prints which replicas would be created, updated, deleted or
/// skipped, and why — from the live cluster, or from YAML files given as arguments.
struct PlanCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "plan",
        abstract: "Show what the daemon would change, without changing anything.")

    @OptionGroup var options: SettingsOptions

    @Option(help: "Output format: text or json.")
    var output: PlanRequest.Output = .text

    @Option(help: ArgumentHelp("Comma-separated namespaces to plan for. Default: every namespace.", valueName: "list"))
    var namespaces: String?

    @Argument(help: ArgumentHelp("YAML files of Secrets, ConfigMaps and Namespaces to plan from instead of the cluster.", valueName: "file"))
    var files: [String] = []

    func validate() throws {
        for file in files where !TextFile.isReadable(file) {
            throw ValidationError("cannot read \(file): no such file or not readable")
        }
    }

    func run() throws {
        let settings = try options.loader.load()
        var scope: [String]?
        if let namespaces {
            do {
                scope = try Settings.list(namespaces).map(Settings.namespaceName)
            } catch let problem as Settings.Problem {
                throw SettingsError(setting: "namespaces", source: .flag("--namespaces"), value: namespaces, problem: problem.text)
            }
        }
        try EngineEntryPoints.plan(PlanRequest(settings: settings, output: output, namespaces: scope, files: files))
    }
}

/// Everything `plan` hands to the engine.
public struct PlanRequest: Sendable {
    public enum Output: String, ExpressibleByArgument, CaseIterable, Sendable {
        case text, json
    }

    public var settings: Settings
    public var output: Output
    /// nil = every namespace.
    public var namespaces: [String]?
    /// Empty = read the live cluster.
    public var files: [String]
}

/// `spillwayd uninstall`: removes spillway's finalizers from every source and, with
/// `--delete-replicas`, every replica it manages, so removing the daemon strands nothing.
struct UninstallCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "uninstall",
        abstract: "Remove spillway's finalizers from sources (and optionally delete its replicas).")

    @OptionGroup var options: SettingsOptions

    @Flag(help: "Also delete every replica spillway manages.")
    var deleteReplicas = false

    func run() throws {
        let settings = try options.loader.load()
        try EngineEntryPoints.uninstall(UninstallRequest(settings: settings, deleteReplicas: deleteReplicas))
    }
}

/// Everything `uninstall` hands to the engine.
public struct UninstallRequest: Sendable {
    public var settings: Settings
    public var deleteReplicas: Bool
}
