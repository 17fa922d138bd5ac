public import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

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

    /// The timeout of `WATCHDOG_USEC` when it applies to this process.
    static func timeoutFromEnvironment() throws(ServiceWatchdogError) -> Duration? {
        guard let usecText = environment(timeoutEnvironmentVariable) else { return nil }
        // systemd's safe_atou64 accepts no sign and no blanks; 0 and USEC_INFINITY are "not set" errors there too.
        guard usecText.allSatisfy(\.isASCIIDigitCharacter), let usec = UInt64(usecText), usec > 0,
            usec != UInt64.max, let microseconds = Int64(exactly: usec)
        else {
            throw ServiceWatchdogError(
                "\(timeoutEnvironmentVariable)='\(usecText)' is not a positive number of microseconds"
            )
        }
        if let pidText = environment(pidEnvironmentVariable) {
            guard pidText.allSatisfy(\.isASCIIDigitCharacter), let pid = pid_t(pidText), pid > 0 else {
                throw ServiceWatchdogError("\(pidEnvironmentVariable)='\(pidText)' is not a process id")
            }
            guard pid == getpid() else { return nil }
        }
        return .microseconds(microseconds)
    }

    private static func environment(_ name: String) -> String? {
        getenv(name).map { String(cString: $0) }
    }
}

extension Character {
    fileprivate var isASCIIDigitCharacter: Bool { isASCII && isWholeNumber }
}

/// Watchdog variables that cannot be used, with what is wrong in words a person can act on.
public struct ServiceWatchdogError: Error, Hashable, CustomStringConvertible {
    /// What is wrong.
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
