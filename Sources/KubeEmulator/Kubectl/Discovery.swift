import KubeWire

// Discovery, as kubectl needs it before any request: /version, /api, /apis, the resource lists
// of each group version, and a minimal OpenAPI v3. spillway's client never asks for these; the
// core routes the paths here (API.route).

extension API {
    var versionInfo: JSONValue {
        ["major": "1", "minor": "32", "gitVersion": "v1.32.0-kube-emulator", "gitCommit": "0000000000000000000000000000000000000000",
         "gitTreeState": "clean", "buildDate": "2025-01-01T00:00:00Z", "goVersion": "go1.23.0", "compiler": "gc",
         "platform": "linux/amd64"]
    }

    func rootPaths() -> APIResponse {
        var paths: [JSONValue] = ["/api", "/api/v1", "/apis", "/healthz", "/livez", "/readyz", "/version"]
        for t in store.types where !t.group.isEmpty { paths.append(.string("/apis/\(t.group)")); paths.append(.string("/apis/\(t.apiVersion)")) }
        return .json(200, ["paths": .array(Array(Set(paths.compactMap(\.stringValue))).sorted().map { .string($0) })])
    }

    var groupList: JSONValue {
        var versionsByGroup: [String: Set<String>] = [:]
        for t in store.types where !t.group.isEmpty { versionsByGroup[t.group, default: []].insert(t.version) }
        let groups: [JSONValue] = versionsByGroup.keys.sorted().map { g in
            let versions = versionsByGroup[g]!.sorted()
            let vs: [JSONValue] = versions.map { ["groupVersion": .string("\(g)/\($0)"), "version": .string($0)] }
            return ["name": .string(g), "versions": .array(vs), "preferredVersion": vs[0]]
        }
        return ["kind": "APIGroupList", "apiVersion": "v1", "groups": .array(groups)]
    }

    func resourceList(apiVersion: String) -> JSONValue {
        let verbs: JSONValue = ["create", "delete", "deletecollection", "get", "list", "patch", "update", "watch"]
        var resources: [JSONValue] = []
        for t in store.types.filter({ $0.apiVersion == apiVersion }).sorted(by: { $0.plural < $1.plural }) {
            var r: [String: JSONValue] = ["name": .string(t.plural), "singularName": .string(t.singular), "namespaced": .bool(t.namespaced),
                                     "kind": .string(t.kind), "verbs": verbs]
            if !t.shortNames.isEmpty { r["shortNames"] = .array(t.shortNames.map { .string($0) }) }
            if !t.categories.isEmpty { r["categories"] = .array(t.categories.map { .string($0) }) }
            if t.id == ResourceType.namespace.id { r["verbs"] = ["create", "delete", "get", "list", "patch", "update", "watch"] }
            resources.append(.object(r))
            if t.statusSubresource {
                resources.append(["name": .string("\(t.plural)/status"), "singularName": "", "namespaced": .bool(t.namespaced),
                                  "kind": .string(t.kind), "verbs": ["get", "patch", "update"]])
            }
            if t.id == ResourceType.namespace.id {
                resources.append(["name": "namespaces/finalize", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["update"]])
                resources.append(["name": "namespaces/status", "singularName": "", "namespaced": false, "kind": "Namespace", "verbs": ["get", "patch", "update"]])
            }
        }
        return ["kind": "APIResourceList", "apiVersion": "v1", "groupVersion": .string(apiVersion), "resources": .array(resources)]
    }

    /// A minimal OpenAPI v3: per group-version, the PATCH operation of each kind with its
    /// `fieldValidation` parameter. That is what kubectl reads to learn that the server
    /// validates fields itself (without it, kubectl create/apply fail with "failed to download
    /// openapi"); schemas are left out, so kubectl builds strategic patches from its own types.
    /// /openapi/v2 stays a 404.
    func openAPIV3(_ rest: [String]) -> APIResponse {
        let versions = Set(store.types.map(\.apiVersion)).sorted()
        func docPath(_ apiVersion: String) -> String { apiVersion.contains("/") ? "apis/\(apiVersion)" : "api/\(apiVersion)" }
        if rest.isEmpty {
            var paths: [String: JSONValue] = [:]
            for v in versions { paths[docPath(v)] = ["serverRelativeURL": .string("/openapi/v3/\(docPath(v))?hash=\(v.utf8.count)")] }
            return .json(200, ["paths": .object(paths)])
        }
        let wanted = rest.joined(separator: "/")
        guard let apiVersion = versions.first(where: { docPath($0) == wanted }) else { return .error(.pathNotFound) }
        var paths: [String: JSONValue] = [:]
        for t in store.types where t.apiVersion == apiVersion {
            let prefix = "/\(docPath(apiVersion))" + (t.namespaced ? "/namespaces/{namespace}" : "")
            paths["\(prefix)/\(t.plural)/{name}"] = ["patch": [
                "x-kubernetes-group-version-kind": ["group": .string(t.group), "version": .string(t.version), "kind": .string(t.kind)],
                "parameters": [["name": "fieldValidation", "in": "query", "schema": ["type": "string", "uniqueItems": true]]],
            ]]
        }
        return .json(200, ["openapi": "3.0.0", "info": ["title": "Kubernetes", "version": "v1.32.0"], "paths": .object(paths)])
    }
}
