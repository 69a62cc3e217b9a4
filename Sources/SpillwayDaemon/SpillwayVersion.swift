/// The one place the daemon's version lives: `spillwayd version`, the build info metric and the
/// startup log line all read it.
public enum SpillwayVersion {
    public static let current = "0.1.0"
}
