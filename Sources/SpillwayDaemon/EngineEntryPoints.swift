import ArgumentParser
import Dispatch
import FoundationEssentials
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
        var problems: [String] = []
        if objects.isEmpty {
            (reports, problems) = try OneShotClient.run(request.settings, environment: environment) { client, targets in
                guard !targets.isEmpty else {
                    return (try await Engine.planCluster(client: client, options: options, namespaces: scope), [String]())
                }
                // With target clusters: the watched cluster's plan knows which it may write to, and
                // each target cluster is planned by its own rules; one that cannot be read is said.
                let snapshot = try await Engine.snapshot(client: client)
                let sourceCluster = try await OneShotClient.clusterName(request.settings, client: client)
                let planner = Planner(options: options, placement: Placement(sourceCluster: sourceCluster, allowedClusters: Set(targets.map(\.name))))
                let now = WallClock.system.now
                var reports = snapshot.reports(planner: planner, now: now, namespaces: scope)
                    + snapshot.profileReports(planner: planner, now: now, namespaces: scope)
                var problems: [String] = []
                for target in targets {
                    do throws(KubeClientError) {
                        reports += try await Engine.planTargetCluster(target.name, client: target.client, watched: snapshot, options: target.contract,
                                                                      sourceCluster: sourceCluster, namespaces: scope, now: now)
                    } catch {
                        problems.append("cluster \(target.name) was not planned: \(error)")
                    }
                }
                return (reports, problems)
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
        guard problems.isEmpty else {
            for problem in problems { StandardError.write("spillwayd plan: \(problem)\n") }
            throw ExitCode(1)
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
            snapshot = try OneShotClient.run(settings, environment: environment, targets: false) { client, _ in
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
        // Sources are counted once, by the watched cluster's reports; target clusters are named.
        let local = reports.filter { $0.cluster == nil }
        let pulls = local.filter { $0.pullFrom != nil }.count
        let sourceCount = local.count - pulls
        var sources = sourceCount == 1 ? "1 source" : "\(sourceCount) sources"
        if pulls > 0 { sources += pulls == 1 ? ", 1 pull" : ", \(pulls) pulls" }
        let clusters = Set(reports.compactMap(\.cluster)).sorted()
        if !clusters.isEmpty { sources += " (with target \(clusters.count == 1 ? "cluster" : "clusters") \(clusters.joined(separator: ", ")))" }
        return "plan: \(sources)" + (actions.isEmpty ? ", nothing to do" : ": " + actions.joined(separator: ", "))
    }

    static func uninstall(_ request: UninstallRequest) throws {
        let reports = try OneShotClient.run(request.settings, environment: ProcessInfo.processInfo.environment,
                                            targets: request.deleteReplicas) { client, targets in
            let logger = Logger(label: "spillway.uninstall")
            var reports: [UninstallReport] = []
            if !targets.isEmpty {
                // The replicas this cluster's sources wrote into the target clusters go first:
                // once the finalizers are gone nothing would remove them.
                let sourceCluster = try await OneShotClient.clusterName(request.settings, client: client)
                for target in targets {
                    reports.append(await Engine.uninstallTargetCluster(target.name, client: target.client, sourceCluster: sourceCluster,
                                                                       logger: logger))
                }
            }
            reports.append(await Engine.uninstall(client: client, deleteReplicas: request.deleteReplicas, logger: logger))
            return reports
        }
        var report = UninstallReport()
        for part in reports {
            for line in part.lines { print(line) }
            report.finalizersRemoved += part.finalizersRemoved
            report.profileFinalizersRemoved += part.profileFinalizersRemoved
            report.replicasDeleted += part.replicasDeleted
            report.failures += part.failures
        }
        let summary =
            "uninstall: \(report.finalizersRemoved.count + report.profileFinalizersRemoved.count) finalizer(s) removed"
            + (request.deleteReplicas ? ", \(report.replicasDeleted.count) replica(s) deleted" : "")
            + (reports.count > 1 ? " (in the watched cluster and \(reports.count - 1) target \(reports.count == 2 ? "cluster" : "clusters"))" : "")
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
    /// A target cluster (`--target-contexts`) as a one-shot command reaches it.
    struct Target: @unchecked Sendable {
        var name: String
        var client: KubeClient
        /// The contract as it applies there (its protected namespaces and consent rule).
        var contract: SpillwayContract.Options
    }

    /// Runs `body` with a client of the watched cluster and, with `targets`, one per target
    /// cluster the settings allow (resolved as the daemon resolves them, each with its own
    /// credentials and rate limit), all on one reactor thread.
    static func run<T: Sendable>(
        _ settings: Settings, environment: [String: String], targets withTargets: Bool = true,
        _ body: @escaping @Sendable (KubeClient, [Target]) async throws -> T
    ) throws -> T {
        let connection = try ReplicationService.connection(settings, environment: environment)
        let contexts = withTargets ? try TargetClusters.resolve(settings, watched: connection, environment: environment).targets : []
        let started = Outcome<(KubeClient, [Target], ReactorRemote)>()
        detachThread {
            do {
                let reactor = try Reactor()
                let client = try KubeClient(configuration: connection, reactor: reactor, rateLimit: rateLimit(settings.qps, settings.burst))
                let targets = try contexts.map { context in
                    Target(name: context.name,
                           client: try KubeClient(configuration: context.connection, reactor: reactor,
                                                  rateLimit: rateLimit(context.settings.qps ?? settings.qps, context.settings.burst ?? settings.burst)),
                           contract: ReplicationService.contractOptions(settings, for: context.settings))
                }
                started.finish(.success((client, targets, reactor.remote)))
                try reactor.run()
            } catch {
                started.finish(.failure(error))
            }
        }
        let (client, targets, remote) = try started.wait()
        defer { remote.stop() }
        let outcome = Outcome<T>()
        Task {
            do {
                outcome.finish(.success(try await body(client, targets)))
            } catch {
                outcome.finish(.failure(error))
            }
        }
        return try outcome.wait()
    }

    private static func rateLimit(_ qps: Double, _ burst: Int) -> RateLimitConfiguration {
        qps > 0 ? RateLimitConfiguration(qps: qps, burst: burst) : RateLimitConfiguration()
    }

    /// The watched cluster's name, as the daemon takes it: `--cluster-name`, else the uid of
    /// its `kube-system` namespace.
    static func clusterName(_ settings: Settings, client: KubeClient) async throws -> String {
        if let name = settings.clusterName { return name }
        let namespace = try await client.get(.namespaces, namespace: nil, name: "kube-system", metadataOnly: true)
        guard let uid = ObjectMeta(object: namespace)?.uid, !uid.isEmpty else {
            throw ConnectionError(message: "the watched cluster has no kube-system namespace to take its name from; set --cluster-name")
        }
        return uid
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
            text = try TextFile.text(path)
        } catch {
            throw Problem(description: "cannot read \(path): \(error.reason)")
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
