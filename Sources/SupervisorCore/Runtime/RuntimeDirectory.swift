#if canImport(Glibc)
import Glibc
#endif

/// Directories the supervisor keeps at run time: the one that holds the control socket, and a private one (mode
/// 0700) for the instances' notify sockets, so no other user can even reach them.
public enum RuntimeDirectory {
    /// Creates `path` and its missing parents with `mode`; an existing directory is left as it is.
    ///
    /// - Throws: ``ConfigurationError`` naming the directory and the reason (e.g. a read-only file system).
    public static func ensure(_ path: String, mode: UInt32) throws(ConfigurationError) {
        var built = path.hasPrefix("/") ? "" : "."
        for component in path.split(separator: "/") {
            built += "/" + component
            if mkdir(built, mode) != 0 && errno != EEXIST {
                throw ConfigurationError("cannot create directory \(built): \(String(cString: strerror(errno)))")
            }
        }
    }

    /// Creates the private notify directory afresh: removes what a previous supervisor of the same name left there
    /// (the caller holds the ``InstanceLock``), then makes it mode 0700.
    public static func preparePrivate(_ path: String) throws(ConfigurationError) {
        for entry in FileText.directoryEntries(path) { unlink("\(path)/\(entry)") }
        rmdir(path)
        guard mkdir(path, 0o700) == 0 || errno == EEXIST else {
            throw ConfigurationError("cannot create directory \(path): \(String(cString: strerror(errno)))")
        }
        var info = stat()
        guard lstat(path, &info) == 0, info.st_mode & S_IFMT == S_IFDIR, info.st_uid == getuid() else {
            throw ConfigurationError("\(path) is not a directory owned by this user; remove it")
        }
        chmod(path, 0o700)
    }
}
