import FoundationEssentials
import KubeWire

/// Reads the config file: a YAML mapping of long flag names (`sync-period: 5m`), or the same as
/// `key = value` lines, which is what the Debian package's example and systemd-style configs use.
/// Lists may be YAML sequences or comma-separated strings.
enum ConfigFile {
    static func parse(_ text: String, path: String, pathSource: SettingSource) throws -> [SettingKey: RawSetting] {
        func failure(_ problem: String) -> SettingsError {
            SettingsError(setting: "config", source: pathSource, value: path, problem: problem)
        }
        let entries: [(key: String, value: String)]
        let node: YAMLNode?
        do {
            node = try YAMLReader.compose(text)
        } catch {
            node = nil
            if !looksLikeKeyValueLines(text) {
                throw failure("not a YAML mapping of settings: \(yamlProblem(error))")
            }
        }
        switch node {
        case .mapping(let mapping)?:
            entries = try mapping.map { key, value in
                guard let name = key.string else { throw failure("a key is not a plain name") }
                if name == SettingKey.targetClusters.rawValue, case .mapping = value {
                    // The one structured setting: kept as YAML text, the form its flag and
                    // environment variable take too.
                    return (name, YAMLWriter.flow(value))
                }
                return (name, try flatten(value, key: name, failure: failure))
            }
        case nil where text.allSatisfy(\.isWhitespace) || isOnlyComments(text):
            entries = []
        default:
            entries = try keyValueLines(text, failure: failure)
        }
        var settings: [SettingKey: RawSetting] = [:]
        for (name, value) in entries {
            guard let key = SettingKey(rawValue: name) else {
                throw SettingsError(
                    setting: name, source: .configFile(path: path), value: value,
                    problem: "unknown setting; known settings: "
                        + SettingKey.allCases.map(\.rawValue).joined(separator: ", "))
            }
            settings[key] = RawSetting(value: value, source: .configFile(path: path))
        }
        return settings
    }

    private static func flatten(_ node: YAMLNode, key: String, failure: (String) -> SettingsError) throws -> String {
        switch node {
        case .scalar(let scalar):
            return scalar.string
        case .sequence(let sequence):
            return try sequence.map { item in
                guard case .scalar(let scalar) = item else {
                    throw failure("setting \(key): list items must be plain values")
                }
                return scalar.string
            }.joined(separator: ",")
        default:
            throw failure("setting \(key): expected a value or a list, found a mapping")
        }
    }

    private static func significantLines(_ text: String) -> [(number: Int, text: Substring)] {
        text.split(separator: "\n", omittingEmptySubsequences: false).enumerated().compactMap { index, line in
            let trimmed = line.drop(while: \.isWhitespace)
            return trimmed.isEmpty || trimmed.hasPrefix("#") ? nil : (index + 1, line)
        }
    }

    private static func isOnlyComments(_ text: String) -> Bool { significantLines(text).isEmpty }

    private static func looksLikeKeyValueLines(_ text: String) -> Bool {
        significantLines(text).allSatisfy { $0.text.contains("=") }
    }

    private static func keyValueLines(_ text: String, failure: (String) -> SettingsError) throws -> [(key: String, value: String)] {
        try significantLines(text).map { number, line in
            guard let equals = line.firstIndex(of: "=") else {
                throw failure("line \(number) is neither `key: value` nor `key = value`")
            }
            let key = line[..<equals].trimmingWhitespace()
            var value = line[line.index(after: equals)...].trimmingWhitespace()
            if value.count >= 2, let first = value.first, first == "\"" || first == "'", value.last == first {
                value = String(value.dropFirst().dropLast())
            }
            return (key, value)
        }
    }

    private static func yamlProblem(_ error: Error) -> String {
        guard let error = error as? YAMLError, let mark = error.mark else { return "\(error)" }
        return "\(error.problem) at line \(mark.line), column \(mark.column)"
    }
}
