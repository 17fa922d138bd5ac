import Synchronization
public import SystemdSupport

/// Keeps the service manager's watchdog fed: sends `WATCHDOG=1` over sd_notify every half of the watchdog timeout,
/// as systemd's `WatchdogSec=` (or the supervisor's `--watchdog-sec`) expects. A service that stops sending it within
/// the timeout is considered hung and is killed (systemd) or replaced (the supervisor).
///
/// The one-liner, once the server serves:
///
/// ```swift
/// try ServiceWatchdog.startIfEnabled()
/// ```
///
/// The pings come from a task of their own, so they prove that the process and its concurrency runtime are alive,
/// not that request handling works; stop them (``stop()``) where your own health check fails, so the manager
/// replaces the process. Pinging runs until ``stop()`` or the end of the process, whether or not the watchdog object
/// is still referenced: dropping it must not make the manager kill a healthy service.
public final class ServiceWatchdog: Sendable {
    /// The manager's watchdog timeout: with no `WATCHDOG=1` for this long, the service is considered hung.
    public let timeout: Duration
    /// How often `WATCHDOG=1` is sent: half of ``timeout``, as sd_watchdog_enabled(3) recommends.
    public let pingInterval: Duration

    private let notifier: SystemdNotifier
    private let pinger = Mutex<Pinger>(Pinger())

    private struct Pinger {
        var task: Task<Void, Never>?
        /// Bumped by every start and stop, so a task that was stopped sends nothing more, even mid-loop.
        var generation = 0
    }

    /// A watchdog for `timeout`, sending through `notifier` (which sends nothing when `NOTIFY_SOCKET` is unset).
    ///
    /// - Precondition: `timeout` is positive.
    public init(timeout: Duration, notifier: SystemdNotifier = SystemdNotifier()) {
        precondition(timeout > .zero, "a watchdog timeout must be positive, not \(timeout)")
        self.timeout = timeout
        self.pingInterval = timeout / 2
        self.notifier = notifier
    }

    /// Whether pings are being sent: ``start()`` was called and ``stop()`` not since.
    public var isRunning: Bool { pinger.withLock { $0.task != nil } }

    /// Sends `WATCHDOG=1` now, then every ``pingInterval`` until ``stop()``. Does nothing when already running.
    public func start() {
        pinger.withLock { pinger in
            guard pinger.task == nil else { return }
            pinger.generation += 1
            let generation = pinger.generation
            pinger.task = Task.detached { [self] in
                await self.ping(while: generation)
            }
        }
    }

    /// Stops sending `WATCHDOG=1`; after it returns no further ping is queued (one queued before may still go out).
    /// ``start()`` may start again. Does nothing when not running.
    public func stop() {
        pinger.withLock { pinger in
            pinger.generation += 1
            pinger.task?.cancel()
            pinger.task = nil
        }
    }

    /// Sends one `WATCHDOG=1` now, whether or not pinging runs.
    ///
    /// - Returns: Whether a manager listens (`NOTIFY_SOCKET` is set) and the ping was queued.
    @discardableResult
    public func ping() -> Bool {
        notifier.send("WATCHDOG=1")
    }

    private func ping(while generation: Int) async {
        let clock = ContinuousClock()
        var next = clock.now
        while !Task.isCancelled {
            let stillRunning = pinger.withLock { pinger in
                // Under the lock, so that stop() returning means no more pings.
                guard pinger.generation == generation else { return false }
                ping()
                return true
            }
            guard stillRunning else { return }
            next += pingInterval
            // After a stall (a suspended process, a starved pool), ping at once, then keep the interval from now.
            if next < clock.now { next = clock.now }
            do {
                try await Task.sleep(until: next, clock: clock)
            } catch {
                return
            }
        }
    }
}
