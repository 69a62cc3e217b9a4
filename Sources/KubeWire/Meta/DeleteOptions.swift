/// `metav1.DeleteOptions`, the body of a DELETE: preconditions make a delete safe against a
/// concurrent replacement.
public struct DeleteOptions: Sendable, Equatable {
    public var preconditionUID: String?
    public var preconditionResourceVersion: String?
    /// `Orphan`, `Background` or `Foreground`.
    public var propagationPolicy: String?
    public var gracePeriodSeconds: Int?
    public var dryRun = false

    public init(preconditionUID: String? = nil, preconditionResourceVersion: String? = nil,
                propagationPolicy: String? = nil, gracePeriodSeconds: Int? = nil, dryRun: Bool = false) {
        self.preconditionUID = preconditionUID
        self.preconditionResourceVersion = preconditionResourceVersion
        self.propagationPolicy = propagationPolicy
        self.gracePeriodSeconds = gracePeriodSeconds
        self.dryRun = dryRun
    }

    /// Decodes a DELETE body; fields it does not know are ignored, as the server ignores them.
    public init(json: JSONValue) {
        let preconditions = json["preconditions"]
        self.init(
            preconditionUID: preconditions?["uid"]?.stringValue,
            preconditionResourceVersion: preconditions?["resourceVersion"]?.stringValue,
            propagationPolicy: json["propagationPolicy"]?.stringValue,
            gracePeriodSeconds: json["gracePeriodSeconds"]?.intValue.map { Int($0) },
            dryRun: json["dryRun"]?.arrayValue?.contains("All") ?? false)
    }

    public var json: JSONValue {
        var o: JSONValue = ["kind": "DeleteOptions", "apiVersion": "v1"]
        if preconditionUID != nil || preconditionResourceVersion != nil {
            var p: JSONValue = [:]
            if let preconditionUID { p["uid"] = .string(preconditionUID) }
            if let preconditionResourceVersion { p["resourceVersion"] = .string(preconditionResourceVersion) }
            o["preconditions"] = p
        }
        if let propagationPolicy { o["propagationPolicy"] = .string(propagationPolicy) }
        if let gracePeriodSeconds { o["gracePeriodSeconds"] = .int(Int64(gracePeriodSeconds)) }
        if dryRun { o["dryRun"] = ["All"] }
        return o
    }
}
