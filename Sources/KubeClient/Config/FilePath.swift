/// Paths as kubectl resolves a kubeconfig's relative file names: against the directory of the
/// file that names them, with `.` and `..` taken out.
enum FilePath {
    /// The directory part of `path` (`/a/b/config` gives `/a/b`; a bare name gives `.`).
    static func directory(of path: String) -> String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        let directory = String(path[..<slash])
        return directory.isEmpty ? "/" : directory
    }

    /// `path` with empty and `.` components dropped and each `..` taking out the component
    /// before it (never above the root of an absolute path).
    static func standardized(_ path: String) -> String {
        let absolute = path.hasPrefix("/")
        var parts: [Substring] = []
        for part in path.split(separator: "/") {
            switch part {
            case ".": continue
            case "..":
                if let last = parts.last, last != ".." { parts.removeLast() } else if !absolute { parts.append(part) }
            default: parts.append(part)
            }
        }
        let joined = parts.joined(separator: "/")
        return absolute ? "/" + joined : (joined.isEmpty ? "." : joined)
    }
}
