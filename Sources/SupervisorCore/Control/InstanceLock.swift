internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// Makes sure one supervisor runs per name: an exclusive `flock` on `SOCKET.lock`, held for the life of the process.
/// The file holds the owner's pid, so a second `run` can say who is in the way.
package final class InstanceLock: Sendable {
    package let path: String
    private let fd: Int32

    /// Takes the lock.
    ///
    /// - Throws: ``SystemFailure`` naming the running supervisor when the lock is held, or the file problem.
    package init(controlSocketPath: String, name: String) throws(SystemFailure) {
        path = controlSocketPath + ".lock"
        // Never through a link, and never a file that is not plainly ours: it is written below, as root perhaps.
        let fd = open(path, O_RDWR | O_CREAT | O_CLOEXEC | O_NOFOLLOW | O_NOCTTY | O_NONBLOCK, 0o600)
        guard fd >= 0 else {
            let cause = SystemCallError.last("open", subject: path)
            guard cause.errno != ELOOP else {
                throw SystemFailure(
                    .lockFile,
                    "cannot create lock file \(path): it is a symbolic link; remove it (the supervisor makes its lock "
                        + "file itself)", cause: cause)
            }
            throw SystemFailure(.lockFile, "cannot create lock file \(path)", failed: cause)
        }
        var info = stat()
        guard fstat(fd, &info) == 0, info.st_mode & S_IFMT == S_IFREG, info.st_uid == geteuid(), info.st_nlink == 1
        else {
            close(fd)
            throw SystemFailure(
                .lockFile,
                "lock file \(path) is not a regular file of this user's with one link (uid \(info.st_uid), \(info.st_nlink) "
                    + "links); remove it (the supervisor makes its lock file itself)")
        }
        guard flock(fd, LOCK_EX | LOCK_NB) == 0 else {
            let owner = FileText.read(path)?.split(separator: "\n").first.map(String.init) ?? "?"
            close(fd)
            throw SystemFailure(
                .alreadyRunning,
                "a supervisor named '\(name)' is already running (pid \(owner), control socket \(controlSocketPath)); "
                    + "stop it with `supervisor stop --name \(name)` or choose another --name")
        }
        let text = "\(getpid())\n"
        _ = ftruncate(fd, 0)
        _ = text.withCString { pwrite(fd, $0, strlen($0), 0) }
        self.fd = fd
    }

    /// The lock the program before an in-place upgrade held, on the descriptor it handed over (a `flock` belongs to
    /// the open file, which the exec kept).
    init(adopting fd: Int32, controlSocketPath: String) {
        path = controlSocketPath + ".lock"
        self.fd = fd
    }

    /// The locked file, for an in-place upgrade to hand over.
    var descriptor: Int32 { fd }

    deinit { close(fd) }
}
