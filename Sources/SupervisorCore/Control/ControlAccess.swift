#if canImport(Glibc)
import Glibc
#endif

/// A group whose members may use the control socket (`--control-group`), resolved when the configuration loads.
package struct ControlGroup: Equatable, Sendable {
    package let name: String
    package let gid: UInt32

    package init(name: String, gid: UInt32) {
        self.name = name
        self.gid = gid
    }

    /// Looks the group up by name (or a numeric gid).
    ///
    /// - Throws: ``ConfigurationError`` naming the group when it does not exist.
    package init(named name: String) throws(ConfigurationError) {
        if let gid = UInt32(name) {
            self.init(name: name, gid: gid)
            return
        }
        var group = group()
        var result: UnsafeMutablePointer<group>?
        var buffer = [CChar](repeating: 0, count: 16_384)
        let status = getgrnam_r(name, &group, &buffer, buffer.count, &result)
        guard status == 0, let found = result else {
            throw ConfigurationError(
                "control-group '\(name)' does not exist; create it (groupadd \(name)) or name an existing group")
        }
        self.init(name: name, gid: found.pointee.gr_gid)
    }
}

/// The credentials of the process at the other end of a control connection (`SO_PEERCRED`).
package struct PeerCredentials: Equatable, Sendable {
    package let pid: Int32
    package let uid: UInt32
    package let gid: UInt32

    package init(pid: Int32, uid: UInt32, gid: UInt32) {
        self.pid = pid
        self.uid = uid
        self.gid = gid
    }
}

/// Who may use the control socket: root, the supervisor's own user, and members of the `--control-group`. The
/// socket's mode (0600, or 0660 owned by the group) already keeps others out; this check holds even when the mode is
/// wrong or the socket was reached some other way.
package struct ControlAccess: Equatable, Sendable {
    package let ownerUID: UInt32
    package let group: ControlGroup?

    package init(ownerUID: UInt32, group: ControlGroup?) {
        self.ownerUID = ownerUID
        self.group = group
    }

    /// Whether `peer` may send requests; `supplementaryGroups` are the peer's other groups (from `/proc`), read only
    /// when a control group could let the peer in.
    package func allows(_ peer: PeerCredentials, supplementaryGroups: @autoclosure () -> [UInt32]) -> Bool {
        if peer.uid == 0 || peer.uid == ownerUID { return true }
        guard let group else { return false }
        return peer.gid == group.gid || supplementaryGroups().contains(group.gid)
    }

    /// The answer a refused peer gets.
    package func refusal(for peer: PeerCredentials, name: String) -> String {
        let who = group.map { "root, uid \(ownerUID) or members of group '\($0.name)'" } ?? "root or uid \(ownerUID)"
        let fix =
            group == nil
            ? "; run it as one of them, or start the supervisor with --control-group GROUP to let a group in" : ""
        return "permission denied: uid \(peer.uid) may not control supervisor '\(name)', only \(who) may\(fix)"
    }

    /// The supplementary groups of a process, from the `Groups:` line of `/proc/PID/status`; empty when unreadable.
    package static func supplementaryGroups(of pid: Int32) -> [UInt32] {
        guard let status = FileText.read("/proc/\(pid)/status") else { return [] }
        return (FileText.statusValues("Groups", in: status) ?? []).compactMap { UInt32($0) }
    }
}
