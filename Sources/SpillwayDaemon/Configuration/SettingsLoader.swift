import FoundationEssentials
import SpillwayReactor

/// Layers the three sources — flags win, then `SPILLWAY_*` environment variables, then the config
/// file — and validates the result. Used at start and again on SIGHUP (with the same flags and
/// environment, a freshly read file).
public struct SettingsLoader: Sendable {
    public static let defaultConfigPath = "/etc/spillway/spillway.conf"
    public static let configEnvironmentVariable = "SPILLWAY_CONFIG"

    public var flags: [SettingKey: String]
    public var configFlag: String?
    public var environment: [String: String]

    public init(flags: [SettingKey: String], configFlag: String?, environment: [String: String]) {
        self.flags = flags
        self.configFlag = configFlag
        self.environment = environment
    }

    public func load() throws -> Settings {
        var raw: [SettingKey: RawSetting] = [:]
        let configPath = try configFile()
        if let (path, source) = configPath {
            let text: String
            do {
                text = try TextFile.text(path)
            } catch {
                throw SettingsError(
                    setting: "config", source: source, value: path,
                    problem: "cannot read the file: \(Self.reason(error))")
            }
            raw = try ConfigFile.parse(text, path: path, pathSource: source)
        }
        for key in SettingKey.allCases {
            if let value = environment[key.environmentVariable] {
                raw[key] = RawSetting(value: value, source: .environment(key.environmentVariable))
            }
            if let value = flags[key] {
                raw[key] = RawSetting(value: value, source: .flag(key.flag))
            }
        }
        return try Settings(validating: raw, configFile: configPath?.path)
    }

    /// The config file to read: `--config`, else `$SPILLWAY_CONFIG`, else the default path if it
    /// exists. An explicitly named file must exist; the default one may not.
    private func configFile() throws -> (path: String, source: SettingSource)? {
        let explicit: (String, SettingSource)? =
            if let configFlag { (configFlag, .flag("--config")) }
            else if let path = environment[Self.configEnvironmentVariable] {
                (path, .environment(Self.configEnvironmentVariable))
            } else { nil }
        if let (path, source) = explicit {
            guard TextFile.exists(path) else {
                throw SettingsError(setting: "config", source: source, value: path, problem: "file does not exist")
            }
            return (path, source)
        }
        if TextFile.exists(Self.defaultConfigPath) {
            return (Self.defaultConfigPath, .builtInDefault)
        }
        return nil
    }

    private static func reason(_ error: Error) -> String {
        (error as? TextFile.ReadError)?.reason ?? "\(error)"
    }
}
