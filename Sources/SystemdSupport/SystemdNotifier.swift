import CSystemd
import Dispatch

#if canImport(Glibc)
import Glibc
#endif

/// Sends service state to the service manager over the sd_notify protocol (libsystemd's `sd_notify`).
///
/// Every call is a no-op when `NOTIFY_SOCKET` is not set, so a program behaves the same under systemd, under the
/// supervisor (which plays systemd's part for its instances) and from a terminal. The environment is never modified
/// (`unset_environment` is 0: `unsetenv` is not thread-safe).
///
/// Messages are sent in order from a queue of their own: `sd_notify` blocks while the manager's receive queue is
/// full, and a busy or stuck manager must never stall the caller's work.
public struct SystemdNotifier: Sendable {
    private static let queue = DispatchQueue(label: "systemd-notify")

    /// The notifier of this process.
    public init() {}

    /// Whether a service manager listens: `NOTIFY_SOCKET` is set.
    public var isEnabled: Bool { ServiceEnvironment.value(of: ServiceEnvironment.notifySocket) != nil }

    /// Queues newline-separated `KEY=VALUE` assignments, e.g. `"READY=1\nSTATUS=serving"`, for sending.
    ///
    /// - Returns: `true` when a manager listens and the message was queued, `false` when none listens. Failures to
    ///   send are not reported: a service must keep serving when its manager is gone.
    @discardableResult
    public func send(_ assignments: String) -> Bool {
        guard isEnabled else { return false }
        Self.queue.async { _ = sd_notify(0, assignments) }
        return true
    }

    /// Waits until the messages queued so far are sent, or `timeout` passes (a stuck manager); call it before the
    /// process exits so its last state (`STOPPING=1`) is not lost.
    public func flush(timeout: Duration = .seconds(1)) {
        let sent = DispatchSemaphore(value: 0)
        Self.queue.async { sent.signal() }
        let (seconds, attoseconds) = timeout.components
        _ = sent.wait(timeout: .now() + .nanoseconds(Int(seconds * 1_000_000_000 + attoseconds / 1_000_000_000)))
    }

    /// Tells the manager that start-up is complete, with an optional status line.
    @discardableResult
    public func ready(status: String? = nil) -> Bool {
        send(Self.join(["READY=1", status.map { "STATUS=\($0)" }]))
    }

    /// Tells the manager that a reload began. systemd 253 and later also need `MONOTONIC_USEC=`, which is included;
    /// older managers ignore it. Send ``ready(status:)`` when the reload is over.
    @discardableResult
    public func reloading(status: String? = nil) -> Bool {
        send(
            Self.join(["RELOADING=1", "MONOTONIC_USEC=\(Self.monotonicMicroseconds())", status.map { "STATUS=\($0)" }]))
    }

    /// Tells the manager that the service is shutting down.
    @discardableResult
    public func stopping(status: String? = nil) -> Bool {
        send(Self.join(["STOPPING=1", status.map { "STATUS=\($0)" }]))
    }

    /// Tells the manager that the service is alive, for `WatchdogSec=`.
    @discardableResult
    public func watchdog() -> Bool {
        send("WATCHDOG=1")
    }

    /// Asks the manager to wait `duration` more from now before it gives up on the current start, reload or stop
    /// (`EXTEND_TIMEOUT_USEC=`, systemd 236 and later): sent while instances drain, so `TimeoutStopSec=` does not
    /// SIGKILL a drain that is within its own deadline.
    @discardableResult
    public func extendTimeout(by duration: Duration) -> Bool {
        let (seconds, attoseconds) = duration.components
        let microseconds = max(0, seconds) * 1_000_000 + attoseconds / 1_000_000_000_000
        return send("EXTEND_TIMEOUT_USEC=\(microseconds)")
    }

    /// Keeps a copy of `fd` in the manager's file descriptor store under `name` (`FDSTORE=1`, `FDNAME=`), in place of
    /// what was stored under that name, so that the manager passes it back (`LISTEN_FDS`, `LISTEN_FDNAMES`) when it
    /// starts this service again after a crash. The unit needs `FileDescriptorStoreMax=` above 0, or the manager
    /// refuses it (in its own log). `name` is printable ASCII without `:`, at most 255 characters. `fd` may be closed
    /// as soon as this returns: a duplicate of it is sent.
    ///
    /// - Returns: `false` when no manager listens or `fd` cannot be duplicated.
    @discardableResult
    public func store(_ fd: Int32, name: String) -> Bool {
        guard isEnabled else { return false }
        let copy = fcntl(fd, F_DUPFD_CLOEXEC, 3)
        guard copy >= 0 else { return false }
        Self.queue.async {
            _ = sd_notify(0, "FDSTOREREMOVE=1\nFDNAME=\(name)")
            var descriptor = copy
            _ = sd_pid_notify_with_fds(0, 0, "FDSTORE=1\nFDNAME=\(name)", &descriptor, 1)
            close(copy)
        }
        return true
    }

    /// Drops what the manager's file descriptor store holds under `name` (`FDSTOREREMOVE=1`).
    @discardableResult
    public func removeStored(name: String) -> Bool {
        send("FDSTOREREMOVE=1\nFDNAME=\(name)")
    }

    /// The manager's watchdog timeout for this process (`WatchdogSec=`, passed as `WATCHDOG_USEC` and
    /// `WATCHDOG_PID`), read with libsystemd's `sd_watchdog_enabled`; `nil` when none applies (unset, or meant for
    /// another process).
    ///
    /// - Throws: ``SystemCallError`` of `sd_watchdog_enabled`, naming the variables, when they are malformed
    ///   (`WATCHDOG_USEC` not a positive number of microseconds, `WATCHDOG_PID` not a pid).
    public static func watchdogTimeout() throws(SystemCallError) -> Duration? {
        var microseconds: UInt64 = 0
        let result = sd_watchdog_enabled(0, &microseconds)
        if result < 0 {
            throw SystemCallError(
                call: "sd_watchdog_enabled", errno: -result,
                subject: "("
                    + ServiceEnvironment.describe([
                        ServiceEnvironment.watchdogMicroseconds, ServiceEnvironment.watchdogPID,
                    ]) + ")")
        }
        guard result > 0, microseconds > 0 else { return nil }
        return .microseconds(microseconds)
    }

    /// Updates the free-form status line that `systemctl status` shows.
    @discardableResult
    public func status(_ text: String) -> Bool {
        send("STATUS=\(text)")
    }

    /// `CLOCK_MONOTONIC` in microseconds, the clock systemd uses for `MONOTONIC_USEC=`.
    public static func monotonicMicroseconds() -> UInt64 {
        var now = timespec()
        clock_gettime(CLOCK_MONOTONIC, &now)
        return UInt64(now.tv_sec) * 1_000_000 + UInt64(now.tv_nsec) / 1_000
    }

    private static func join(_ parts: [String?]) -> String {
        parts.compactMap { $0 }.joined(separator: "\n")
    }
}
