#if canImport(Glibc)
import Glibc
#endif

/// Who may connect to the Unix sockets the supervisor binds (`socket-mode`, `socket-user`, `socket-group`): set on
/// the socket's file before it is renamed into place, so it is never reachable with other permissions.
package struct SocketPermissions: Equatable, Sendable, Codable {
    /// The permission bits, `0o660` by default: the owner and the group may connect.
    package let mode: UInt32
    /// The owner; `nil`: the supervisor's user.
    package let uid: UInt32?
    /// The group; `nil`: the supervisor's group.
    package let gid: UInt32?

    package static let standard = SocketPermissions(mode: 0o660, uid: nil, gid: nil)

    package init(mode: UInt32, uid: UInt32?, gid: UInt32?) {
        self.mode = mode
        self.uid = uid
        self.gid = gid
    }

    /// Reads the settings' text: an octal mode (`0660`, `660`, `0o660`), a user and a group by name or number.
    ///
    /// - Throws: ``ConfigurationError`` for a mode that is not octal permission bits, an unknown user or group, or
    ///   an owner this process may not give a file.
    package init(
        mode text: String,
        user: String?,
        group: String?,
        supervisorUID: UInt32 = getuid()
    ) throws(ConfigurationError) {
        let digits = text.hasPrefix("0o") ? String(text.dropFirst(2)) : text
        guard !digits.isEmpty, digits.count <= 4, let mode = UInt32(digits, radix: 8), mode <= 0o777 else {
            throw ConfigurationError(
                "socket-mode '\(text)' is not a file mode; give permission bits in octal, e.g. 0660 (owner and group "
                    + "may connect) or 0666 (everyone)")
        }
        if mode & 0o200 == 0 {
            throw ConfigurationError(
                "socket-mode \(String(mode, radix: 8)) lets not even the socket's owner connect (connecting needs "
                    + "write permission); use e.g. 0660")
        }
        var uid: UInt32?
        if let user {
            let resolved = try Self.userID(user)
            if supervisorUID != 0 && resolved != supervisorUID {
                throw ConfigurationError(
                    "socket-user '\(user)' is another user than the supervisor's (uid \(supervisorUID)), and only root "
                        + "may give a file to another user; run the supervisor as root or use socket-group")
            }
            uid = resolved
        }
        let gid = try group.map { name throws(ConfigurationError) in
            do { return try InstanceCredentials.groupID(name) } catch {
                throw ConfigurationError(
                    "socket-group '\(name)' does not exist; create it (groupadd \(name)) or name another")
            }
        }
        self.init(mode: mode, uid: uid, gid: gid)
    }

    /// `0660`, with the owner and group when given.
    package var description: String {
        let octal = String(mode, radix: 8)
        var text = String(repeating: "0", count: max(0, 4 - octal.count)) + octal
        if let uid { text += " owner \(uid)" }
        if let gid { text += " group \(gid)" }
        return text
    }

    private static func userID(_ name: String) throws(ConfigurationError) -> UInt32 {
        if let uid = UInt32(name) { return uid }
        var entry = passwd()
        var result: UnsafeMutablePointer<passwd>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        guard getpwnam_r(name, &entry, &buffer, buffer.count, &result) == 0, result != nil else {
            throw ConfigurationError(
                "socket-user '\(name)' does not exist; create it (useradd --system \(name)) or name another")
        }
        return entry.pw_uid
    }
}
