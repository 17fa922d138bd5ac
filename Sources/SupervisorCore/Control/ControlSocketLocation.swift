#if canImport(Glibc)
import Glibc
#endif

/// Where the control socket of a supervisor named NAME lives, so `reload`, `status` and `stop` find what `run`
/// created without being told.
///
/// In order: `--control-socket`; `$RUNTIME_DIRECTORY/NAME.sock` (systemd's `RuntimeDirectory=`);
/// `/run/supervisor/NAME.sock` for root; `$XDG_RUNTIME_DIR/supervisor/NAME.sock` for other users. A client that has
/// no `RUNTIME_DIRECTORY` also looks in `/run/supervisor/NAME/NAME.sock`, where the template unit's
/// `RuntimeDirectory=supervisor/%i` puts it.
package struct ControlSocketLocation: Equatable, Sendable {
    /// Where `run` binds.
    package let path: String
    /// Where clients look, in order; the first that exists wins.
    package let candidates: [String]

    /// - Throws: ``ConfigurationError`` when no directory fits (not root, and no `XDG_RUNTIME_DIR`).
    package init(
        explicit: String?,
        name: String,
        environment: [String: String],
        isRoot: Bool? = nil
    ) throws(ConfigurationError) {
        let isRoot = isRoot ?? (getuid() == 0)
        if let explicit {
            // Absolute, so the notify sockets next to it are absolute too: sd_notify ignores a relative
            // NOTIFY_SOCKET.
            path = FileText.absolute(explicit)
            candidates = [path]
            return
        }
        let file = "\(name).sock"
        if let runtime = environment["RUNTIME_DIRECTORY"]?.split(separator: ":").first {
            path = "\(runtime)/\(file)"
            candidates = [path]
        } else if isRoot {
            path = "/run/supervisor/\(file)"
            candidates = [path, "/run/supervisor/\(name)/\(file)"]
        } else if let xdg = environment["XDG_RUNTIME_DIR"], !xdg.isEmpty {
            path = "\(xdg)/supervisor/\(file)"
            candidates = [path]
        } else {
            throw ConfigurationError(
                "no directory for the control socket: XDG_RUNTIME_DIR is not set; set it or pass --control-socket PATH")
        }
    }

    /// The candidate a client should connect to: the first that exists, else ``path``.
    package var existingPath: String {
        candidates.first { access($0, F_OK) == 0 } ?? path
    }

    /// The directory that holds the socket.
    package var directory: String {
        guard let slash = path.lastIndex(of: "/") else { return "." }
        return slash == path.startIndex ? "/" : String(path[..<slash])
    }
}
