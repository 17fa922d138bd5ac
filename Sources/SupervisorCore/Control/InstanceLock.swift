#if canImport(Glibc)
import Glibc
#endif

/// Makes sure one supervisor runs per name: an exclusive `flock` on `SOCKET.lock`, held for the life of the process.
/// The file holds the owner's pid, so a second `run` can say who is in the way.
public final class InstanceLock: Sendable {
    public let path: String
    private let fd: Int32

    /// Takes the lock.
    ///
    /// - Throws: ``ConfigurationError`` naming the running supervisor when the lock is held, or the file problem.
    public init(controlSocketPath: String, name: String) throws(ConfigurationError) {
        path = controlSocketPath + ".lock"
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC, 0o600)
        guard fd >= 0 else {
            throw ConfigurationError("cannot create lock file \(path): \(String(cString: strerror(errno)))")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let owner = FileText.read(path)?.split(separator: "\n").first.map(String.init) ?? "?"
            close(fd)
            throw ConfigurationError(
                "a supervisor named '\(name)' is already running (pid \(owner), control socket \(controlSocketPath)); "
                    + "stop it with `supervisor stop --name \(name)` or choose another --name")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.fd = fd
    }

    deinit { close(fd) }
}
