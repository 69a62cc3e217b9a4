import Foundation
import KubeWire
import NIOHTTP1

/// A request as the API layer sees it, after authentication.
struct APIRequest {
    var method: HTTPMethod
    var path: String
    var query: [String: String]
    var headers: HTTPHeaders
    var body: [UInt8]
    var identity: Identity
}

/// What a watch request needs to start streaming.
struct WatchPlan {
    var type: ResourceType
    var namespace: String?
    var label: LabelSelector
    var field: FieldSelector
    var format: OutputFormat
    var resourceVersion: String?
    var sendInitialEvents: Bool
    var bookmarks: Bool
    var timeout: Int
}

enum APIResponse {
    /// `name` is the object a create made (its name is not in the URL), for the write log.
    case body(status: Int, contentType: String, bytes: [UInt8], headers: [(String, String)], name: String? = nil)
    case watch(WatchPlan)

    static func json(_ status: Int, _ value: JSONValue) -> APIResponse {
        .body(status: status, contentType: "application/json", bytes: value.encoded(), headers: [])
    }
    static func error(_ e: StatusError) -> APIResponse {
        .body(status: e.code, contentType: "application/json", bytes: e.json.encoded(), headers: e.headers)
    }
}

/// The parsed target of a resource request, with the verb it maps to (for accounting and
/// authorization).
struct ResourceRoute {
    var type: ResourceType
    var namespace: String
    var name: String
    var subresource: String
    var verb: String
}

/// Routes and serves the Kubernetes API paths: discovery and resource requests.
struct API {
    let store: Store
    let config: KubeEmulator.Configuration
    let serverAddress: String

    // MARK: Routing

    enum Target {
        case resource(ResourceRoute)
        case other(APIResponse)
    }

    /// Resolves a path to a resource route, or answers it directly (discovery, 404, 405).
    func route(_ req: APIRequest) -> Target {
        let segs = req.path.split(separator: "/").map(String.init)
        guard let first = segs.first else { return .other(rootPaths()) }
        var rest: ArraySlice<String>
        var apiVersion: String
        switch first {
        case "version" where segs.count == 1: return .other(.json(200, versionInfo))
        case "openapi" where segs.count >= 2 && segs[1] == "v3":
            return .other(openAPIV3(Array(segs.dropFirst(2))))
        case "healthz", "livez", "readyz":
            return .other(.body(status: 200, contentType: "text/plain; charset=utf-8", bytes: Array("ok".utf8), headers: []))
        case "api":
            if segs.count == 1 {
                return .other(.json(200, ["kind": "APIVersions", "versions": ["v1"],
                                          "serverAddressByClientCIDRs": [["clientCIDR": "0.0.0.0/0", "serverAddress": .string(serverAddress)]]]))
            }
            guard segs[1] == "v1" else { return .other(.error(.pathNotFound)) }
            if segs.count == 2 { return .other(.json(200, resourceList(apiVersion: "v1"))) }
            apiVersion = "v1"
            rest = segs[2...]
        case "apis":
            if segs.count == 1 { return .other(.json(200, groupList)) }
            let groups = groupList["groups"]?.arrayValue ?? []
            guard let group = groups.first(where: { $0["name"]?.stringValue == segs[1] }) else { return .other(.error(.pathNotFound)) }
            if segs.count == 2 {
                var g = group
                g["kind"] = "APIGroup"
                g["apiVersion"] = "v1"
                return .other(.json(200, g))
            }
            apiVersion = "\(segs[1])/\(segs[2])"
            guard store.types.contains(where: { $0.apiVersion == apiVersion }) else { return .other(.error(.pathNotFound)) }
            if segs.count == 3 { return .other(.json(200, resourceList(apiVersion: apiVersion))) }
            rest = segs[3...]
        default:
            return .other(.error(.pathNotFound))
        }
        var namespace = ""
        if rest.count >= 3, rest.first == "namespaces", let t = store.type(apiVersion: apiVersion, plural: rest[rest.startIndex + 2]), t.namespaced {
            namespace = rest[rest.startIndex + 1]
            rest = rest.dropFirst(2)
        }
        guard let plural = rest.first, let type = store.type(apiVersion: apiVersion, plural: plural) else {
            return .other(.error(.pathNotFound))
        }
        let name = rest.count > 1 ? rest[rest.startIndex + 1] : ""
        let sub = rest.count > 2 ? rest[rest.startIndex + 2] : ""
        let servesSubresource = (type.id == ResourceType.namespace.id && (sub == "status" || sub == "finalize"))
            || (type.statusSubresource && sub == "status")
        if rest.count > 3 || (!sub.isEmpty && !servesSubresource) {
            return .other(.error(.pathNotFound))
        }
        if type.namespaced && namespace.isEmpty && !name.isEmpty { return .other(.error(.pathNotFound)) }
        let verb: String
        switch req.method {
        case .GET:
            if !name.isEmpty { verb = "get" } else { verb = isTrue(req.query["watch"]) ? "watch" : "list" }
        case .POST where name.isEmpty: verb = "create"
        case .PUT where !name.isEmpty: verb = "update"
        case .PATCH where !name.isEmpty: verb = "patch"
        case .DELETE: verb = name.isEmpty ? "deletecollection" : "delete"
        default: return .other(.error(.methodNotAllowed(req.method.rawValue)))
        }
        if type.namespaced && namespace.isEmpty && verb != "list" && verb != "watch" {
            return .other(.error(.methodNotAllowed(req.method.rawValue)))
        }
        return .resource(ResourceRoute(type: type, namespace: namespace, name: name, subresource: sub, verb: verb))
    }

    private func isTrue(_ v: String?) -> Bool { v == "true" || v == "1" }

    // MARK: Resource requests

    func serve(_ req: APIRequest, _ r: ResourceRoute) -> APIResponse {
        do {
            return try serveOrThrow(req, r)
        } catch let e as StatusError {
            return .error(e)
        } catch {
            return .error(.internalError(String(describing: error)))
        }
    }

    private func selectors(_ req: APIRequest, _ type: ResourceType) throws -> (LabelSelector, FieldSelector) {
        var label = LabelSelector.everything, field = FieldSelector.everything
        if let l = req.query["labelSelector"], !l.isEmpty {
            do { label = try LabelSelector(parsing: l) } catch { throw StatusError.badRequest(error.description) }
        }
        if let f = req.query["fieldSelector"], !f.isEmpty {
            do { field = try FieldSelector(parsing: f, allowed: type.allFieldLabels) } catch { throw StatusError.badRequest(error.description) }
        }
        return (label, field)
    }

    private func decodeBody(_ req: APIRequest, _ type: ResourceType) throws -> JSONValue {
        let ct = (req.headers.first(name: "content-type") ?? "application/json").split(separator: ";").first.map { $0.trimmingSpaces } ?? ""
        let body: JSONValue
        if ct == Protobuf.contentType {
            do { body = try Protobuf.decode(req.body) } catch {
                throw StatusError.badRequest("the object provided is unrecognized (must be of type \(type.kind)): \(error)")
            }
        } else if ct == "application/yaml" {
            do { body = try YAMLToJSON.document(req.body) } catch {
                throw StatusError.badRequest("the object provided is unrecognized (must be of type \(type.kind)): couldn't get version/kind; yaml parse error: \(error)")
            }
        } else if ct != "application/json" && !ct.isEmpty && ct != "*/*" {
            throw StatusError.unsupportedMediaType(ct)
        } else {
            do {
                body = try JSONParser.parse(req.body)
            } catch {
            let summary = String(decoding: req.body.prefix(30), as: UTF8.self) + (req.body.count > 30 ? " ..." : "")
            throw StatusError.badRequest("the object provided is unrecognized (must be of type \(type.kind)): couldn't get version/kind; json parse error: \(goMessage(error)) (\(summary))")
            }
        }
        guard case .object = body else {
            throw StatusError.badRequest("the object provided is unrecognized (must be of type \(type.kind)): couldn't get version/kind; json parse error: json: cannot unmarshal \(body.typeName) into Go value of type struct { APIVersion string \"json:\\\"apiVersion,omitempty\\\"\"; Kind string \"json:\\\"kind,omitempty\\\"\" }")
        }
        let kind = body["kind"]?.stringValue ?? type.kind
        let apiVersion = body["apiVersion"]?.stringValue ?? type.apiVersion
        let version = apiVersion.split(separator: "/").last.map(String.init) ?? apiVersion
        if apiVersion != type.apiVersion {
            if store.type(apiVersion: apiVersion, kind: kind) == nil {
                throw StatusError.badRequest("\(kind) in version \"\(version)\" cannot be handled as a \(type.kind): no kind \"\(kind)\" is registered for version \"\(apiVersion)\" in scheme \"pkg/api/legacyscheme/scheme.go:30\"")
            }
            throw StatusError.badRequest("the API version in the data (\(apiVersion)) does not match the expected API version (\(type.apiVersion))")
        }
        if kind != type.kind {
            throw StatusError.badRequest("\(kind) in version \"\(version)\" cannot be handled as a \(type.kind): converting (\(version).\(kind)) to (core.\(type.kind)): unknown conversion")
        }
        let unknown = type.unknownFields(body)
        if req.query["fieldValidation"] == "Strict", !unknown.isEmpty {
            let fields = unknown.map { "unknown field \"\($0)\"" }.joined(separator: ", ")
            // A custom resource's decoder names the kind first.
            let prefix = type.schema == nil ? "" : "\(type.kind) in version \"\(type.version)\" cannot be handled as a \(type.kind): "
            throw StatusError.badRequest(prefix + "strict decoding error: " + fields)
        }
        return body
    }

    private func dryRun(_ req: APIRequest) throws -> Bool {
        guard let d = req.query["dryRun"], !d.isEmpty else { return false }
        guard d == "All" else {
            throw StatusError(code: 400, reason: "BadRequest", message: "dryRun: Unsupported value: \"\(d)\": supported values: \"All\"")
        }
        return true
    }

    private func serveOrThrow(_ req: APIRequest, _ r: ResourceRoute) throws -> APIResponse {
        let type = r.type
        switch r.verb {
        case "get":
            let o = try store.get(type, namespace: r.namespace, name: r.name)
            return render(object: o, type: type, format: Negotiation.format(accept: req.headers.first(name: "accept"), isList: false, isWatch: false), req: req)
        case "list":
            return try list(req, r)
        case "watch":
            return try watch(req, r)
        case "create":
            let body = try decodeBody(req, type)
            let o = try store.create(type, namespace: r.namespace, body, dryRun: try dryRun(req))
            return written(o, status: 201, type: type, req: req)
        case "update":
            let body = try decodeBody(req, type)
            if type.statusSubresource && r.subresource == "status" {
                let o = try store.update(type, namespace: r.namespace, name: r.name, body, dryRun: try dryRun(req), subresource: "status")
                return written(o, status: 200, type: type, req: req)
            }
            if r.subresource == "finalize" || r.subresource == "status" {
                return .body(status: 200, contentType: "application/json", bytes: try updateNamespaceSubresource(r, body).bytes, headers: [])
            }
            let o = try store.update(type, namespace: r.namespace, name: r.name, body, dryRun: try dryRun(req))
            return written(o, status: 200, type: type, req: req)
        case "patch":
            return try patch(req, r)
        case "delete":
            return try delete(req, r)
        case "deletecollection":
            let (label, field) = try selectors(req, type)
            let items = try store.list(type, namespace: type.namespaced ? r.namespace : nil, label: label, field: field).items
            var deleted: [StoredObject] = []
            for o in items {
                switch try store.delete(type, namespace: o.namespace, name: o.name, options: DeleteOptions(dryRun: try dryRun(req))) {
                case .deleted(let d), .pending(let d): deleted.append(d)
                }
            }
            return listBody(type: type, items: deleted, rv: store.resourceVersion, continueToken: nil, remaining: nil, format: .full, req: req)
        default:
            throw StatusError.methodNotAllowed(req.method.rawValue)
        }
    }

    private func updateNamespaceSubresource(_ r: ResourceRoute, _ body: JSONValue) throws -> StoredObject {
        let current = try store.get(r.type, namespace: "", name: r.name)
        var patch: JSONValue = ["metadata": ["resourceVersion": .string(body["metadata"]?["resourceVersion"]?.stringValue ?? String(current.resourceVersion))]]
        if r.subresource == "finalize" {
            patch["spec"] = ["finalizers": body["spec"]?["finalizers"] ?? .array([])]
        } else {
            patch["status"] = body["status"] ?? .object([:])
        }
        return try store.patch(r.type, namespace: "", name: r.name, .merge, patch)
    }

    private func patch(_ req: APIRequest, _ r: ResourceRoute) throws -> APIResponse {
        let ct = (req.headers.first(name: "content-type") ?? "").split(separator: ";").first.map { $0.trimmingSpaces } ?? ""
        guard let pt = PatchType(rawValue: ct) else {
            throw StatusError(code: 415, reason: "UnsupportedMediaType", message: "the body of the request was in an unknown format - accepted media types include: application/json-patch+json, application/merge-patch+json, application/apply-patch+yaml, application/strategic-merge-patch+json")
        }
        let body: JSONValue
        do {
            // An apply patch is YAML (JSON being the usual subset of it).
            if pt == .apply, let json = try? JSONParser.parse(req.body) {
                body = json
            } else if pt == .apply {
                body = try YAMLToJSON.document(req.body)
            } else {
                body = try JSONParser.parse(req.body)
            }
        } catch {
            throw StatusError.badRequest("error decoding patch: \(goMessage(error))")
        }
        let dry = try dryRun(req)
        if pt == .apply {
            guard let manager = req.query["fieldManager"], !manager.isEmpty else {
                throw StatusError(code: 422, reason: "Invalid", message: "PatchOptions.meta.k8s.io \"\" is invalid: fieldManager: Required value: is required for apply patch",
                                  details: .init(group: "meta.k8s.io", kind: "PatchOptions", causes: [.required("fieldManager", "is required for apply patch")]))
            }
            // Server-side apply without field ownership tracking: create when missing,
            // otherwise merge the applied configuration.
            if (try? store.get(r.type, namespace: r.namespace, name: r.name)) == nil {
                let o = try store.create(r.type, namespace: r.namespace, body, dryRun: dry)
                return written(o, status: 201, type: r.type, req: req)
            }
        }
        let o = try store.patch(r.type, namespace: r.namespace, name: r.name, pt, body, dryRun: dry,
                                subresource: r.subresource.isEmpty ? nil : r.subresource)
        return written(o, status: 200, type: r.type, req: req)
    }

    private func delete(_ req: APIRequest, _ r: ResourceRoute) throws -> APIResponse {
        var options = DeleteOptions(dryRun: try dryRun(req))
        if !req.body.isEmpty {
            let body: JSONValue
            do { body = try JSONParser.parse(req.body) } catch {
                throw StatusError.badRequest("the object provided is unrecognized (must be of type DeleteOptions): couldn't get version/kind; json parse error: \(error.message)")
            }
            let queryDryRun = options.dryRun
            options = DeleteOptions(json: body)
            options.dryRun = options.dryRun || queryDryRun
        }
        switch try store.delete(r.type, namespace: r.namespace, name: r.name, options: options) {
        case .pending(let o):
            return .body(status: 200, contentType: "application/json", bytes: o.bytes, headers: [])
        case .deleted(let o):
            var details: [String: JSONValue] = ["name": .string(o.name), "kind": .string(r.type.plural), "uid": .string(o.uid)]
            if !r.type.group.isEmpty { details["group"] = .string(r.type.group) }
            return .json(200, ["kind": "Status", "apiVersion": "v1", "metadata": .object([:]), "status": "Success", "details": .object(details)])
        }
    }

    private func list(_ req: APIRequest, _ r: ResourceRoute) throws -> APIResponse {
        let (label, field) = try selectors(req, r.type)
        try validateListOptions(req, watch: false)
        var limit: Int?
        if let l = req.query["limit"], let n = Int(l), n > 0 { limit = n }
        let result = try store.list(r.type, namespace: r.type.namespaced && !r.namespace.isEmpty ? r.namespace : nil, label: label, field: field,
                                    limit: limit, continueToken: req.query["continue"], resourceVersion: req.query["resourceVersion"],
                                    resourceVersionMatch: req.query["resourceVersionMatch"])
        let format = Negotiation.format(accept: req.headers.first(name: "accept"), isList: true, isWatch: false)
        return listBody(type: r.type, items: result.items, rv: result.resourceVersion, continueToken: result.continueToken,
                        remaining: result.remainingItemCount, format: format, req: req)
    }

    private func validateListOptions(_ req: APIRequest, watch: Bool) throws {
        var causes: [StatusError.Cause] = []
        let match = req.query["resourceVersionMatch"] ?? ""
        let rv = req.query["resourceVersion"] ?? ""
        let cont = req.query["continue"] ?? ""
        let sendInitial = req.query["sendInitialEvents"]
        if watch {
            if sendInitial != nil {
                if match != "NotOlderThan" {
                    causes.append(.forbidden("resourceVersionMatch", "sendInitialEvents requires setting resourceVersionMatch to NotOlderThan"))
                }
                if !config.watchList {
                    causes.append(.forbidden("sendInitialEvents", "sendInitialEvents is forbidden for watch unless the WatchList feature gate is enabled"))
                }
            }
            if !match.isEmpty {
                if sendInitial == nil {
                    causes.append(.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden for watch unless sendInitialEvents is provided"))
                }
                if match != "NotOlderThan" { causes.append(.notSupported("resourceVersionMatch", match, ["NotOlderThan"])) }
            }
        } else {
            if !match.isEmpty {
                if rv.isEmpty { causes.append(.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden unless resourceVersion is provided")) }
                if !cont.isEmpty { causes.append(.forbidden("resourceVersionMatch", "resourceVersionMatch is forbidden when continue is provided")) }
                if match != "Exact" && match != "NotOlderThan" { causes.append(.notSupported("resourceVersionMatch", match, ["Exact", "NotOlderThan", ""])) }
                if match == "Exact" && rv == "0" { causes.append(.forbidden("resourceVersionMatch", "resourceVersionMatch \"exact\" is forbidden for resourceVersion \"0\"")) }
            }
            if sendInitial != nil { causes.append(.forbidden("sendInitialEvents", "sendInitialEvents is forbidden for list")) }
        }
        if !causes.isEmpty {
            let t = ResourceType(group: "meta.k8s.io", version: "v1", kind: "ListOptions", plural: "listoptions", singular: "", namespaced: false)
            throw StatusError.invalid(t, "", causes)
        }
    }

    private func watch(_ req: APIRequest, _ r: ResourceRoute) throws -> APIResponse {
        let (label, field) = try selectors(req, r.type)
        try validateListOptions(req, watch: true)
        var timeout = config.defaultWatchTimeoutSeconds
        // At most a week: a longer watch is no different for a test, and the timer must not overflow.
        if let t = req.query["timeoutSeconds"], let n = Int(t), n > 0 { timeout = min(n, 7 * 86400) }
        return .watch(WatchPlan(
            type: r.type, namespace: r.type.namespaced && !r.namespace.isEmpty ? r.namespace : nil, label: label, field: field,
            format: Negotiation.format(accept: req.headers.first(name: "accept"), isList: false, isWatch: true),
            resourceVersion: req.query["resourceVersion"], sendInitialEvents: isTrue(req.query["sendInitialEvents"]),
            bookmarks: isTrue(req.query["allowWatchBookmarks"]), timeout: timeout))
    }

    // MARK: Rendering

    /// The answer to a create, update or patch: the object as written, in the form the Accept
    /// header asks for, as a real server answers a write (PartialObjectMetadata for a client
    /// that needs only the new uid and resourceVersion).
    private func written(_ o: StoredObject, status: Int, type: ResourceType, req: APIRequest) -> APIResponse {
        render(object: o, type: type, format: Negotiation.format(accept: req.headers.first(name: "accept"), isList: false, isWatch: false),
               req: req, status: status)
    }

    /// One object in `format`; the response names it for the request log (a create's name is
    /// not in its path).
    func render(object o: StoredObject, type: ResourceType, format: OutputFormat, req: APIRequest, status: Int = 200) -> APIResponse {
        switch format {
        case .full:
            return .body(status: status, contentType: "application/json", bytes: o.bytes, headers: [], name: o.name)
        case .partialMetadata:
            return .body(status: status, contentType: "application/json", bytes: o.partialMetadataBytes, headers: [], name: o.name)
        case .table(let v):
            return .json(status, Tables.table(type: type, objects: [o], rv: o.resourceVersion, continueToken: nil, version: v,
                                           includeObject: req.query["includeObject"], headers: true))
        }
    }

    func listBody(type: ResourceType, items: [StoredObject], rv: UInt64, continueToken: String?, remaining: Int?, format: OutputFormat, req: APIRequest) -> APIResponse {
        if case .table(let v) = format {
            return .json(200, Tables.table(type: type, objects: items, rv: rv, continueToken: continueToken, version: v,
                                           includeObject: req.query["includeObject"], headers: true))
        }
        var meta: [String: JSONValue] = ["resourceVersion": .string(String(rv))]
        if let continueToken { meta["continue"] = .string(continueToken) }
        if let remaining { meta["remainingItemCount"] = .int(Int64(remaining)) }
        let partial = format == .partialMetadata
        var out: [UInt8] = []
        out.reserveCapacity(items.reduce(128) { $0 + $1.bytes.count + 1 })
        out.append(contentsOf: "{\"kind\":".utf8)
        JSONValue.encodeString(partial ? "PartialObjectMetadataList" : type.listKind, into: &out)
        out.append(contentsOf: ",\"apiVersion\":".utf8)
        JSONValue.encodeString(partial ? "meta.k8s.io/v1" : type.apiVersion, into: &out)
        out.append(contentsOf: ",\"metadata\":".utf8)
        JSONValue.object(meta).encode(into: &out)
        out.append(contentsOf: ",\"items\":[".utf8)
        for (i, o) in items.enumerated() {
            if i > 0 { out.append(UInt8(ascii: ",")) }
            if partial { o.appendPartialMetadata(to: &out) } else { o.appendListItem(to: &out) }
        }
        out.append(contentsOf: "]}".utf8)
        return .body(status: 200, contentType: "application/json", bytes: out, headers: [])
    }
}
