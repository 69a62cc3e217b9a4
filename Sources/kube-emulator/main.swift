import ArgumentParser
import Dispatch
import Foundation
import KubeEmulator

#if canImport(Glibc)
import Glibc
#endif

struct KubeEmulatorCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "kube-emulator",
        abstract: "A Kubernetes API server emulator (namespaces, secrets, configmaps, events, leases) for tests and demos.",
        subcommands: [Serve.self, Bench.self],
        defaultSubcommand: Serve.self)
}

struct Serve: ParsableCommand {
    static let configuration = CommandConfiguration(
        abstract: "Serve the API on 127.0.0.1 until SIGTERM or SIGINT.",
        discussion: """
            Signals: SIGHUP restarts the server on the same port keeping its state; SIGUSR1 drops every \
            open watch; SIGUSR2 compacts the history (resuming from an older resourceVersion answers 410).
            Admin endpoints (admin identity only): POST /_emulator/faults, GET|DELETE /_emulator/requests, \
            POST /_emulator/restart, GET /_emulator/state.
            """)

    @Option(help: "Port to listen on; 0 picks a free one.") var port = 0
    @Option(help: "Address to listen on.") var host = "127.0.0.1"
    @Flag(help: "Serve HTTPS (HTTP/2 and HTTP/1.1) with a CA generated at start.") var tls = false
    @Option(help: "Load state from this file at start (if it exists) and save it at shutdown.") var stateFile: String?
    @Option(help: "Write a kubeconfig for the admin identity to this path.") var kubeconfigOut: String?
    @Option(help: "Write the CA certificate (PEM) to this path (TLS only).") var caOut: String?
    @Flag(help: "Print the server URL on stdout once listening.") var printPort = false
    @Option(help: "Seconds between watch bookmarks.") var bookmarkSeconds = 60
    @Option(help: "Events kept for watch resumption.") var historyLimit = 10_000
    @Flag(help: "Answer streaming lists (sendInitialEvents) with 422, as a server with the WatchList gate off.") var noWatchList = false
    @Option(help: "Extra bearer token as TOKEN=USER[:GROUP,GROUP...] (repeatable).") var token: [String] = []
    @Option(help: "Serve the custom resource of this CustomResourceDefinition manifest (YAML; repeatable).") var crd: [String] = []

    func run() throws {
        var tokens: [String: Identity] = [:]
        for t in token {
            let parts = t.split(separator: "=", maxSplits: 1).map(String.init)
            guard parts.count == 2, !parts[0].isEmpty else { throw ValidationError("--token must be TOKEN=USER[:GROUPS], got \(t)") }
            let who = parts[1].split(separator: ":", maxSplits: 1).map(String.init)
            tokens[parts[0]] = Identity(user: who[0], groups: (who.count > 1 ? who[1].split(separator: ",").map(String.init) : []) + ["system:authenticated"])
        }
        var definitions: [CustomResourceDefinition] = []
        for path in crd {
            do {
                definitions.append(try CustomResourceDefinition(yaml: String(contentsOfFile: path, encoding: .utf8)))
            } catch {
                throw ValidationError("--crd \(path): \(error)")
            }
        }
        let emu = try KubeEmulator.start(.init(
            tls: tls, host: host, port: port, bookmarkInterval: .seconds(Int64(bookmarkSeconds)), historyLimit: historyLimit,
            watchList: !noWatchList, tokens: tokens, stateFile: stateFile))
        for definition in definitions { emu.register(definition) }
        if let kubeconfigOut { try emu.writeKubeconfig(to: kubeconfigOut) }
        if let caOut, let ca = emu.caPEM { try ca.write(toFile: caOut, atomically: true, encoding: .utf8) }
        if printPort {
            FileHandle.standardOutput.write(Data((emu.baseURL + "\n").utf8))
        }
        FileHandle.standardError.write(Data("kube-emulator: serving \(emu.baseURL)\(tls ? "" : " (plain HTTP, anonymous = admin)")\n".utf8))

        let queue = DispatchQueue(label: "kube-emulator.signals")
        var sources: [DispatchSourceSignal] = []
        func on(_ sig: Int32, _ action: @escaping @Sendable () -> Void) {
            signal(sig, SIG_IGN)
            let s = DispatchSource.makeSignalSource(signal: sig, queue: queue)
            s.setEventHandler(handler: action)
            s.resume()
            sources.append(s)
        }
        let stop: @Sendable () -> Void = {
            emu.shutdown()
            FileHandle.standardError.write(Data("kube-emulator: stopped\n".utf8))
            Foundation.exit(0)
        }
        on(SIGTERM, stop)
        on(SIGINT, stop)
        on(SIGHUP) {
            do { try emu.restart() } catch {
                FileHandle.standardError.write(Data("kube-emulator: restart failed: \(error)\n".utf8))
            }
        }
        on(SIGUSR1) { emu.faults.dropWatches() }
        on(SIGUSR2) { emu.faults.compact() }
        dispatchMain()
    }
}

KubeEmulatorCommand.main()
