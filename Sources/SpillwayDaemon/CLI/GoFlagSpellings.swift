/// The command lines the original spillway's manifests pass, rewritten into spillwayd's own
/// spelling before the parser sees them, so a Deployment written for the original keeps working:
///
/// - Go's single dash: `-leader-elect`, `-sync-period=5m`, `-kubeconfig PATH`;
/// - booleans with a value: `--leader-elect=true`, `--allow-force-adopt=false` (Go's
///   `strconv.ParseBool` spellings);
/// - `-version` / `--version` anywhere: the `version` command;
/// - controller-runtime's logging flags: `--zap-log-level` becomes `--log-level`,
///   `--zap-encoder` becomes `--log-format`; those with no counterpart are refused with a line
///   that says what to write instead.
///
/// Everything after `--` is left alone.
enum GoFlagSpellings {
    /// spillwayd's switches: `--NAME=false` becomes `--no-NAME`.
    static let booleans: Set<String> = [
        SettingKey.leaderElect.rawValue, SettingKey.requireNamespaceConsent.rawValue, SettingKey.allowForceAdopt.rawValue,
    ]

    /// Every long option some command takes, which is what a single dash may stand for.
    static let longNames: Set<String> = Set(SettingKey.allCases.map(\.rawValue))
        .union(["config", "output", "namespaces", "delete-replicas", "help", "version"])
        .union(zapFlags)

    static let zapFlags: Set<String> = ["zap-log-level", "zap-encoder", "zap-devel", "zap-stacktrace-level", "zap-time-encoding"]

    static func normalize(_ arguments: [String]) throws -> [String] {
        var out: [String] = []
        var rest = arguments[...]
        while let argument = rest.popFirst() {
            if argument == "--" {
                out.append(argument)
                out.append(contentsOf: rest)
                break
            }
            guard let (name, value) = option(argument) else {
                out.append(argument)
                continue
            }
            if name == "version" { return ["version"] }
            if zapFlags.contains(name) {
                // Go takes a non-boolean value from the next argument when it has no `=`.
                let given = value ?? (name == "zap-devel" ? nil : rest.popFirst())
                out.append(contentsOf: try zap(name, given))
            } else if let value, booleans.contains(name) {
                out.append(try goBool(value, flag: name) ? "--\(name)" : "--no-\(name)")
            } else {
                out.append(value.map { "--\(name)=\($0)" } ?? "--\(name)")
            }
        }
        return out
    }

    /// `--name[=value]` or a single-dash `-name[=value]` naming a long option; nil for anything
    /// else (short options such as `-h`, positional arguments).
    private static func option(_ argument: String) -> (name: String, value: String?)? {
        let body: Substring
        if argument.hasPrefix("--") {
            body = argument.dropFirst(2)
        } else if argument.hasPrefix("-") {
            body = argument.dropFirst()
        } else {
            return nil
        }
        let name = String(body.prefix { $0 != "=" })
        guard longNames.contains(name) else { return nil }
        let value = body.count > name.count ? String(body.dropFirst(name.count + 1)) : nil
        return (name, value)
    }

    /// Go's `strconv.ParseBool`.
    private static func goBool(_ value: String, flag: String) throws -> Bool {
        switch value {
        case "1", "t", "T", "true", "TRUE", "True": return true
        case "0", "f", "F", "false", "FALSE", "False": return false
        default:
            throw SettingsError(setting: flag, source: .flag("--\(flag)"), value: value, problem: "expected true or false")
        }
    }

    private static func zap(_ name: String, _ value: String?) throws -> [String] {
        func refuse(_ problem: String) -> SettingsError {
            SettingsError(setting: name, source: .flag("--\(name)"), value: value ?? "", problem: problem)
        }
        switch name {
        case "zap-log-level":
            switch value?.lowercased() {
            case "debug"?: return ["--log-level=debug"]
            case "info"?: return ["--log-level=info"]
            case "warn"?: return ["--log-level=warning"]
            case "error"?: return ["--log-level=error"]
            case "dpanic"?, "panic"?, "fatal"?: return ["--log-level=critical"]
            case let level? where Int(level).map({ $0 > 0 }) == true: return ["--log-level=debug"]
            default: throw refuse("expected debug, info, error or a verbosity above 0; spillwayd's own flag is --log-level")
            }
        case "zap-encoder":
            switch value {
            case "json"?: return ["--log-format=json"]
            case "console"?: return ["--log-format=text"]
            default: throw refuse("expected json or console; spillwayd's own flag is --log-format")
            }
        case "zap-devel":
            if let value, try !goBool(value, flag: name) { return [] }
            throw refuse("spillwayd has no development mode: use --log-level=debug --log-format=text")
        case "zap-stacktrace-level":
            throw refuse("spillwayd logs no stack traces: leave the flag out")
        default:
            throw refuse("spillwayd stamps json and logfmt lines with RFC 3339 times (the journal keeps its own): leave the flag out")
        }
    }
}
