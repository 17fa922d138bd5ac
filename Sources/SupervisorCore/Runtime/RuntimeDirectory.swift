internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// Directories the supervisor keeps at run time: the one that holds the control socket and its lock, and a private
/// one (mode 0700) for the instances' notify sockets, so no other user can even reach them.
///
/// The supervisor often runs as root while instances, and other users, do not, so nothing in them is trusted that
/// another user could have put there: a directory on the way that another user may write (without the sticky bit,
/// which keeps them from replacing entries they do not own) is refused, no symbolic link is followed inside, and an
/// entry another user owns is refused rather than reused.
package enum RuntimeDirectory {
    /// Creates `path` and its missing parents with `mode`; an existing directory is left as it is. Then checks that
    /// no other user can change what is in it (see ``checkTrusted(_:)``).
    ///
    /// - Throws: ``SystemFailure`` naming the directory and the reason (e.g. a read-only file system).
    package static func ensure(_ path: String, mode: UInt32) throws(SystemFailure) {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            if mkdir(built, mode) != 0 && errno != EEXIST {
                throw SystemFailure(
                    .runtimeDirectory, "cannot create directory \(built)", failed: .last("mkdir", subject: built))
            }
        }
        try checkTrusted(path)
    }

    /// Checks `path` and every directory above it: each must be a directory (or a symbolic link owned by root, such
    /// as `/var/run`) owned by root or this user, and none may be writable by other users unless it has the sticky
    /// bit (as `/tmp` has). The last one must be owned by this user.
    ///
    /// - Throws: ``SystemFailure`` naming the directory, what is wrong and the fix.
    package static func checkTrusted(_ path: String) throws(SystemFailure) {
        let user = geteuid()
        var built = path.hasPrefix("/") ? "" : "."
        let components = path.split(separator: "/")
        for (index, component) in components.enumerated() {
            built += "/" + component
            var info = stat()
            guard lstat(built, &info) == 0 else {
                throw SystemFailure(
                    .runtimeDirectory, "cannot inspect \(built)", failed: .last("lstat", subject: built))
            }
            let last = index == components.count - 1
            let kind = info.st_mode & S_IFMT
            if kind == S_IFLNK {
                guard info.st_uid == 0, !last else {
                    // systemd makes RuntimeDirectory= such a link to /run/private/ for DynamicUser=yes when it is
                    // to be kept (RuntimeDirectoryPreserve=yes or restart).
                    let systemdHint =
                        info.st_uid == 0 && getenv("INVOCATION_ID") != nil
                        ? " (systemd makes RuntimeDirectory= one for DynamicUser=yes with RuntimeDirectoryPreserve= "
                            + "yes or restart: set RuntimeDirectoryPreserve=no in the unit)" : ""
                    throw SystemFailure(
                        .untrustedDirectory,
                        "\(built) is a symbolic link\(info.st_uid == 0 ? "" : " owned by uid \(info.st_uid)"); the "
                            + "supervisor keeps its sockets only in a real directory: use --control-socket in one"
                            + systemdHint)
                }
                // A root-owned link in a trusted directory (such as /var/run -> /run): check where it leads.
                var target = [CChar](repeating: 0, count: Int(PATH_MAX))
                guard realpath(built, &target) != nil else {
                    throw SystemFailure(
                        .runtimeDirectory, "cannot resolve \(built)", failed: .last("realpath", subject: built))
                }
                let rest = components[(index + 1)...].joined(separator: "/")
                let resolved = target.withUnsafeBufferPointer { String(cString: $0.baseAddress!) }
                return try checkTrusted(resolved + "/" + rest)
            }
            guard kind == S_IFDIR else {
                throw SystemFailure(
                    .untrustedDirectory, "\(built) is not a directory; use --control-socket in a directory")
            }
            guard info.st_uid == 0 || info.st_uid == user else {
                throw SystemFailure(
                    .untrustedDirectory,
                    "\(built) belongs to uid \(info.st_uid), another user, who could replace the supervisor's sockets; "
                        + "use --control-socket in a directory of your own")
            }
            let othersMayWrite = info.st_mode & (S_IWGRP | S_IWOTH) != 0
            if othersMayWrite && info.st_mode & S_ISVTX == 0 {
                throw SystemFailure(
                    .untrustedDirectory,
                    "\(built) may be written by other users (mode \(String(info.st_mode & 0o7777, radix: 8))), who "
                        + "could replace the supervisor's sockets; remove their write permission (chmod go-w) or use "
                        + "--control-socket in a directory of your own")
            }
            if last && info.st_uid != user {
                throw SystemFailure(
                    .untrustedDirectory,
                    "\(built) belongs to uid \(info.st_uid), not to this user (uid \(user)); use --control-socket in a "
                        + "directory of your own")
            }
        }
    }

    /// chmod without following a link at `path`: fchmodat(AT_SYMLINK_NOFOLLOW), which glibc does through
    /// `/proc/self/fd`; without `/proc`, a plain chmod of what `lstat` found to be no link. Returns 0 or -1.
    @discardableResult
    static func changeMode(_ path: String, _ mode: mode_t) -> Int32 {
        if fchmodat(AT_FDCWD, path, mode, AT_SYMLINK_NOFOLLOW) == 0 { return 0 }
        var info = stat()
        guard errno == EOPNOTSUPP || errno == ENOSYS, lstat(path, &info) == 0, info.st_mode & S_IFMT != S_IFLNK else {
            return -1
        }
        return chmod(path, mode)
    }

    /// Creates the private notify directory afresh: removes what a previous supervisor of the same name left there
    /// (the caller holds the ``InstanceLock``), then makes it mode 0700. Nothing is followed: a symbolic link there,
    /// or a directory of another user, is refused.
    package static func preparePrivate(_ path: String) throws(SystemFailure) {
        var info = stat()
        if lstat(path, &info) == 0 {
            guard info.st_mode & S_IFMT == S_IFDIR else {
                let what = info.st_mode & S_IFMT == S_IFLNK ? "a symbolic link" : "not a directory"
                throw SystemFailure(
                    .untrustedDirectory,
                    "\(path) is \(what); the supervisor makes its notify directory there itself: remove it")
            }
            guard info.st_uid == geteuid() else {
                throw SystemFailure(
                    .untrustedDirectory, "\(path) belongs to uid \(info.st_uid), not to this user; remove it")
            }
            try removeEntries(of: path)
        } else {
            guard mkdir(path, 0o700) == 0 else {
                throw SystemFailure(
                    .runtimeDirectory, "cannot create directory \(path)", failed: .last("mkdir", subject: path))
            }
        }
        // Checked again through the descriptor, which is what the mode is set on.
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0 else {
            throw SystemFailure(
                .runtimeDirectory, "cannot open directory \(path)", failed: .last("open", subject: path))
        }
        defer { close(fd) }
        guard fstat(fd, &info) == 0, info.st_uid == geteuid() else {
            throw SystemFailure(
                .untrustedDirectory, "\(path) is not a directory owned by this user; remove it")
        }
        fchmod(fd, 0o700)
    }

    /// Unlinks every entry of the directory `path`, through a descriptor of it, without following links; a
    /// directory inside is refused (a notify directory holds sockets only).
    private static func removeEntries(of path: String) throws(SystemFailure) {
        let fd = open(path, O_RDONLY | O_DIRECTORY | O_NOFOLLOW | O_CLOEXEC)
        guard fd >= 0, let directory = fdopendir(fd) else {
            let cause = SystemCallError.last(fd >= 0 ? "fdopendir" : "open", subject: path)
            if fd >= 0 { close(fd) }
            throw SystemFailure(.runtimeDirectory, "cannot open directory \(path)", failed: cause)
        }
        defer { closedir(directory) }
        while let entry = readdir(directory) {
            let name = withUnsafeBytes(of: entry.pointee.d_name) { raw in
                String(cString: raw.bindMemory(to: CChar.self).baseAddress!)
            }
            guard name != "." && name != ".." else { continue }
            if unlinkat(fd, name, 0) != 0 && errno != ENOENT {
                throw SystemFailure(
                    .runtimeDirectory, "cannot remove \(path)/\(name), left by an earlier supervisor",
                    failed: .last("unlinkat", subject: "\(path)/\(name)"))
            }
        }
    }
}
