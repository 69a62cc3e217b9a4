import ArgumentParser
import FoundationEssentials
import Glibc
import SpillwayReactor

/// `spillwayd run` (the default): the long-running daemon.
struct RunCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Run the daemon (the default).")

    @OptionGroup var options: SettingsOptions

    func run() throws {
        // Before anything can start a thread: the signals must reach only the loop's signalfd.
        try Reactor.blockSignals(DaemonRuntime.handledSignals)
        signal(SIGPIPE, SIG_IGN)

        let loader = options.loader
        let settings = try loader.load()
        let environment = ProcessInfo.processInfo.environment
        // A kubeconfig that cannot work is a configuration error like any other: say so and
        // exit 2 before anything starts.
        let connection = try ReplicationService.connection(settings, environment: environment)
        _ = try TargetClusters.resolve(settings, watched: connection, environment: environment)
        let logging = DaemonLogging(settings: settings, environment: environment)
        let runtime = try DaemonRuntime(settings: settings, loader: loader, logging: logging, environment: environment)
        let code = runtime.run([ReplicationService(environment: environment)])
        if code != 0 { throw ExitCode(code) }
    }
}
