import Foundation
import PackagePlugin

/// Generates `BuildInfo` (version, commit, build date) for SpillwayDaemon on every build by
/// running scripts/build-info, so that the VERSION file is the one place the version is written
/// and `spillwayd version` names the commit it was built from.
///
/// A prebuild command runs with only the environment it is given: the variables the script
/// reads are passed through from the build's own environment.
@main
struct SpillwayBuildInfo: BuildToolPlugin {
    func createBuildCommands(context: PluginContext, target: Target) throws -> [Command] {
        let script = context.package.directoryURL.appending(components: "scripts", "build-info")
        let output = context.pluginWorkDirectoryURL.appending(component: "generated")
        let passed = ["PATH", "HOME", "SOURCE_DATE_EPOCH", "SPILLWAY_COMMIT"]
        let environment = ProcessInfo.processInfo.environment.filter { passed.contains($0.key) }
        return [
            .prebuildCommand(
                displayName: "Generating BuildInfo.swift from VERSION and git",
                executable: URL(filePath: "/bin/sh"),
                arguments: [script.path, "--swift", output.appending(component: "BuildInfo.swift").path],
                environment: environment,
                outputFilesDirectory: output),
        ]
    }
}
