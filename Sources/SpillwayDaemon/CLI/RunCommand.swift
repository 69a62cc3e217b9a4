import ArgumentParser
import Foundation
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
        let logging = DaemonLogging(settings: settings, environment: environment)
        let runtime = try DaemonRuntime(settings: settings, loader: loader, logging: logging, environment: environment)
        let code = runtime.run([])
        if code != 0 { throw ExitCode(code) }
    }
}
