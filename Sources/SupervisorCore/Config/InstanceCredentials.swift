#if canImport(Glibc)
import Glibc
#endif

/// The user and groups instances run as (`--user`, `--group`), resolved when the configuration loads, while the
/// supervisor keeps its own (so as root it can bind port 80 in `reuseport` or `shared` mode and pass the socket down).
package struct InstanceCredentials: Equatable, Sendable, CustomStringConvertible {
    package let userName: String
    package let uid: UInt32
    /// The primary group: `--group`, else the user's own.
    package let gid: UInt32
    /// The user's supplementary groups (as `initgroups` would set them), with `gid` among them.
    package let groups: [UInt32]

    package init(userName: String, uid: UInt32, gid: UInt32, groups: [UInt32]) {
        self.userName = userName
        self.uid = uid
        self.gid = gid
        self.groups = groups
    }

    package var description: String { "user \(userName) (uid \(uid), gid \(gid))" }

    /// The uid this process runs as.
    package static var currentUID: UInt32 { getuid() }

    /// Looks up `user` (a name or a uid) and `group` (a name or a gid; the user's primary group when `nil`).
    ///
    /// - Throws: ``ConfigurationError`` naming an unknown user or group, or saying that only root may switch users.
    package static func resolve(user: String, group: String?, supervisorUID: UInt32) throws(ConfigurationError)
        -> InstanceCredentials
    {
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let found: Bool
        if let uid = UInt32(user) {
            found = getpwuid_r(uid, &entry, &buffer, buffer.count, &result) == 0 && result != nil
            if !found {
                // A uid without a passwd entry is allowed (as in containers); it gets no supplementary groups.
                let gid = try group.map { name throws(ConfigurationError) in try groupID(name) } ?? uid
                return try checked(
                    InstanceCredentials(userName: user, uid: uid, gid: gid, groups: [gid]), supervisorUID: supervisorUID
                )
            }
        } else {
            found = getpwnam_r(user, &entry, &buffer, buffer.count, &result) == 0 && result != nil
        }
        guard found else {
            throw ConfigurationError(
                "user '\(user)' does not exist; create it (useradd --system \(user)) or name another")
        }
        let name = String(cString: entry.pw_name)
        let uid = entry.pw_uid
        let primary = try group.map { name throws(ConfigurationError) in try groupID(name) } ?? entry.pw_gid
        var groups = [gid_t](repeating: 0, count: 256)
        var count = Int32(groups.count)
        if getgrouplist(name, entry.pw_gid, &groups, &count) < 0 {
            groups = [gid_t](repeating: 0, count: Int(count))
            _ = getgrouplist(name, entry.pw_gid, &groups, &count)
        }
        var supplementary = Array(groups.prefix(Int(max(0, count))))
        if !supplementary.contains(primary) { supplementary.append(primary) }
        return try checked(
            InstanceCredentials(userName: name, uid: uid, gid: primary, groups: supplementary),
            supervisorUID: supervisorUID)
    }

    private static func checked(
        _ credentials: InstanceCredentials,
        supervisorUID: UInt32
    ) throws(ConfigurationError) -> InstanceCredentials {
        guard supervisorUID == 0 || credentials.uid == supervisorUID else {
            throw ConfigurationError(
                "running instances as \(credentials) needs root, and the supervisor runs as uid \(supervisorUID); "
                    + "start it as root or drop --user")
        }
        // Not root and --user names itself: nothing to switch, and setgroups would fail at every spawn; only a
        // group this process already has is possible.
        if supervisorUID != 0 && !currentGroups().contains(credentials.gid) {
            throw ConfigurationError(
                "running instances with group \(credentials.gid) needs root, and the supervisor (uid \(supervisorUID)) "
                    + "is not in that group; start it as root or drop --group")
        }
        return credentials
    }

    /// Whether spawning must change the user and groups: only root does (as another user, ``resolve(user:group:
    /// supervisorUID:)`` allows only the supervisor's own user and groups, which the instance inherits).
    package var needsSwitch: Bool { getuid() == 0 }

    private static func currentGroups() -> Set<UInt32> {
        var groups = [gid_t](repeating: 0, count: Int(max(0, getgroups(0, nil))))
        let count = getgroups(Int32(groups.count), &groups)
        return Set(groups.prefix(Int(max(0, count)))).union([getgid(), getegid()])
    }

    static func groupID(_ name: String) throws(ConfigurationError) -> UInt32 {
        if let gid = UInt32(name) { return gid }
        do {
            return try ControlGroup(named: name).gid
        } catch {
            throw ConfigurationError("group '\(name)' does not exist; create it (groupadd \(name)) or name another")
        }
    }
}
