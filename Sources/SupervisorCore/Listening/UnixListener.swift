internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// The Unix stream sockets the supervisor binds for `unix:` listen addresses (`shared` mode) and the health
/// endpoint.
///
/// A socket is bound under a temporary name in the path's directory, given its mode and owner, set listening, and
/// only then renamed over the path: a client never finds the path missing, refusing, or with other permissions, and
/// a stale socket file of an earlier run is replaced in one step. The path is never unlinked while the supervisor
/// runs, reloads or upgrades itself; ``remove(_:ifNaming:)`` removes it at stop, and only while it still names the
/// supervisor's socket (``FileIdentity``).
package enum UnixListener {
    /// The file a path names, by device and inode: what tells the supervisor's socket file from one that replaced it.
    package struct FileIdentity: Hashable, Codable, Sendable {
        package let device: UInt64
        package let inode: UInt64

        /// The file at `path` now, when it is a socket.
        package static func ofSocket(at path: String) -> FileIdentity? {
            var status = stat()
            guard lstat(path, &status) == 0, status.st_mode & S_IFMT == S_IFSOCK else { return nil }
            return FileIdentity(device: UInt64(status.st_dev), inode: UInt64(status.st_ino))
        }
    }

    /// Binds `address` (a `unix:` one) atomically, as the type's documentation says.
    ///
    /// - Throws: ``SystemFailure`` (``SystemFailure/Code/listen``) naming the path and the fix: its directory is
    ///   missing, something that is not a socket is there, a running process accepts connections on it, or a call
    ///   failed (e.g. the directory is not writable).
    package static func bind(
        _ address: ListenAddress,
        backlog: Int32,
        permissions: SocketPermissions
    ) throws(SystemFailure) -> (fd: Int32, identity: FileIdentity) {
        let path = address.path
        let what = "cannot listen on \(address)"
        let slash = path.lastIndex(of: "/")!
        let directory = slash == path.startIndex ? "/" : String(path[..<slash])
        var status = stat()
        if stat(directory, &status) != 0 {
            let error = SystemCallError.last("stat", subject: directory)
            if error.errno == ENOENT {
                throw SystemFailure(
                    .listen,
                    "\(what): the directory \(directory) does not exist; create it (RuntimeDirectory= in the unit, or "
                        + "mkdir -p \(directory)) or choose another path", cause: error)
            }
            throw SystemFailure(.listen, "\(what): cannot reach \(directory)", failed: error)
        }
        guard status.st_mode & S_IFMT == S_IFDIR else {
            throw SystemFailure(.listen, "\(what): \(directory) is not a directory")
        }
        try checkReplaceable(path, what: what)
        let fd: Int32
        do {
            fd = try systemCall("socket", subject: address.description) {
                socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
            }
        } catch {
            throw SystemFailure(.listen, what, failed: error)
        }
        // A name a crashed supervisor left between its bind and its rename is taken: another one is drawn.
        var temporary = temporaryPath(in: directory)
        for attempt in 1...3 {
            do throws(SystemCallError) {
                try withAddress(temporary) { pointer, length throws(SystemCallError) in
                    try systemCall("bind", subject: temporary) { Glibc.bind(fd, pointer, length) }
                }
                break
            } catch {
                if error.errno == EADDRINUSE && attempt < 3 {
                    temporary = temporaryPath(in: directory)
                    continue
                }
                close(fd)
                throw SystemFailure(.listen, "\(what): cannot bind a socket in \(directory)", failed: error)
            }
        }
        do throws(SystemCallError) {
            try systemCall("chmod", subject: temporary) { chmod(temporary, mode_t(permissions.mode)) }
            if permissions.uid != nil || permissions.gid != nil {
                try systemCall("chown", subject: temporary) {
                    chown(temporary, permissions.uid ?? UInt32.max, permissions.gid ?? UInt32.max)
                }
            }
            try systemCall("listen", subject: temporary) { listen(fd, backlog) }
            try systemCall("rename", subject: "\(temporary) to \(path)") { rename(temporary, path) }
        } catch {
            unlink(temporary)
            close(fd)
            throw SystemFailure(.listen, "\(what): \(error)", cause: error)
        }
        guard let identity = FileIdentity.ofSocket(at: path) else {
            close(fd)
            throw SystemFailure(.listen, "\(what): \(path) was replaced as soon as it was bound")
        }
        return (fd, identity)
    }

    /// Whether `path` still names the socket file with `identity`.
    package static func names(_ path: String, _ identity: FileIdentity) -> Bool {
        FileIdentity.ofSocket(at: path) == identity
    }

    /// What is at `path` instead of the socket file with `identity`, in words: `nil` while it is the socket.
    package static func replacement(at path: String, of identity: FileIdentity) -> String? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return "it was removed" }
        if status.st_mode & S_IFMT == S_IFSOCK {
            return FileIdentity.ofSocket(at: path) == identity ? nil : "another socket replaced it"
        }
        return "another file replaced it"
    }

    /// Removes `path` while it names the socket file with `identity`; leaves anything else there alone.
    package static func remove(_ path: String, ifNaming identity: FileIdentity) {
        if names(path, identity) { unlink(path) }
    }

    /// Refuses a path that holds anything but a socket nobody accepts on (a stale one is replaced by the rename).
    private static func checkReplaceable(_ path: String, what: String) throws(SystemFailure) {
        var status = stat()
        guard lstat(path, &status) == 0 else { return }
        guard status.st_mode & S_IFMT == S_IFSOCK else {
            throw SystemFailure(
                .listen,
                "\(what): \(path) exists and is not a socket; remove it or choose another path")
        }
        guard isAccepting(path) else { return }
        let owner = owner(ofListening: path).map { " (pid \($0.pid), \($0.command))" } ?? ""
        throw SystemFailure(
            .listen,
            "\(what): a running process\(owner) accepts connections on \(path); stop it (another supervisor of "
                + "the same socket?) or choose another path")
    }

    /// Whether a connection to `path` is accepted, or queued (a full queue: `EAGAIN`), rather than refused.
    private static func isAccepting(_ path: String) -> Bool {
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue | SOCK_NONBLOCK.rawValue), 0)
        guard fd >= 0 else { return false }
        defer { close(fd) }
        var accepting = false
        try? withAddress(path) { pointer, length throws(SystemCallError) in
            let result = connect(fd, pointer, length)
            accepting = result == 0 || errno == EAGAIN || errno == EINPROGRESS
        }
        return accepting
    }

    /// The process that holds the listening socket bound to `path`, from `/proc/net/unix` and `/proc/PID/fd`.
    private static func owner(ofListening path: String) -> (pid: Int32, command: String)? {
        guard let table = FileText.read("/proc/net/unix") else { return nil }
        // Num RefCount Protocol Flags Type St Inode Path; flag 0x10000 is __SO_ACCEPTCON (listening).
        let inodes = Set(
            table.split(separator: "\n").dropFirst().compactMap { line -> UInt64? in
                let fields = line.split(separator: " ", maxSplits: 7)
                guard fields.count == 8, fields[7] == path, let flags = UInt32(fields[3], radix: 16),
                    flags & 0x10000 != 0
                else { return nil }
                return UInt64(fields[6])
            })
        guard !inodes.isEmpty else { return nil }
        let processes = ProcessTable.current().processes
        for pid in processes.keys.sorted()
        where !ListeningSocket.socketInodes(ofProcess: pid).isDisjoint(with: inodes) {
            return (pid, processes[pid]?.command ?? "?")
        }
        return nil
    }

    /// A name in `directory` for a socket before it is renamed into place: `.~` and three random letters, or only
    /// as many random letters as fit when that would be longer than a path may be, so that every path
    /// ``ListenAddress`` accepts can be bound.
    static func temporaryPath(in directory: String) -> String {
        let prefix = directory == "/" ? "/" : directory + "/"
        let room = ListenAddress.maximumPathLength - prefix.utf8.count
        let letters = Array("abcdefghijklmnopqrstuvwxyz0123456789")
        let random = { (count: Int) in String((0..<count).map { _ in letters.randomElement()! }) }
        return prefix + (room >= 5 ? ".~" + random(3) : random(max(room, 1)))
    }

    /// Calls `body` with `path` as a `sockaddr_un`.
    private static func withAddress(
        _ path: String,
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemCallError) -> Void
    ) throws(SystemCallError) {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else { throw SystemCallError(call: "bind", errno: ENAMETOOLONG, subject: path) }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sockaddr_un>.offset(of: \.sun_path)! + bytes.count + 1)
        var failure: SystemCallError?
        withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { pointer in
                do throws(SystemCallError) { try body(pointer, length) } catch { failure = error }
            }
        }
        if let failure { throw failure }
    }
}
