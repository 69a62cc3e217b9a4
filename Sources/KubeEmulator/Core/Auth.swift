import KubeWire

// Authentication (bearer tokens, client certificates) and a small authorization table, so
// that tests can provoke the real API's 401 and 403 answers.

/// Who made a request: the user name and groups, as the apiserver's user.Info.
public struct Identity: Sendable, Hashable, CustomStringConvertible {
    public var user: String
    public var groups: [String]

    public init(user: String, groups: [String] = []) {
        self.user = user
        self.groups = groups
    }

    /// The emulator's administrator: member of system:masters, allowed everything.
    public static let admin = Identity(user: "kube-emulator-admin", groups: ["system:masters", "system:authenticated"])

    public var isAdmin: Bool { groups.contains("system:masters") }
    public var description: String { user }
}

/// One row of the authorization table: who (users or groups) may do which verbs on which
/// resources in which namespaces. `"*"` matches any verb or resource; `namespaces == nil`
/// matches every namespace and the cluster scope.
public struct AccessRule: Sendable {
    public var users: Set<String>
    public var groups: Set<String>
    public var verbs: Set<String>
    public var resources: Set<String>
    public var namespaces: Set<String>?

    public init(users: Set<String> = [], groups: Set<String> = [], verbs: Set<String>, resources: Set<String>, namespaces: Set<String>? = nil) {
        self.users = users
        self.groups = groups
        self.verbs = verbs
        self.resources = resources
        self.namespaces = namespaces
    }

    func allows(_ id: Identity, verb: String, resource: String, namespace: String) -> Bool {
        guard users.contains(id.user) || !groups.isDisjoint(with: id.groups) else { return false }
        guard verbs.contains("*") || verbs.contains(verb) else { return false }
        guard resources.contains("*") || resources.contains(resource) else { return false }
        if let namespaces { return !namespace.isEmpty && namespaces.contains(namespace) }
        return true
    }
}

enum Authorizer {
    /// `subresource` (`status`) is authorized as `plural/subresource`, as RBAC names it.
    static func check(_ id: Identity, rules: [AccessRule], verb: String, type: ResourceType, namespace: String, name: String,
                      subresource: String = "") throws {
        if id.isAdmin { return }
        let resource = subresource.isEmpty ? type.plural : "\(type.plural)/\(subresource)"
        if rules.contains(where: { $0.allows(id, verb: verb, resource: resource, namespace: namespace) }) { return }
        let scope = namespace.isEmpty ? "at the cluster scope" : "in the namespace \"\(namespace)\""
        throw StatusError.forbidden(type, name, "User \"\(id.user)\" cannot \(verb) resource \"\(resource)\" in API group \"\(type.group)\" \(scope)")
    }
}
