import ArgumentParser
import Foundation
import KubeClient
import KubeWire
import Logging
import SpillwayContract
import SpillwayEngine
import SpillwayLoop
import SpillwayReactor

/// Where the one-shot subcommands meet the replication engine: `plan` (reads, never writes) and
/// `uninstall`.
enum EngineEntryPoints {
    static func plan(_ request: PlanRequest) throws {
        let environment = ProcessInfo.processInfo.environment
        let objects = try request.files.flatMap(ManifestFile.objects)
        let options = ReplicationService.engineOptions(request.settings).contract
        let scope = request.namespaces.map(Set.init)
        let reports: [PlanReport]
        if objects.isEmpty {
            reports = try OneShotClient.run(request.settings, environment: environment) { client in
                try await Engine.planCluster(client: client, options: options, namespaces: scope)
            }
        } else {
            reports = try planFiles(objects, options: options, namespaces: request.namespaces, settings: request.settings, environment: environment)
        }
        switch request.output {
        case .json:
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys, .withoutEscapingSlashes]
            print(String(decoding: try encoder.encode(reports), as: UTF8.self))
        case .text:
            for line in reports.flatMap(\.lines) { print(line) }
            print(summary(reports))
        }
    }

    /// The sources of the files, planned against the given namespaces (no cluster needed), or
    /// else against the live cluster as it is — its namespaces and the objects already there —
    /// as if the files were applied to it.
    private static func planFiles(
        _ objects: [JSONValue], options: SpillwayContract.Options, namespaces: [String]?, settings: Settings,
        environment: [String: String]
    ) throws -> [PlanReport] {
        var snapshot: ClusterSnapshot
        if let namespaces {
            snapshot = ClusterSnapshot()
            for name in namespaces { snapshot.addNamespace(["metadata": ["name": .string(name)]]) }
        } else {
            snapshot = try OneShotClient.run(settings, environment: environment) { client in
                try await Engine.snapshot(client: client)
            }
        }
        var given: Set<ObjectKey> = []
        var givenProfiles: Set<String> = []
        for object in objects {
            switch object["kind"]?.stringValue {
            case "Namespace":
                snapshot.addNamespace(object)
            case Vocabulary.profileKind:
                snapshot.addProfile(object)
                if let profile = ProfileObject(json: object) { givenProfiles.insert(profile.key.description) }
            case let name?:
                guard let kind = Kind(rawValue: name) else { continue }
                snapshot.add(object, kind: kind)
                let metadata = object["metadata"]
                given.insert(ObjectKey(
                    kind: kind, namespace: metadata?["namespace"]?.stringValue ?? "default",
                    name: metadata?["name"]?.stringValue ?? ""))
            case nil:
                continue
            }
        }
        let scope = namespaces.map(Set.init)
        let planner = Planner(options: options)
        let now = WallClock.system.now
        return snapshot.reports(planner: planner, now: now, namespaces: scope)
            .filter { given.contains($0.source) }
            + snapshot.profileReports(planner: planner, now: now, namespaces: scope)
            .filter { $0.profile.map(givenProfiles.contains) ?? false }
    }

    static func summary(_ reports: [PlanReport]) -> String {
        var counts: [String: Int] = [:]
        for entry in reports.flatMap(\.decisions) { counts[entry.action, default: 0] += 1 }
        let actions = ["create", "update", "recreate", "delete", "release", "skip", "unchanged"].compactMap { action in
            counts[action].map { "\($0) \(action)" }
        }
        let pulls = reports.filter { $0.pullFrom != nil }.count
        let sourceCount = reports.count - pulls
        var sources = sourceCount == 1 ? "1 source" : "\(sourceCount) sources"
        if pulls > 0 { sources += pulls == 1 ? ", 1 pull" : ", \(pulls) pulls" }
        return "plan: \(sources)" + (actions.isEmpty ? ", nothing to do" : ": " + actions.joined(separator: ", "))
    }

    static func uninstall(_ request: UninstallRequest) throws {
        let report = try OneShotClient.run(request.settings, environment: ProcessInfo.processInfo.environment) { client in
            await Engine.uninstall(client: client, deleteReplicas: request.deleteReplicas, logger: Logger(label: "spillway.uninstall"))
        }
        for line in report.lines { print(line) }
        let summary =
            "uninstall: \(report.finalizersRemoved.count + report.profileFinalizersRemoved.count) finalizer(s) removed"
            + (request.deleteReplicas ? ", \(report.replicasDeleted.count) replica(s) deleted" : "")
        if report.failures.isEmpty {
            print(summary + "; done")
        } else {
            print(summary + "; \(report.failures.count) failure(s): run it again once the cause is fixed")
            throw ExitCode(1)
        }
    }
}

/// A reactor on a thread of its own and a client on it, for the one-shot commands, which drive
/// the client through its async conveniences from the calling thread.
enum OneShotClient {
    static func run<T: Sendable>(
        _ settings: Settings, environment: [String: String], _ body: @escaping @Sendable (KubeClient) async throws -> T
    ) throws -> T {
        let connection = try ReplicationService.connection(settings, environment: environment)
        let rateLimit = settings.qps > 0 ? RateLimitConfiguration(qps: settings.qps, burst: settings.burst) : RateLimitConfiguration()
        let started = Outcome<(KubeClient, ReactorRemote)>()
        let thread = Thread {
            do {
                let reactor = try Reactor()
                let client = try KubeClient(configuration: connection, reactor: reactor, rateLimit: rateLimit)
                started.finish(.success((client, reactor.remote)))
                try reactor.run()
            } catch {
                started.finish(.failure(error))
            }
        }
        thread.start()
        let (client, remote) = try started.wait()
        defer { remote.stop() }
        let outcome = Outcome<T>()
        Task {
            do {
                outcome.finish(.success(try await body(client)))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        return try outcome.wait()
    }

    /// A result handed from one thread to a waiting one.
    private final class Outcome<T>: @unchecked Sendable {
        private let semaphore = DispatchSemaphore(value: 0)
        private var result: Result<T, Error>?

        func finish(_ result: Result<T, Error>) {
            self.result = result
            semaphore.signal()
        }

        func wait() throws -> T {
            semaphore.wait()
            return try result!.get()
        }
    }
}

/// Kubernetes manifests in YAML (or JSON, which is YAML): several documents per file, and
/// `kind: List` documents, read as the API would see them.
enum ManifestFile {
    struct Problem: Error, CustomStringConvertible {
        var description: String
    }

    static func objects(_ path: String) throws -> [JSONValue] {
        let text: String
        do {
            text = try String(contentsOfFile: path, encoding: .utf8)
        } catch {
            throw Problem(description: "cannot read \(path): \(error.localizedDescription)")
        }
        do {
            var objects: [JSONValue] = []
            for value in try YAMLToJSON.documents(text) {
                if value["kind"]?.stringValue == "List" {
                    objects += value["items"]?.arrayValue ?? []
                } else if value.objectValue != nil {
                    objects.append(value)
                }
            }
            return objects
        } catch {
            throw Problem(description: "\(path) is not valid YAML: \(error)")
        }
    }
}
