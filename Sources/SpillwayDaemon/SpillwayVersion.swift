/// What this build is: `spillwayd version`, the build info metric and the startup log line all
/// read it. The values come from `BuildInfo`, which the SpillwayBuildInfo plugin generates on every
/// build from the VERSION file (the one place the version is written) and git; SOURCE_DATE_EPOCH
/// fixes the date, so the same commit always reports the same thing.
public enum SpillwayVersion {
    /// The semantic version, without a leading "v": "0.5.0", "0.6.0-rc.1".
    public static let current = BuildInfo.version
    /// The git commit the binary was built from, or "unknown" (a source tree without git).
    public static let commit = BuildInfo.commit
    /// When the source was last changed, UTC ISO 8601 (SOURCE_DATE_EPOCH or the commit's time).
    public static let buildDate = BuildInfo.date

    /// `spillwayd version`: the first line is what packaging reads ("spillwayd X.Y.Z").
    public static var report: String {
        "spillwayd \(current)\ncommit: \(commit)\nbuilt: \(buildDate)"
    }
}
