import FoundationEssentials
import KubeClient
import SpillwayContract

/// One target cluster the settings allow: a kubeconfig context, how to reach it, and what it
/// sets apart from the daemon's own settings.
struct TargetContext: Equatable {
    /// The context name: what `replicate-to-clusters` names.
    var name: String
    var connection: ClientConfiguration
    var settings: TargetClusterSettings

    static func == (a: TargetContext, b: TargetContext) -> Bool {
        a.name == b.name && a.settings == b.settings && ReplicationService.sameConnection(a.connection, b.connection)
    }
}

/// Resolves `target-contexts` against the kubeconfig that holds them (`--target-kubeconfig`,
/// else the watched cluster's): each name must be a context there, each glob must match one.
/// A context that reaches the watched cluster's own server is refused when named (the watched
/// cluster is `local` in `replicate-to-clusters`) and left out when a glob matches it.
enum TargetClusters {
    struct Resolution {
        var targets: [TargetContext]
        /// Contexts a glob matched but that were left out, and why (for the log).
        var skipped: [String]
    }

    static func resolve(_ settings: Settings, watched: ClientConfiguration, environment: [String: String]) throws -> Resolution {
        guard !settings.targetContexts.isEmpty else { return Resolution(targets: [], skipped: []) }
        let (kubeconfig, listing) = try load(settings, watched: watched, environment: environment)
        let contexts = kubeconfig.contexts.keys.sorted()
        var chosen: [String] = []
        var skipped: [String] = []
        for entry in settings.targetContexts {
            let pattern: ClusterPattern
            do {
                pattern = try ClusterPattern.parseList(entry)[0]
            } catch {
                throw ConnectionError(message: "target-contexts \"\(entry)\": \(error.message)")
            }
            let matched = contexts.filter { pattern.matches(context: $0) }
            if case .name(let name) = pattern, matched.isEmpty {
                throw ConnectionError(message: "target context \"\(name)\" (from target-contexts) is not defined in \(listing) "
                                      + "(contexts: \(contexts.joined(separator: ", ")))")
            }
            if matched.isEmpty {
                throw ConnectionError(message: "target-contexts pattern \"\(entry)\" matches no context of \(listing) "
                                      + "(contexts: \(contexts.joined(separator: ", ")))")
            }
            for name in matched where !chosen.contains(name) {
                if name == Vocabulary.localCluster {
                    skipped.append("\(name): the watched cluster's reserved name")
                    continue
                }
                chosen.append(name)
            }
        }
        var targets: [TargetContext] = []
        for name in chosen {
            let connection: ClientConfiguration
            do {
                connection = try kubeconfig.resolve(context: name, listing: listing)
            } catch {
                throw ConnectionError(message: "target context \"\(name)\": \(error.message)")
            }
            if connection.server == watched.server {
                if settings.targetContexts.contains(name) {
                    throw ConnectionError(message: "target context \"\(name)\" reaches the watched cluster (\(connection.server)); "
                                          + "replicate-to-clusters names the watched cluster `local`")
                }
                skipped.append("\(name): reaches the watched cluster (\(connection.server))")
                continue
            }
            targets.append(TargetContext(name: name, connection: connection, settings: settings.targetClusters[name] ?? TargetClusterSettings()))
        }
        for name in settings.targetClusters.keys.sorted() where !targets.contains(where: { $0.name == name }) {
            throw ConnectionError(message: "target-clusters sets \"\(name)\", which is not a target context "
                                  + "(target-contexts allows \(targets.map(\.name).joined(separator: ", ")))")
        }
        return Resolution(targets: targets, skipped: skipped)
    }

    /// The kubeconfig of the target contexts, and how messages name it.
    private static func load(_ settings: Settings, watched: ClientConfiguration,
                             environment: [String: String]) throws -> (Kubeconfig, String) {
        do {
            if let path = settings.targetKubeconfig ?? settings.kubeconfig {
                return (try Kubeconfig.load(paths: [path], mustExist: true), "kubeconfig \(path)")
            }
            if let list = environment["KUBECONFIG"], !list.isEmpty {
                let paths = list.split(separator: ":", omittingEmptySubsequences: true).map(String.init)
                return (try Kubeconfig.load(paths: paths, mustExist: false), "KUBECONFIG (\(paths.joined(separator: ", ")))")
            }
            if ReplicationService.isInCluster(watched) {
                throw ConnectionError(message: "target-contexts needs --target-kubeconfig: the watched cluster is reached "
                                      + "in-cluster, which has no contexts")
            }
            let path = (environment["HOME"] ?? FileManager.default.homeDirectoryForCurrentUser.path) + "/.kube/config"
            return (try Kubeconfig.load(paths: [path], mustExist: true), "kubeconfig \(path)")
        } catch let error as ConfigurationError {
            throw ConnectionError(message: error.message)
        }
    }
}
