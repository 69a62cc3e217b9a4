import DequeModule
import Foundation
import KubeWire
import NIOConcurrencyHelpers

public enum WatchEventType: String, Sendable {
    case added = "ADDED", modified = "MODIFIED", deleted = "DELETED", bookmark = "BOOKMARK", error = "ERROR"
}

/// One committed change. For DELETED, `object` is the last state carrying the deletion's RV.
struct StoreEvent: Sendable {
    let type: WatchEventType
    let resource: String
    let object: StoredObject
    let prev: StoredObject?
    var resourceVersion: UInt64 { object.resourceVersion }
}

/// Receives committed events for one resource. Called with the store's lock held, in commit
/// order: implementations only hand the event to their own thread.
protocol StoreObserver: AnyObject, Sendable {
    func enqueue(_ event: StoreEvent)
    func enqueueBookmark(_ resourceVersion: UInt64)
}

/// A page of a LIST.
public struct ListResult: Sendable {
    public var items: [StoredObject]
    public var resourceVersion: UInt64
    public var continueToken: String?
    public var remainingItemCount: Int?
}

/// What a DELETE did.
public enum DeletionResult: Sendable {
    /// The object is gone; the API answers a Success Status.
    case deleted(StoredObject)
    /// The object stays until its finalizers are removed (or a namespace until it is emptied);
    /// the API answers 200 with the object.
    case pending(StoredObject)
}

/// What a watch starts with, computed atomically with the observer's registration.
struct WatchStart {
    var initial: [StoredObject]
    var backlog: [StoreEvent]
    var resourceVersion: UInt64
}

/// The emulator's state: every object of every kind, one global resourceVersion, a bounded
/// history of events for watch resumption and exact-RV pagination, and the observers of open
/// watches. One lock serializes all writes, which is what makes the RV strictly increasing
/// and the event order the commit order.
public final class Store: @unchecked Sendable {
    private final class Table {
        let type: ResourceType
        var objects: [String: StoredObject] = [:]
        var sorted: [String]?
        init(_ type: ResourceType) { self.type = type }

        func sortedKeys() -> [String] {
            if let sorted { return sorted }
            let s = objects.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) }
            sorted = s
            return s
        }
        func put(_ o: StoredObject) {
            if objects.updateValue(o, forKey: o.key) == nil { sorted = nil }
        }
        func remove(_ key: String) {
            if objects.removeValue(forKey: key) != nil { sorted = nil }
        }
    }

    private let lock = NIOLock()
    private var tables: [String: Table] = [:]
    private var typesByPath: [String: ResourceType] = [:]
    private var registered: [String: ResourceType] = [:]
    private var currentRV: UInt64 = 1
    /// Events with RV > compactedRV are in `history`; older ones are gone (410).
    private var compactedRV: UInt64 = 1
    private var history = Deque<StoreEvent>()
    private var observers: [String: [ObjectIdentifier: StoreObserver]] = [:]
    var historyLimit: Int
    /// Runs namespace finalization off the request path, like the namespace controller.
    var scheduleNamespaceSweep: @Sendable (String) -> Void = { _ in }

    init(types: [ResourceType], historyLimit: Int) {
        self.historyLimit = max(historyLimit, 1)
        for t in types { register(t) }
    }

    func register(_ t: ResourceType) {
        lock.withLock { registerLocked(t) }
    }

    private func registerLocked(_ t: ResourceType) {
        registered[t.id] = t
        if t.view == nil, tables[t.id] == nil { tables[t.id] = Table(t) }
        typesByPath["\(t.apiVersion)/\(t.plural)"] = t
    }

    public var types: [ResourceType] { lock.withLock { Array(registered.values) } }

    /// The type served at `apiVersion` (`v1`, `coordination.k8s.io/v1`) with this plural name.
    public func type(apiVersion: String, plural: String) -> ResourceType? {
        lock.withLock { typesByPath["\(apiVersion)/\(plural)"] }
    }
    func type(apiVersion: String, kind: String) -> ResourceType? {
        lock.withLock { registered.values.first { $0.apiVersion == apiVersion && $0.kind == kind } }
    }

    public var resourceVersion: UInt64 { lock.withLock { currentRV } }
    public var oldestResumableResourceVersion: UInt64 { lock.withLock { compactedRV } }

    public func count(_ type: ResourceType) -> Int { lock.withLock { tables[type.storageID]?.objects.count ?? 0 } }

    // MARK: Commit

    private func nextRV() -> UInt64 {
        currentRV += 1
        return currentRV
    }

    private func record(_ event: StoreEvent) {
        history.append(event)
        while history.count > historyLimit, let first = history.popFirst() {
            compactedRV = first.resourceVersion
        }
        if let obs = observers[event.resource] {
            for o in obs.values { o.enqueue(event) }
        }
    }

    /// Forgets all history: every resourceVersion handed out so far, and every continue token,
    /// answers 410 — as after an etcd compaction and an API server restart, whose rebuilt watch
    /// cache starts past them (the resourceVersion moves on by one, as the restart's own
    /// bookkeeping write moves it on a real server).
    public func compact() {
        lock.withLock {
            history.removeAll()
            currentRV += 1
            compactedRV = currentRV
        }
    }

    // MARK: Reads

    /// The table holding `type`'s objects (another kind's, when `type` is a view of it).
    private func table(_ type: ResourceType) -> Table {
        if let t = tables[type.storageID] { return t }
        let t = Table(registered[type.storageID] ?? type)
        tables[type.storageID] = t
        return t
    }

    public func get(_ type: ResourceType, namespace: String, name: String) throws -> StoredObject {
        try lock.withLock {
            guard let o = table(type).objects[key(type, namespace, name)] else { throw StatusError.notFound(type, name) }
            return type.present(o)
        }
    }

    private func key(_ type: ResourceType, _ ns: String, _ name: String) -> String {
        type.namespaced ? ns + "/" + name : name
    }

    /// apimachinery's continue token. A nil `rv` (-1 on the wire) continues at the latest
    /// state: the token a 410 for an expired one offers.
    struct ContinueToken {
        var rv: UInt64?
        var start: String

        var encoded: String {
            let j: JSONValue = ["v": "meta.k8s.io/v1", "rv": .int(rv.map { Int64($0) } ?? -1), "start": .string(start + "\u{0}")]
            return Data(j.encoded()).base64EncodedString()
                .replacingOccurrences(of: "+", with: "-").replacingOccurrences(of: "/", with: "_")
                .replacingOccurrences(of: "=", with: "")
        }

        init(rv: UInt64?, start: String) {
            self.rv = rv
            self.start = start
        }

        init(decoding s: String) throws {
            var b = s.replacingOccurrences(of: "-", with: "+").replacingOccurrences(of: "_", with: "/")
            while b.count % 4 != 0 { b += "=" }
            guard let d = Data(base64Encoded: b), let j = try? JSONParser.parse(Array(d)),
                  j["v"]?.stringValue == "meta.k8s.io/v1", let rv = j["rv"]?.intValue, rv > 0 || rv == -1,
                  var start = j["start"]?.stringValue
            else { throw StatusError.badRequest("continue key is not valid: incorrect encoded start resourceVersion (version meta.k8s.io/v1)") }
            if start.hasSuffix("\u{0}") { start.removeLast() }
            self.rv = rv == -1 ? nil : UInt64(rv)
            self.start = start
        }
    }

    /// LIST with the apiserver's resourceVersion and pagination rules (docs/kubernetes.md §1).
    public func list(_ type: ResourceType, namespace: String?, label: LabelSelector = .everything,
                     field: FieldSelector = .everything, limit: Int? = nil, continueToken: String? = nil,
                     resourceVersion: String? = nil, resourceVersionMatch: String? = nil) throws -> ListResult {
        var token: ContinueToken?
        if let c = continueToken, !c.isEmpty {
            if let rv = resourceVersion, !rv.isEmpty, rv != "0" {
                throw StatusError.badRequest("specifying resource version is not allowed when using continue")
            }
            token = try ContinueToken(decoding: c)
        }
        var exactRV: UInt64?
        if let rvText = resourceVersion, !rvText.isEmpty, rvText != "0", token == nil {
            guard let rv = UInt64(rvText) else {
                throw StatusError(code: 400, reason: "BadRequest", message: "invalid resource version: \"\(rvText)\"")
            }
            if resourceVersionMatch == "Exact" || (limit != nil && resourceVersionMatch != "NotOlderThan") { exactRV = rv }
            let current = self.resourceVersion
            if rv > current { throw Self.tooLarge(rv, current) }
        }
        return try lock.withLock {
            let t = table(type)
            var snapshotRV = currentRV
            var objects = t.objects
            var keys: [String]
            if let rv = token?.rv ?? exactRV {
                if rv < compactedRV, let token {
                    var gone = StatusError.gone("The provided continue parameter is too old to display a consistent list result. You can start a new list without the continue parameter, or use the continue token in this response to retrieve the remainder of the results. Continuing with the provided token results in an inconsistent list - objects that were created, modified, or deleted between the time the first chunk was returned and now may show up in the list.")
                    gone.continueToken = ContinueToken(rv: nil, start: token.start).encoded
                    throw gone
                }
                if rv < compactedRV { throw StatusError.gone("The resourceVersion for the provided list is too old.") }
                snapshotRV = rv
                // Undo, newest first, the events after `rv`: the state as it was at `rv`.
                var changed = false
                for e in history.reversed() {
                    if e.resourceVersion <= rv { break }
                    guard e.resource == type.storageID else { continue }
                    changed = true
                    switch e.type {
                    case .added: objects[e.object.key] = nil
                    default: objects[e.object.key] = e.prev
                    }
                }
                keys = changed ? objects.keys.sorted { $0.utf8.lexicographicallyPrecedes($1.utf8) } : t.sortedKeys()
            } else {
                keys = t.sortedKeys()
            }
            var lo = 0
            var prefix = ""
            if let ns = namespace, type.namespaced {
                prefix = ns + "/"
                lo = lowerBound(keys, prefix)
            }
            if let name = field.exactName {
                lo = max(lo, lowerBound(keys, prefix.isEmpty && type.namespaced ? "" : prefix + name))
            }
            if let start = token?.start {
                lo = max(lo, upperBound(keys, start))
            }
            var items: [StoredObject] = []
            var i = lo
            let filterAll = label.isEmpty && field.isEmpty
            while i < keys.count {
                let k = keys[i]
                if !prefix.isEmpty && !k.hasPrefix(prefix) { break }
                if let limit, items.count >= limit { break }
                i += 1
                guard let o = objects[k] else { continue }
                if filterAll || (label.matches(o.labels) && field.matches { type.fieldValue(o, $0) }) {
                    items.append(o)
                }
            }
            var more = i < keys.count && (prefix.isEmpty || keys[i].hasPrefix(prefix))
            if more, let name = field.exactName, !type.namespaced || !prefix.isEmpty {
                more = keys[i] == prefix + name
            }
            var result = ListResult(items: type.view == nil ? items : items.map(type.present), resourceVersion: snapshotRV)
            if more, let last = items.last {
                result.continueToken = ContinueToken(rv: snapshotRV, start: last.key).encoded
                if filterAll {
                    var remaining = 0
                    var j = i
                    while j < keys.count, prefix.isEmpty || keys[j].hasPrefix(prefix) { remaining += 1; j += 1 }
                    result.remainingItemCount = remaining
                }
            }
            return result
        }
    }

    private func lowerBound(_ keys: [String], _ k: String) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if keys[mid].utf8.lexicographicallyPrecedes(k.utf8) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }
    private func upperBound(_ keys: [String], _ k: String) -> Int {
        var lo = 0, hi = keys.count
        while lo < hi {
            let mid = (lo + hi) / 2
            if !k.utf8.lexicographicallyPrecedes(keys[mid].utf8) { lo = mid + 1 } else { hi = mid }
        }
        return lo
    }

    static func tooLarge(_ rv: UInt64, _ current: UInt64) -> StatusError {
        StatusError(code: 504, reason: "Timeout", message: "Timeout: Too large resource version: \(rv), current: \(current)",
                    details: .init(causes: [.init(reason: "ResourceVersionTooLarge", message: "Too large resource version", field: "")],
                                   retryAfterSeconds: 1))
    }

    // MARK: Watch

    /// Registers an observer and returns what the watch sends first, atomically: nothing
    /// committed between the two can be missed or sent twice.
    /// - `resourceVersion` nil/""/"0": the current state as `initial`; otherwise the events
    ///   after it as `backlog` (410 Expired when compacted away, 504 when in the future).
    func startWatch(_ type: ResourceType, resourceVersion: String?, sendInitialEvents: Bool, observer: StoreObserver) throws -> WatchStart {
        try lock.withLock {
            let rvText = resourceVersion ?? ""
            var start = WatchStart(initial: [], backlog: [], resourceVersion: currentRV)
            if rvText.isEmpty || rvText == "0" || sendInitialEvents {
                if !rvText.isEmpty, rvText != "0" {
                    guard let rv = UInt64(rvText) else { throw StatusError.badRequest("invalid resource version: \"\(rvText)\"") }
                    if rv > currentRV { throw Self.tooLarge(rv, currentRV) }
                }
                let t = table(type)
                start.initial = t.sortedKeys().compactMap { t.objects[$0] }
            } else {
                guard let rv = UInt64(rvText) else { throw StatusError.badRequest("invalid resource version: \"\(rvText)\"") }
                if rv > currentRV { throw Self.tooLarge(rv, currentRV) }
                if rv < compactedRV {
                    throw StatusError.gone("too old resource version: \(rv) (\(compactedRV))")
                }
                var idx = history.count
                while idx > 0, history[idx - 1].resourceVersion > rv { idx -= 1 }
                for e in history[idx...] where e.resource == type.storageID { start.backlog.append(e) }
            }
            observers[type.storageID, default: [:]][ObjectIdentifier(observer)] = observer
            return start
        }
    }

    func stopWatch(_ type: ResourceType, observer: StoreObserver) {
        lock.withLock { _ = observers[type.storageID]?.removeValue(forKey: ObjectIdentifier(observer)) }
    }

    /// Asks the observer for a bookmark at the current RV, queued behind every event already
    /// handed to it so the bookmark never claims an RV whose events are still in flight.
    func requestBookmark(_ observer: StoreObserver) {
        lock.withLock { observer.enqueueBookmark(currentRV) }
    }

    // MARK: Writes

    private func checkNamespace(_ type: ResourceType, _ ns: String, _ name: String) throws {
        guard type.namespaced else { return }
        guard let nsObj = tables[ResourceType.namespace.id]?.objects[ns] else { throw StatusError.namespaceNotFound(ns) }
        if nsObj.isTerminating { throw StatusError.namespaceTerminating(type, name, ns) }
    }

    private func validateName(_ type: ResourceType, _ name: String) -> [StatusError.Cause] {
        let problems: [String]
        switch type.nameRule {
        case .dns1123Subdomain: problems = NameValidation.dns1123SubdomainProblems(name)
        case .dns1123Label: problems = NameValidation.dns1123LabelProblems(name)
        }
        return problems.map { .invalid("metadata.name", .string(name), $0) }
    }

    private static let generateNameAlphabet = Array("bcdfghjklmnpqrstvwxz2456789")

    /// A random (version 4) UUID in the lowercase form the API server uses. Foundation's
    /// `UUID()` opens and reads /dev/urandom on every call (three syscalls per create); the
    /// system generator is one getrandom(2).
    static func newUID() -> String {
        var generator = SystemRandomNumberGenerator()
        var bytes = withUnsafeBytes(of: (generator.next(), generator.next()) as (UInt64, UInt64)) { Array($0) }
        bytes[6] = bytes[6] & 0x0f | 0x40
        bytes[8] = bytes[8] & 0x3f | 0x80
        let hex = Array("0123456789abcdef".utf8)
        var out = [UInt8]()
        out.reserveCapacity(36)
        for (i, b) in bytes.enumerated() {
            if i == 4 || i == 6 || i == 8 || i == 10 { out.append(UInt8(ascii: "-")) }
            out.append(hex[Int(b >> 4)])
            out.append(hex[Int(b & 0x0f)])
        }
        return String(decoding: out, as: UTF8.self)
    }

    /// Creates an object. `namespace` is the request's namespace ("" for cluster-scoped kinds).
    @discardableResult
    public func create(_ type: ResourceType, namespace: String, _ body: JSONValue, dryRun: Bool = false) throws -> StoredObject {
        guard case .object = body else { throw StatusError.badRequest("the body of the request was not a JSON object") }
        var obj = body
        var meta = obj["metadata"]?.objectValue ?? [:]
        if type.namespaced {
            let bodyNS = meta["namespace"]?.stringValue ?? ""
            if !bodyNS.isEmpty && bodyNS != namespace {
                throw StatusError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
            }
            meta["namespace"] = .string(namespace)
        } else {
            meta["namespace"] = nil
        }
        var name = meta["name"]?.stringValue ?? ""
        if name.isEmpty, let gen = meta["generateName"]?.stringValue, !gen.isEmpty {
            name = gen + String((0..<5).map { _ in Self.generateNameAlphabet.randomElement()! })
            meta["name"] = .string(name)
        }
        obj["apiVersion"] = .string(type.apiVersion)
        obj["kind"] = .string(type.kind)
        for k in ["uid", "resourceVersion", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "selfLink", "managedFields"] {
            meta[k] = nil
        }
        obj["metadata"] = .object(meta)
        // With a status subresource, a create sets no status (only /status writes it).
        if type.statusSubresource { obj["status"] = nil }
        type.prune(&obj)
        try type.prepare(&obj, nil)
        var causes: [StatusError.Cause] = []
        if name.isEmpty {
            causes.append(.required("metadata.name", "name or generateName is required"))
        } else {
            causes += validateName(type, name)
        }
        causes += Validation.objectMeta(obj["metadata"]?.objectValue ?? [:])
        causes += type.validate(obj, nil)
        if !causes.isEmpty { throw StatusError.invalid(type, name, causes) }

        return try lock.withLock {
            try checkNamespace(type, namespace, name)
            if definition(of: type)?.isTerminating == true {
                throw StatusError(code: 405, reason: "MethodNotAllowed",
                                  message: "create not allowed while custom resource definition is terminating")
            }
            let t = table(type)
            let k = key(type, namespace, name)
            if t.objects[k] != nil { throw StatusError.alreadyExists(type, name) }
            let rv = dryRun ? currentRV : nextRV()
            obj["metadata"]?["uid"] = .string(Self.newUID())
            obj["metadata"]?["creationTimestamp"] = .string(APITime.timestamp())
            obj["metadata"]?["resourceVersion"] = .string(String(rv))
            if type.tracksGeneration { obj["metadata"]?["generation"] = 1 }
            let stored = StoredObject(json: type.view?.toStorage(obj) ?? obj, resourceVersion: rv)
            if dryRun { return type.present(stored) }
            t.put(stored)
            record(StoreEvent(type: .added, resource: t.type.id, object: stored, prev: nil))
            if type.id == Self.definitionType.id { define(stored) }
            return type.present(stored)
        }
    }

    /// Replaces an object (PUT). A non-empty metadata.resourceVersion makes it conditional.
    /// With `subresource: "status"` (a custom resource with the status subresource), only the
    /// status is taken from `body`.
    @discardableResult
    public func update(_ type: ResourceType, namespace: String, name: String, _ body: JSONValue, dryRun: Bool = false,
                       subresource: String? = nil) throws -> StoredObject {
        guard case .object = body else { throw StatusError.badRequest("the body of the request was not a JSON object") }
        let bodyName = body["metadata"]?["name"]?.stringValue ?? ""
        if bodyName != name {
            throw StatusError.badRequest("the name of the object (\(bodyName)) does not match the name on the URL (\(name))")
        }
        if type.namespaced, let bodyNS = body["metadata"]?["namespace"]?.stringValue, !bodyNS.isEmpty, bodyNS != namespace {
            throw StatusError.badRequest("the namespace of the provided object does not match the namespace sent on the request")
        }
        return try lock.withLock {
            let t = table(type)
            guard let old = t.objects[key(type, namespace, name)] else { throw StatusError.notFound(type, name) }
            return try replace(type, t, old, body, dryRun: dryRun, subresource: subresource)
        }
    }

    /// Applies a patch to the stored object and writes the result, under one lock hold so the
    /// patch sees exactly the version it is applied to.
    @discardableResult
    public func patch(_ type: ResourceType, namespace: String, name: String, _ patchType: PatchType, _ patch: JSONValue, dryRun: Bool = false,
                      subresource: String? = nil) throws -> StoredObject {
        try lock.withLock {
            let t = table(type)
            guard let stored = t.objects[key(type, namespace, name)] else { throw StatusError.notFound(type, name) }
            let old = type.present(stored)
            var patched: JSONValue
            do {
                switch patchType {
                case .merge:
                    guard case .object = patch else { throw Patching.Failure(message: "json: cannot unmarshal \(patch.typeName) into Go value of type map[string]interface {}", code: 400) }
                    patched = Patching.mergePatch(old.json, patch)
                case .strategic:
                    guard case .object = patch else { throw Patching.Failure(message: "json: cannot unmarshal \(patch.typeName) into Go value of type map[string]interface {}", code: 400) }
                    patched = try Patching.strategicMerge(old.json, patch)
                case .json:
                    patched = try Patching.jsonPatch(old.json, patch)
                case .apply:
                    patched = Patching.mergePatch(old.json, patch)
                }
            } catch let f as Patching.Failure {
                throw f.code == 400 ? StatusError.badRequest(f.message) : StatusError(code: 422, reason: "Invalid", message: f.message)
            }
            if case .object = patched {} else { throw StatusError.badRequest("the patched object is not a JSON object") }
            let patchedName = patched["metadata"]?["name"]?.stringValue ?? ""
            if patchedName != name {
                throw StatusError.badRequest("the name of the object (\(patchedName)) does not match the name on the URL (\(name))")
            }
            return try replace(type, t, stored, patched, dryRun: dryRun, subresource: subresource)
        }
    }

    /// The common update path; the lock is held. `storedOld` is in the table's form; `body`
    /// and the result are in `type`'s.
    private func replace(_ type: ResourceType, _ t: Table, _ storedOld: StoredObject, _ body: JSONValue, dryRun: Bool,
                         subresource: String? = nil) throws -> StoredObject {
        let old = type.present(storedOld)
        let name = old.name
        var obj = body
        let bodyRV = obj["metadata"]?["resourceVersion"]?.stringValue ?? ""
        if !bodyRV.isEmpty && bodyRV != String(old.resourceVersion) { throw StatusError.modifiedConflict(type, name) }
        if let uid = obj["metadata"]?["uid"]?.stringValue, !uid.isEmpty, uid != old.uid {
            throw StatusError.conflict(type, name, "Precondition failed: UID in precondition: \(uid), UID in object meta: \(old.uid)")
        }
        if type.statusSubresource {
            if subresource == "status" {
                // The status subresource changes the status and nothing else (metadata included).
                var status = old.json
                status["status"] = obj["status"]
                obj = status
            } else {
                // The object's own endpoint never changes the status.
                obj["status"] = old.json["status"]
            }
        }
        let oldMeta = old.metadata
        var meta = obj["metadata"]?.objectValue ?? [:]
        for k in ["uid", "creationTimestamp", "deletionTimestamp", "deletionGracePeriodSeconds", "generation", "namespace"] {
            meta[k] = oldMeta[k]
        }
        meta["resourceVersion"] = nil
        meta["selfLink"] = nil
        meta["managedFields"] = nil
        obj["metadata"] = .object(meta)
        obj["apiVersion"] = .string(type.apiVersion)
        obj["kind"] = .string(type.kind)
        type.prune(&obj)
        try type.prepare(&obj, old.json)

        var causes = Validation.objectMeta(meta)
        if old.isTerminating {
            let added = Set((meta["finalizers"]?.arrayValue ?? []).compactMap(\.stringValue)).subtracting(old.finalizers)
            if !added.isEmpty {
                let list = added.sorted().map { "\"\($0)\"" }.joined(separator: ", ")
                causes.append(.forbidden("metadata.finalizers", "no new finalizers can be added if the object is being deleted, found new finalizers []string{\(list)}"))
            }
        }
        causes += type.validate(obj, old.json)
        if !causes.isEmpty { throw StatusError.invalid(type, name, causes) }

        if type.tracksGeneration {
            // Anything but metadata (and a status behind its own subresource) is the spec.
            var a = obj, b = old.json
            a["metadata"] = nil; b["metadata"] = nil
            if type.statusSubresource { a["status"] = nil; b["status"] = nil }
            if a != b { obj["metadata"]?["generation"] = .int((oldMeta["generation"]?.intValue ?? 1) + 1) }
        }
        // A write that changes nothing keeps the RV and sends no event, as on the real server.
        var unchanged = old.json
        unchanged["metadata"]?["resourceVersion"] = nil
        if unchanged == obj { return old }

        let rv = dryRun ? currentRV : nextRV()
        obj["metadata"]?["resourceVersion"] = .string(String(rv))
        let stored = StoredObject(json: type.view?.toStorage(obj) ?? obj, resourceVersion: rv)
        if dryRun { return type.present(stored) }
        if stored.isTerminating && stored.finalizers.isEmpty && !(type.id == ResourceType.namespace.id) {
            // The last finalizer gone: the object is deleted. As on the real server, watchers
            // get the last stored state (finalizers and all) at the deletion's RV, and the writer
            // gets its update at the RV it last had.
            t.remove(stored.key)
            record(StoreEvent(type: .deleted, resource: t.type.id, object: storedOld.withResourceVersion(rv), prev: storedOld))
            namespaceContentGone(type, stored.namespace)
            definitionContentGone(type)
            if type.id == Self.definitionType.id { undefine(stored, dropObjects: true) }
            return type.present(stored.withResourceVersion(storedOld.resourceVersion))
        }
        t.put(stored)
        record(StoreEvent(type: .modified, resource: t.type.id, object: stored, prev: storedOld))
        if type.id == Self.definitionType.id && !stored.isTerminating { define(stored) }
        if type.id == ResourceType.namespace.id && stored.isTerminating && stored.finalizers.isEmpty {
            finishNamespaceIfEmpty(stored.name)
        }
        return type.present(stored)
    }

    /// Deletes an object, honouring preconditions and finalizers.
    @discardableResult
    public func delete(_ type: ResourceType, namespace: String, name: String, options: DeleteOptions = DeleteOptions()) throws -> DeletionResult {
        let outcome: DeletionResult = try lock.withLock {
            let t = table(type)
            guard let old = t.objects[key(type, namespace, name)] else { throw StatusError.notFound(type, name) }
            // Preconditions are checked against the kind (not the resource), as registry.Store does.
            var kindType = type
            kindType.plural = type.kind
            if let uid = options.preconditionUID, uid != old.uid {
                throw StatusError.conflict(kindType, name, "the UID in the precondition (\(uid)) does not match the UID in record (\(old.uid)). The object might have been deleted and then recreated")
            }
            if let rv = options.preconditionResourceVersion, rv != String(old.resourceVersion) {
                throw StatusError.conflict(kindType, name, "the ResourceVersion in the precondition (\(rv)) does not match the ResourceVersion in record (\(old.resourceVersion)). The object might have been modified")
            }
            let isNamespace = type.id == ResourceType.namespace.id
            if old.isTerminating { return .pending(type.present(old)) }
            if type.id == Self.definitionType.id && !options.dryRun {
                return .pending(type.present(deleteDefinition(t, old)))
            }
            if old.finalizers.isEmpty && !isNamespace {
                if options.dryRun { return .deleted(type.present(old)) }
                let gone = remove(t, old)
                namespaceContentGone(type, old.namespace)
                definitionContentGone(type)
                return .deleted(type.present(gone))
            }
            if options.dryRun { return .pending(type.present(StoredObject(json: terminating(old, t.type), resourceVersion: old.resourceVersion))) }
            return .pending(type.present(markTerminating(t, old)))
        }
        if type.id == ResourceType.namespace.id, case .pending = outcome, !options.dryRun {
            scheduleNamespaceSweep(name)
        }
        return outcome
    }

    /// The namespace controller's work for a Terminating namespace: delete its content
    /// (objects with finalizers get a deletionTimestamp and stay until released), then remove
    /// the namespace once it is empty.
    func sweepNamespace(_ ns: String) {
        lock.withLock {
            guard let nsObj = tables[ResourceType.namespace.id]?.objects[ns], nsObj.isTerminating else { return }
            for t in tables.values where t.type.namespaced {
                let prefix = ns + "/"
                for k in t.sortedKeys() where k.hasPrefix(prefix) {
                    guard let o = t.objects[k] else { continue }
                    if o.finalizers.isEmpty {
                        remove(t, o)
                    } else if !o.isTerminating {
                        markTerminating(t, o)
                    }
                }
            }
            finishNamespaceIfEmpty(ns)
        }
    }

    /// Lock held. Removes an object; watchers get DELETED with the deletion's RV.
    @discardableResult
    private func remove(_ t: Table, _ o: StoredObject) -> StoredObject {
        let gone = o.withResourceVersion(nextRV())
        t.remove(o.key)
        record(StoreEvent(type: .deleted, resource: t.type.id, object: gone, prev: o))
        return gone
    }

    /// Lock held. Starts a finalizer-bound deletion: deletionTimestamp (and a namespace's
    /// Terminating phase) set, watchers get MODIFIED.
    @discardableResult
    private func markTerminating(_ t: Table, _ o: StoredObject) -> StoredObject {
        var j = terminating(o, t.type)
        let rv = nextRV()
        j["metadata"]?["resourceVersion"] = .string(String(rv))
        let stored = StoredObject(json: j, resourceVersion: rv)
        t.put(stored)
        record(StoreEvent(type: .modified, resource: t.type.id, object: stored, prev: o))
        return stored
    }

    private func terminating(_ o: StoredObject, _ type: ResourceType) -> JSONValue {
        var j = o.json
        j["metadata"]?["deletionTimestamp"] = .string(APITime.timestamp())
        j["metadata"]?["deletionGracePeriodSeconds"] = 0
        // A deletion that finalizers hold is a change of the object's desired state.
        if let generation = j["metadata"]?["generation"]?.intValue { j["metadata"]?["generation"] = .int(generation + 1) }
        if type.id == ResourceType.namespace.id { j["status"]?["phase"] = "Terminating" }
        return j
    }

    private func namespaceContentGone(_ type: ResourceType, _ ns: String) {
        guard type.namespaced, let nsObj = tables[ResourceType.namespace.id]?.objects[ns], nsObj.isTerminating else { return }
        finishNamespaceIfEmpty(ns)
    }

    /// Lock held. Removes a Terminating namespace that holds no objects and no finalizers.
    private func finishNamespaceIfEmpty(_ ns: String) {
        guard let nsTable = tables[ResourceType.namespace.id], let nsObj = nsTable.objects[ns], nsObj.isTerminating,
              nsObj.finalizers.isEmpty
        else { return }
        let prefix = ns + "/"
        for t in tables.values where t.type.namespaced {
            if t.objects.keys.contains(where: { $0.hasPrefix(prefix) }) { return }
        }
        var j = nsObj.json
        j["spec"] = ["finalizers": []]
        let rv = nextRV()
        j["metadata"]?["resourceVersion"] = .string(String(rv))
        let gone = StoredObject(json: j, resourceVersion: rv)
        nsTable.remove(ns)
        record(StoreEvent(type: .deleted, resource: ResourceType.namespace.id, object: gone, prev: nsObj))
    }

    // MARK: CustomResourceDefinitions

    private static let definitionType = ResourceType.customResourceDefinition
    /// The finalizer the apiextensions server puts on a definition being deleted: released once
    /// every object of its kind is gone.
    static let definitionCleanupFinalizer = "customresourcecleanup.apiextensions.k8s.io"

    /// Lock held. The stored definition of a custom resource kind; nil for built-in kinds.
    private func definition(of type: ResourceType) -> StoredObject? {
        guard !type.group.isEmpty, type.id != Self.definitionType.id else { return nil }
        return tables[Self.definitionType.id]?.objects["\(type.plural).\(type.group)"]
    }

    /// Lock held. Serves the kinds a stored definition describes: every served version (again
    /// after an update, whose served versions may have changed).
    private func define(_ stored: StoredObject) {
        guard let crd = try? CustomResourceDefinition(stored.json) else { return }
        undefine(stored, dropObjects: false)
        for type in crd.resourceTypes { registerLocked(type) }
    }

    /// Lock held. Stops serving a definition's kinds; with `dropObjects`, forgets its table too.
    private func undefine(_ stored: StoredObject, dropObjects: Bool) {
        guard let crd = try? CustomResourceDefinition(stored.json) else { return }
        for (id, type) in registered where type.group == crd.group && type.plural == crd.plural {
            registered[id] = nil
            typesByPath["\(type.apiVersion)/\(type.plural)"] = nil
            if dropObjects { tables[id] = nil }
        }
    }

    /// Lock held. Deleting a definition, as the apiextensions server does: it takes the cleanup
    /// finalizer and a Terminating condition, every object of its kind is deleted (those with
    /// finalizers get a deletionTimestamp and stay until released; creates are refused), and
    /// the definition goes once none is left.
    private func deleteDefinition(_ t: Table, _ old: StoredObject) -> StoredObject {
        var j = terminating(old, t.type)
        var finalizers = old.finalizers
        if !finalizers.contains(Self.definitionCleanupFinalizer) { finalizers.append(Self.definitionCleanupFinalizer) }
        j["metadata"]?["finalizers"] = .array(finalizers.map { .string($0) })
        var conditions = j["status"]?["conditions"]?.arrayValue ?? []
        conditions.append(["type": "Terminating", "status": "True", "lastTransitionTime": .string(APITime.timestamp()),
                           "reason": "InstanceDeletionInProgress", "message": "CustomResource deletion is in progress"])
        j["status"]?["conditions"] = .array(conditions)
        let rv = nextRV()
        j["metadata"]?["resourceVersion"] = .string(String(rv))
        let stored = StoredObject(json: j, resourceVersion: rv)
        t.put(stored)
        record(StoreEvent(type: .modified, resource: t.type.id, object: stored, prev: old))
        if let crd = try? CustomResourceDefinition(stored.json), let table = tables[registered.values.first {
            $0.group == crd.group && $0.plural == crd.plural && $0.version == crd.storageVersion
        }?.id ?? ""] {
            for k in table.sortedKeys() {
                guard let o = table.objects[k] else { continue }
                if o.finalizers.isEmpty {
                    remove(table, o)
                } else if !o.isTerminating {
                    markTerminating(table, o)
                }
            }
        }
        return finishDefinitionIfEmpty(stored) ?? stored
    }

    /// Lock held. An object of `type` went away: its definition may be done deleting.
    private func definitionContentGone(_ type: ResourceType) {
        guard let crd = definition(of: type), crd.isTerminating else { return }
        finishDefinitionIfEmpty(crd)
    }

    /// Lock held. Removes a Terminating definition none of whose objects is left; returns what
    /// watchers were told.
    @discardableResult
    private func finishDefinitionIfEmpty(_ stored: StoredObject) -> StoredObject? {
        guard let crd = try? CustomResourceDefinition(stored.json) else { return nil }
        let storage = registered.values.first { $0.group == crd.group && $0.plural == crd.plural && $0.version == crd.storageVersion }
        if let storage, let table = tables[storage.id], !table.objects.isEmpty { return nil }
        guard let definitions = tables[Self.definitionType.id] else { return nil }
        var finalizers = stored.finalizers
        finalizers.removeAll { $0 == Self.definitionCleanupFinalizer }
        guard finalizers.isEmpty else { return nil }
        undefine(stored, dropObjects: true)
        return remove(definitions, stored)
    }

    // MARK: Bulk seeding and persistence

    /// Inserts many objects in one call (tests and benchmarks seed thousands this way): full
    /// validation, one resourceVersion each, ADDED events to open watches. Namespaces named by
    /// the objects must exist (seed them first, or earlier in the same call).
    public func seed(_ objects: [(ResourceType, JSONValue)]) throws {
        for (type, obj) in objects {
            try create(type, namespace: obj["metadata"]?["namespace"]?.stringValue ?? "", obj)
        }
    }

    /// The whole state as one JSON document (the state file).
    func snapshot() -> JSONValue {
        lock.withLock {
            var items: [JSONValue] = []
            for t in tables.values.sorted(by: { $0.type.id < $1.type.id }) {
                for k in t.sortedKeys() { if let o = t.objects[k] { items.append(o.json) } }
            }
            return ["resourceVersion": .int(Int64(currentRV)), "items": .array(items)]
        }
    }

    /// Replaces the state with a snapshot. Unknown kinds are an error, not silently dropped.
    func restore(_ snap: JSONValue) throws {
        guard let rv = snap["resourceVersion"]?.intValue, let items = snap["items"]?.arrayValue else {
            throw StatusError.badRequest("state file: expected {\"resourceVersion\":N,\"items\":[...]}")
        }
        // Definitions first: they serve the kinds of the objects that follow.
        for item in items where item["kind"]?.stringValue == Self.definitionType.kind {
            if let crd = try? CustomResourceDefinition(item) { for type in crd.resourceTypes { register(type) } }
        }
        var loaded: [(ResourceType, StoredObject)] = []
        for item in items {
            let apiVersion = item["apiVersion"]?.stringValue ?? "", kind = item["kind"]?.stringValue ?? ""
            guard let type = self.type(apiVersion: apiVersion, kind: kind) else {
                throw StatusError.badRequest("state file: unknown kind \(kind) in \(apiVersion)")
            }
            let orv = UInt64(item["metadata"]?["resourceVersion"]?.stringValue ?? "") ?? 1
            loaded.append((type, StoredObject(json: item, resourceVersion: orv)))
        }
        lock.withLock {
            for t in tables.values { t.objects.removeAll(); t.sorted = nil }
            for (type, o) in loaded { table(type).put(o) }
            currentRV = UInt64(rv)
            compactedRV = currentRV
            history.removeAll()
        }
    }
}
