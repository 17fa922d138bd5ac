internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// `net.ipv4.tcp_migrate_req` (Linux 5.14+, per network namespace): when a listener in an `SO_REUSEPORT` group
/// closes, the kernel moves the connections queued on it to a sibling instead of resetting them. Without it, `app`
/// mode handovers can lose the requests queued on the old instance's listener.
package struct KernelMigration: Sendable {
    /// What the supervisor found and did.
    package enum Outcome: Equatable, Sendable {
        /// It was already 1.
        case alreadyEnabled
        /// It was 0 and the supervisor set it to 1.
        case enabled
        /// It is 0 and stays 0: `off` was asked for.
        case leftDisabled
        /// It is 0 and may not be changed here; the reason says why.
        case notPermitted(String)
        /// This kernel does not have it.
        case unsupported

        /// Whether queued connections survive a listener closing.
        package var migrates: Bool { self == .alreadyEnabled || self == .enabled }
    }

    package static let defaultPath = "/proc/sys/net/ipv4/tcp_migrate_req"
    /// The line an administrator adds under `/etc/sysctl.d/`.
    package static let sysctlLine = "net.ipv4.tcp_migrate_req = 1"

    package let path: String

    package init(path: String = KernelMigration.defaultPath) { self.path = path }

    /// Reads the setting and, as `choice` allows, sets it to 1.
    package func apply(_ choice: KernelMigrate) -> Outcome {
        guard let text = FileText.read(path) else { return .unsupported }
        if text.trimmingCharacters(in: "\n") != "0" { return .alreadyEnabled }
        guard choice != .off else { return .leftDisabled }
        let fd = open(path, O_WRONLY | O_CLOEXEC)
        guard fd >= 0 else { return .notPermitted(SystemCallError.reason(errno)) }
        defer { close(fd) }
        let written = write(fd, "1\n", 2)
        guard written == 2 else { return .notPermitted(SystemCallError.reason(errno)) }
        return .enabled
    }

    /// What to tell a person about an outcome, and how loud: `nil` when there is nothing to say.
    package static func message(for outcome: Outcome, mode: ListenMode) -> (warning: Bool, text: String)? {
        switch outcome {
        case .alreadyEnabled, .leftDisabled:
            return nil
        case .enabled:
            return (
                false,
                "set net.ipv4.tcp_migrate_req=1 (it was 0), so connections queued on a closing listener move to "
                    + "another instance instead of being reset"
            )
        case .notPermitted(let reason):
            guard mode == .app else { return nil }
            return (
                true,
                "net.ipv4.tcp_migrate_req is 0 and cannot be set here (\(reason)): a reload can reset connections "
                    + "queued on an old instance's listener. Add '\(sysctlLine)' to /etc/sysctl.d/50-supervisor.conf "
                    + "and run 'sysctl --system', or use --listen-mode reuseport or shared"
            )
        case .unsupported:
            guard mode == .app else { return nil }
            return (
                true,
                "this kernel has no net.ipv4.tcp_migrate_req (Linux 5.14 or later): a reload can reset connections "
                    + "queued on an old instance's listener; use --listen-mode reuseport or shared"
            )
        }
    }
}

/// Whether a reload loses no queued connection, and why not.
package struct LosslessState: Equatable, Sendable, CustomStringConvertible {
    package let lossless: Bool
    /// Why not, e.g. `tcp_migrate_req=0`; `nil` when lossless.
    package let reason: String?

    /// - Parameter udp: whether a listen address is UDP; in `app` mode its sockets are the instances' own, and the
    ///   datagrams queued on one are lost when it closes, whatever `tcp_migrate_req` says.
    package init(mode: ListenMode, migration: KernelMigration.Outcome, udp: Bool = false) {
        switch (mode, migration.migrates) {
        case (.app, _) where udp:
            lossless = false
            reason = "UDP sockets of the instances' own"
        case (.reuseport, _), (.shared, _), (.app, true):
            lossless = true
            reason = nil
        case (.app, false):
            lossless = false
            reason = migration == .unsupported ? "kernel without tcp_migrate_req" : "tcp_migrate_req=0"
        }
    }

    /// `yes`, or `no (tcp_migrate_req=0)`.
    package var description: String { lossless ? "yes" : "no (\(reason ?? "unknown"))" }
}
