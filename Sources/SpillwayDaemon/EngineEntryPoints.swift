/// Where the one-shot subcommands meet the replication engine. This build of SpillwayDaemon is
/// the operator-facing shell only; the engine is wired in here by the integration of the
/// SpillwayEngine target, and until then these commands refuse clearly instead of pretending.
enum EngineEntryPoints {
    struct Unavailable: Error, CustomStringConvertible {
        var command: String
        var description: String {
            "spillwayd \(command): this build does not include the replication engine yet; nothing was changed"
        }
    }

    static func plan(_ request: PlanRequest) throws {
        throw Unavailable(command: "plan")
    }

    static func uninstall(_ request: UninstallRequest) throws {
        throw Unavailable(command: "uninstall")
    }
}
