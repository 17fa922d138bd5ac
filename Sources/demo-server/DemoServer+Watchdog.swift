import ArgumentParser
import SupervisedServer
import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

extension DemoServer {
    /// The watchdog that `WATCHDOG_USEC` asks for, not started; `nil` when none applies to this process.
    func watchdogFromEnvironment(log: DemoLog) throws -> ServiceWatchdog? {
        let watchdog: ServiceWatchdog?
        do {
            watchdog = try ServiceWatchdog.fromEnvironment()
        } catch {
            log.error("\(error)")
            throw ExitCode.failure
        }
        if watchdog == nil, ServiceEnvironment.value(of: ServiceEnvironment.watchdogMicroseconds) != nil {
            log.info("WATCHDOG_PID names another process: not sending WATCHDOG=1")
        }
        return watchdog
    }

    /// Starts the pings, and with `--stop-watchdog-after` stops them later while the server goes on serving.
    func startWatchdog(_ watchdog: ServiceWatchdog, log: DemoLog) {
        watchdog.start()
        log.info("watchdog: sending WATCHDOG=1 every \(watchdog.pingInterval) (timeout \(watchdog.timeout))")
        guard let stopWatchdogAfter else { return }
        Task {
            try await Task.sleep(for: .milliseconds(stopWatchdogAfter))
            watchdog.stop()
            log.warning("stopped sending WATCHDOG=1, as asked (--stop-watchdog-after); still serving")
        }
    }

    /// With `--unhealthy-after`, turns `/health` to 503 that long after the server became healthy.
    func scheduleUnhealthy(_ health: DemoHealth, log: DemoLog) {
        guard let unhealthyAfter else { return }
        Task {
            try await Task.sleep(for: .milliseconds(unhealthyAfter))
            guard health.current == .healthy else { return }
            health.set(.unhealthy)
            log.warning("/health answers 503 from now on, as asked (--unhealthy-after); still serving")
        }
    }

    /// With `--crash-after`, exits with status 3 that long after the server became ready, as a crash would.
    func scheduleCrash(log: DemoLog) {
        guard let crashAfter else { return }
        Task {
            try await Task.sleep(for: .milliseconds(crashAfter))
            log.error("crashing as asked (--crash-after)")
            Glibc.exit(3)
        }
    }
}
