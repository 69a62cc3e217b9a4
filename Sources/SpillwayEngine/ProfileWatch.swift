import FoundationEssentials
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

extension Resource {
    /// CustomResourceDefinitions; the engine watches the SpillwayProfile one alone.
    static let customResourceDefinitions = Resource(group: "apiextensions.k8s.io", version: "v1",
                                                    plural: "customresourcedefinitions",
                                                    kind: "CustomResourceDefinition", namespaced: false)
}

extension Engine {
    /// The name the profile watch holds the engine's sync under.
    static let profileSync = "spillwayprofiles"
    /// The SpillwayProfile CRD's name.
    static let profileDefinition = "\(Vocabulary.profilePlural).\(Vocabulary.profileGroup)"

    /// Watches the SpillwayProfile CRD (that one object, by a field selector) and, while it is
    /// established, the profiles at the preferred version it serves. Installing the CRD serves
    /// profiles at once, deleting it stops their watch, and neither costs a request while
    /// nothing changes. The engine counts as synced once profiles are listed, or once it knows
    /// the CRD is not installed. Where RBAC does not let it read that CRD (an older role), it
    /// lists profiles instead, again every `profileProbeInterval` while they are not served.
    func startProfiles() {
        holdSync(Self.profileSync)
        let selectors = Selectors(field: "metadata.name=\(Self.profileDefinition)")
        client.list(.customResourceDefinitions, namespace: nil, options: ListOptions(selectors: selectors)) { [weak self] result in
            guard let self, !self.stopping else { return }
            switch result {
            case .success:
                self.watchProfileDefinition(selectors)
            case .failure(let error) where error.status?.isForbidden == true || error.status?.isNotFound == true:
                self.logger.info("not allowed to watch the \(Self.profileDefinition) CustomResourceDefinition: looking for SpillwayProfiles by listing them instead (grant get, list and watch on customresourcedefinitions named \(Self.profileDefinition) to spare those requests; \(error))")
                self.probeProfiles(Vocabulary.profileVersions[...])
            case .failure(let error):
                self.profilesUnavailable("reading the \(Self.profileDefinition) CustomResourceDefinition failed: profiles are not served for now (\(error))",
                                         level: .warning) { [weak self] in self?.startProfiles() }
            }
        }
    }

    private func watchProfileDefinition(_ selectors: Selectors) {
        var listed = false
        let informer = Informer(client: client, options: Informer.Options(resource: .customResourceDefinitions, selectors: selectors)) {
            [unowned self] event in
            guard !self.stopping else { return }
            switch event {
            case .replaceBegin:
                listed = false
            case .listed(let object), .added(let object), .modified(let object):
                listed = true
                self.serveProfiles(at: object.object.flatMap(Self.profileVersion(servedBy:)))
            case .deleted:
                self.serveProfiles(at: nil)
            case .replaceEnd:
                if !listed { self.serveProfiles(at: nil) }
            }
        }
        informers.append(informer)
        informer.start()
    }

    /// The version to watch profiles at: the first of ours the CRD serves, once established.
    static func profileVersion(servedBy definition: JSONValue) -> String? {
        let established = definition["status"]?["conditions"]?.arrayValue?.contains {
            $0["type"]?.stringValue == "Established" && $0["status"]?.stringValue == "True"
        } ?? false
        guard established else { return nil }
        let served = Set((definition["spec"]?["versions"]?.arrayValue ?? []).compactMap { version in
            version["served"]?.boolValue == true ? version["name"]?.stringValue : nil
        })
        return Vocabulary.profileVersions.first { served.contains($0) }
    }

    /// Watches profiles at `version`, or stops watching them (nil: the CRD is not installed,
    /// not established yet, or serves none of our versions).
    private func serveProfiles(at version: String?) {
        guard version != profiles.resource?.version || (version == nil && !profiles.announcedAbsence) else { return }
        if let informer = profiles.informer {
            informer.stop()
            informers.removeAll { $0 === informer }
            profiles.informer = nil
        }
        profiles.stopServing()
        guard let version else {
            profiles.announcedAbsence = true
            logger.info("the SpillwayProfile CRD (\(Self.profileDefinition)) is not installed: profiles are not served, their replicas are left as they are; they are served as soon as it is (the chart and config/default install it)")
            releaseSync(Self.profileSync)
            return
        }
        profiles.announcedAbsence = false
        watchProfiles(.spillwayProfiles(version))
    }

    /// Where the CRD cannot be watched: lists profiles at each version in turn.
    private func probeProfiles(_ versions: ArraySlice<String>) {
        guard !stopping else { return }
        guard let version = versions.first else {
            profilesUnavailable("the SpillwayProfile CRD (\(Self.profileDefinition)) is not installed: profiles are not served; the chart and config/default install it",
                                level: .info) { [weak self] in self?.probeProfiles(Vocabulary.profileVersions[...]) }
            return
        }
        let resource = Resource.spillwayProfiles(version)
        client.list(resource, namespace: nil) { [weak self] result in
            guard let self, !self.stopping else { return }
            let again: () -> Void = { [weak self] in self?.probeProfiles(Vocabulary.profileVersions[...]) }
            switch result {
            case .success:
                self.watchProfiles(resource)
            case .failure(let error) where error.status?.isNotFound == true:
                self.probeProfiles(versions.dropFirst())
            case .failure(let error) where error.status?.isForbidden == true:
                self.profilesUnavailable("not allowed to list \(resource): profiles are not served; grant list, watch and patch on \(Vocabulary.profilePlural), and patch on \(Vocabulary.profilePlural)/status (\(error))",
                                         level: .warning, then: again)
            case .failure(let error):
                self.profilesUnavailable("listing \(resource) failed: profiles are not served for now (\(error))", level: .warning,
                                         then: again)
            }
        }
    }

    private func profilesUnavailable(_ message: String, level: Logger.Level, then again: @escaping () -> Void) {
        if profiles.probeProblem != message {
            profiles.probeProblem = message
            logger.log(level: level, "\(message); checking again in \(options.profileProbeInterval)")
        }
        releaseSync(Self.profileSync)
        do {
            try reactor.schedule(after: options.profileProbeInterval, again)
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
        profiles.informer = informer
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
        queueGoneProfiles(state.replicas, owner: { WorkKey.owner(of: $1, at: $0) }, cluster: nil)
    }

    /// The same in a target cluster, for the replicas the watched cluster's profiles made there
    /// (and a profile whose `targetClusters` no longer names the cluster: its reconcile there
    /// deletes them).
    func auditProfileOrphans(in cluster: TargetCluster) {
        guard profiles.isServing, isSynced, isLeader, cluster.isReady, !stopping, let sourceCluster = clusterName else { return }
        queueGoneProfiles(cluster.state.replicas, owner: { WorkKey.owner(of: $1, inCluster: cluster.name, sourceCluster: sourceCluster) },
                          cluster: cluster)
    }

    private func queueGoneProfiles(_ replicas: [ObjectKey: ObservedObject], owner: (ObjectKey, ObservedObject) -> WorkKey?,
                                   cluster: TargetCluster?) {
        var orphaned: Set<WorkKey> = []
        for (key, replica) in replicas {
            guard replica.annotations[Vocabulary.profileRef] != nil, let work = owner(key, replica), let profile = work.profile
            else { continue }
            if let live = profiles.profiles[profile] {
                guard let cluster, !Placement(cluster: cluster.name).isSelected(by: live.spec.clusters) else { continue }
            }
            orphaned.insert(work)
        }
        let now = reactor.now
        for work in orphaned.sorted(by: { $0.description < $1.description }) {
            var metadata: Logger.Metadata = ["profile": "\(work.profile!)", "action": "orphan"]
            if let cluster { metadata["cluster"] = "\(cluster.name)" }
            logger.info("replicas of a SpillwayProfile that is gone, or no longer names the cluster, found", metadata: metadata)
            queue.add(work, now: now)
        }
        if !orphaned.isEmpty { schedulePump() }
    }
}
