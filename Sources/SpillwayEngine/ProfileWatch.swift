import Foundation
import KubeClient
import KubeWire
import Logging
import SpillwayContract

extension Resource {
    /// SpillwayProfiles at `version` (`v1`, or the original's `v1alpha1`).
    static func spillwayProfiles(_ version: String) -> Resource {
        Resource(group: Vocabulary.profileGroup, version: version, plural: Vocabulary.profilePlural,
                 kind: Vocabulary.profileKind, namespaced: true)
    }
}

extension InformerEvent {
    /// The object the event carries; nil for the brackets of a list.
    var object: KubeObject? {
        switch self {
        case .listed(let object), .added(let object), .modified(let object), .deleted(let object): object
        case .replaceBegin, .replaceEnd: nil
        }
    }
}

extension Engine {
    /// The name the profile watch holds the engine's sync under.
    static let profileSync = "spillwayprofiles"

    /// Finds where SpillwayProfiles are served and watches them. The engine counts as synced
    /// once they are listed, or once it knows they are not served (the CRD is not installed, or
    /// RBAC does not let it read them): then it serves annotation sources alone, leaves every
    /// profile replica as it is, and checks again every `profileProbeInterval`.
    func startProfiles() {
        holdSync(Self.profileSync)
        probeProfiles(Vocabulary.profileVersions[...])
    }

    private func probeProfiles(_ versions: ArraySlice<String>) {
        guard !stopping else { return }
        guard let version = versions.first else {
            profilesUnavailable("the SpillwayProfile CRD (\(Vocabulary.profilePlural).\(Vocabulary.profileGroup)) is not installed: profiles are not served; the chart and config/default install it",
                                level: .info)
            return
        }
        let resource = Resource.spillwayProfiles(version)
        client.list(resource, namespace: nil) { [weak self] result in
            guard let self, !self.stopping else { return }
            switch result {
            case .success:
                self.watchProfiles(resource)
            case .failure(let error) where error.status?.isNotFound == true:
                self.probeProfiles(versions.dropFirst())
            case .failure(let error) where error.status?.isForbidden == true:
                self.profilesUnavailable("not allowed to list \(resource): profiles are not served; grant list, watch and patch on \(Vocabulary.profilePlural), and patch on \(Vocabulary.profilePlural)/status (\(error))",
                                         level: .warning)
            case .failure(let error):
                self.profilesUnavailable("listing \(resource) failed: profiles are not served for now (\(error))", level: .warning)
            }
        }
    }

    private func profilesUnavailable(_ message: String, level: Logger.Level) {
        if profiles.probeProblem != message {
            profiles.probeProblem = message
            logger.log(level: level, "\(message); checking again in \(options.profileProbeInterval)")
        }
        releaseSync(Self.profileSync)
        do {
            try reactor.schedule(after: options.profileProbeInterval) { [weak self] in
                self?.probeProfiles(Vocabulary.profileVersions[...])
            }
        } catch {
            logger.warning("reactor refused a timer (\(error)); SpillwayProfiles are not checked for again")
        }
    }

    private func watchProfiles(_ resource: Resource) {
        profiles.resource = resource
        profiles.probeProblem = nil
        logger.info("SpillwayProfiles served at \(resource.apiVersion): watching them")
        let informer = Informer(client: client, options: Informer.Options(resource: resource)) { [unowned self] event in
            guard !self.stopping else { return }
            let wasServing = self.profiles.isServing
            self.trigger(self.profiles.applyProfile(event))
            guard case .replaceEnd = event, !wasServing, self.profiles.isServing else { return }
            self.releaseSync(Self.profileSync)
            // Served after the engine synced (the CRD was installed later): plan every profile
            // and look for replicas of profiles that are gone.
            let now = self.reactor.now
            for key in self.profileWorkKeys { self.queue.add(key, now: now) }
            self.schedulePump()
            self.auditProfileOrphans()
        }
        informers.append(informer)
        informer.start()
    }

    /// The profiles' work keys, while profiles are served.
    var profileWorkKeys: [WorkKey] { profiles.isServing ? profiles.workKeys : [] }

    /// The metadata watch of Secrets and ConfigMaps: annotation sources and blockers (the
    /// observed state), and the sources profiles list. A blocker of a name profiles list
    /// concerns them too.
    func observeCandidate(_ kind: Kind, _ event: InformerEvent) -> Triggers {
        let key = event.object.map { ObjectCoding.key(kind: kind, $0.metadata) }
        let wasBlocker = key.map { state.blockers[$0] != nil } ?? false
        var triggers = state.applyCandidate(kind, event)
        triggers.formUnion(profiles.applyCandidate(kind, event))
        if let key, wasBlocker || state.blockers[key] != nil {
            for profile in profiles.profiles(naming: NameKey(key)) { triggers.insert(.profile(profile)) }
        }
        return triggers
    }

    /// The watch of managed replicas. A replica that changed or went away concerns every profile
    /// listing a source of its name: the loser of a conflict takes over once the owner is gone.
    func observeReplica(_ kind: Kind, _ event: InformerEvent) -> Triggers {
        var triggers = state.applyReplica(kind, event)
        if triggers != .none, let object = event.object {
            for profile in profiles.profiles(naming: NameKey(ObjectCoding.key(kind: kind, object.metadata))) {
                triggers.insert(.profile(profile))
            }
        }
        return triggers
    }

    /// A replica the engine deleted is gone: the sources of its name, and every profile listing
    /// a source of its name, may take the name now (the watch's echo finds nothing left to say).
    func replicaGone(_ key: ObjectKey) -> Triggers {
        let owner = state.replicas[key].flatMap { WorkKey.owner(of: $0, at: key) }
        var triggers = state.removeReplica(key)
        for profile in profiles.profiles(naming: NameKey(key)) where WorkKey.profile(profile) != owner {
            triggers.insert(.profile(profile))
        }
        return triggers
    }

    /// Queues the profiles named by replicas whose profile is gone: their reconcile deletes
    /// them. Only while profiles are served and listed: without the CRD every profile replica
    /// would look orphaned.
    func auditProfileOrphans() {
        guard profiles.isServing, isSynced, isLeader, !stopping else { return }
        var gone: Set<NamespacedName> = []
        for replica in state.replicas.values {
            guard let ref = replica.annotations[Vocabulary.profileRef], let key = ProfileObject.key(ref: ref),
                  profiles.profiles[key] == nil
            else { continue }
            gone.insert(key)
        }
        let now = reactor.now
        for key in gone.sorted() {
            logger.info("replicas of a SpillwayProfile that is gone found", metadata: ["profile": "\(key)", "action": "orphan"])
            queue.add(.profile(key), now: now)
        }
        if !gone.isEmpty { schedulePump() }
    }
}
