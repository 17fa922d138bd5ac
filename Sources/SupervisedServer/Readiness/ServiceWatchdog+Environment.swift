public import SystemdSupport

extension ServiceWatchdog {
    /// The watchdog the manager asks this process for, read as libsystemd's `sd_watchdog_enabled` reads it; not
    /// started.
    ///
    /// Returns `nil` when `WATCHDOG_USEC` is unset (no watchdog), or when `WATCHDOG_PID` is set and names another
    /// process (the variables were meant for an ancestor and leaked through). The variables are not unset:
    /// `unsetenv` is not thread-safe.
    ///
    /// - Throws: ``ServiceWatchdogError`` when `WATCHDOG_USEC` is not a positive number of microseconds (or is
    ///   infinity, `2^64-1`), or `WATCHDOG_PID` is not a process id.
    public static func fromEnvironment(
        notifier: SystemdNotifier = SystemdNotifier()
    ) throws(ServiceWatchdogError) -> ServiceWatchdog? {
        guard let timeout = try timeoutFromEnvironment() else { return nil }
        return ServiceWatchdog(timeout: timeout, notifier: notifier)
    }

    /// Reads the environment (``fromEnvironment(notifier:)``) and, when a watchdog applies to this process, starts
    /// pinging. Call it once the service serves.
    ///
    /// - Returns: The running watchdog, to ``stop()`` later, or `nil` when none applies.
    /// - Throws: ``ServiceWatchdogError`` when the variables are malformed; nothing is started then.
    @discardableResult
    public static func startIfEnabled(
        notifier: SystemdNotifier = SystemdNotifier()
    ) throws(ServiceWatchdogError) -> ServiceWatchdog? {
        let watchdog = try fromEnvironment(notifier: notifier)
        watchdog?.start()
        return watchdog
    }

    /// The timeout of `WATCHDOG_USEC` when it applies to this process, read with libsystemd's `sd_watchdog_enabled`
    /// (``SystemdNotifier/watchdogTimeout()``).
    static func timeoutFromEnvironment() throws(ServiceWatchdogError) -> Duration? {
        do { return try SystemdNotifier.watchdogTimeout() } catch {
            throw ServiceWatchdogError(
                "no watchdog can be kept: \(error); WATCHDOG_USEC must be a positive number of microseconds, and "
                    + "WATCHDOG_PID, if set, a process id")
        }
    }
}

/// Watchdog variables that cannot be used, with what is wrong in words a person can act on.
public struct ServiceWatchdogError: Error, Hashable, CustomStringConvertible {
    /// What is wrong.
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
