internal import Logging
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// How often a readiness probe runs while an instance starts.
    static let probeInterval: Duration = .milliseconds(200)
    /// How long one probe attempt may take.
    static let probeTimeout: Duration = .seconds(2)

    /// The instance is ready, whichever probe said so: back to the usual priority, tell the machine, then start watching
    /// its liveness.
    func markReady(_ id: InstanceID) {
        // The usual priority first: the READY=1 the supervisor may send systemd for it comes after.
        if let running = instances[id], machine.record(id)?.phase == .starting { restoreStartPriority(running) }
        handle(.ready(id))
        guard let record = machine.record(id), record.phase == .ready, let running = instances[id] else { return }
        if let watchdog = running.configuration.watchdog {
            probes.watchdogPinged(id, at: .now)
            after(watchdog, .check(id, .watchdog))
        }
        if running.configuration.liveness != nil {
            after(running.configuration.livenessInterval, .check(id, .liveness))
        }
    }

    /// Sets the threads of an instance that started at a lower priority (``StartPriority``) back to the usual one.
    func restoreStartPriority(_ running: RunningInstance) {
        startPriority.restore(
            running.pid, startedWith: startPriority.nice(for: running.configuration),
            idle: startPriority.idle(for: running.configuration))
    }

    /// An instance's `start-idle` is up before it is ready: from now on it starts at the usual priority, so that a
    /// start on cores the load keeps busy still ends within its ready timeout.
    func startIdleOver(_ id: InstanceID) {
        guard let record = machine.record(id), record.phase == .starting, let running = instances[id] else { return }
        let threads = startPriority.restore(running.pid, startedWith: 0, idle: true)
        let text =
            "\(record.label) is not ready after start-idle \(running.configuration.startIdle.secondsText); it goes on "
            + "starting at the usual priority (\(threads) threads)"
        logger.info("\(text)")
    }

    /// A probe's turn has come for an instance.
    func check(_ id: InstanceID, _ kind: ProbeKind) {
        guard let record = machine.record(id), let running = instances[id] else { return }
        switch kind {
        case .readiness:
            guard record.phase == .starting, !probes.isInFlight(id) else { return }
            runReadinessProbe(id, running)
        case .watchdog:
            guard record.isServingHealthy, let interval = running.configuration.watchdog,
                let last = probes[id]?.lastWatchdog
            else { return }
            let silent = ContinuousClock.now - last
            if silent >= interval {
                handle(
                    .unhealthy(
                        id, "sent no WATCHDOG=1 for \(silent.secondsText) (watchdog-sec \(interval.secondsText))"))
            } else {
                after(interval - silent, .check(id, .watchdog))
            }
        case .liveness:
            guard record.isServingHealthy, case .http(let url) = running.configuration.liveness,
                !probes.isInFlight(id)
            else { return }
            runHTTPProbe(id, .liveness, url: url, running: running)
        }
    }

    /// The outcome of a probe that ran off the event loop.
    func probed(_ id: InstanceID, _ kind: ProbeKind, passed: Bool, detail: String) {
        guard let record = machine.record(id), let running = instances[id] else {
            probes.ended(id)
            return
        }
        switch kind {
        case .readiness:
            probes.readinessAnswered(id, detail: detail)
            guard record.phase == .starting else { return }
            if passed {
                markReady(id)
            } else {
                logger.debug("\(record.label) is not ready yet: \(detail)")
                after(Self.probeInterval, .check(id, .readiness))
            }
        case .liveness:
            guard record.isServingHealthy else {
                probes.ended(id)
                return
            }
            let configuration = running.configuration
            let verdict = probes.livenessAnswered(
                id, passed: passed, detail: detail, threshold: configuration.livenessThreshold)
            switch verdict {
            case .healthy:
                break
            case .failing(let failures), .unhealthy(let failures):
                logger.warning(
                    "\(record.label) failed its liveness probe (\(failures) of \(configuration.livenessThreshold)): \(detail)"
                )
            }
            if case .unhealthy(let failures) = verdict {
                handle(.unhealthy(id, "failed its liveness probe \(failures) times in a row (\(detail))"))
                return
            }
            after(configuration.livenessInterval, .check(id, .liveness))
        case .watchdog:
            probes.ended(id)
        }
    }

    /// Kills an `exec:` probe that still runs after its timeout (its exit then fails the attempt).
    func killProbe(_ pid: Int32) {
        guard probes.isProbeProcess(pid) else { return }
        kill(-pid, SIGKILL)
    }

    private func runReadinessProbe(_ id: InstanceID, _ running: RunningInstance) {
        switch running.configuration.readiness {
        case .http(let url):
            runHTTPProbe(id, .readiness, url: url, running: running)
        case .exec(let command):
            runExecProbe(id, command: command, running: running)
        case .notify, .listen:
            break
        }
    }

    private func runHTTPProbe(_ id: InstanceID, _ kind: ProbeKind, url: ProbeURL, running: RunningInstance) {
        guard let target = try? url.resolve(slot: running.slot.index, adminPort: running.adminPort ?? 0) else { return }
        probes.started(id)
        Self.probe(target, for: id, kind, into: eventSink)
    }

    private static func probe(
        _ target: (host: String, port: UInt16, path: String),
        for id: InstanceID,
        _ kind: ProbeKind,
        into sink: AsyncStream<Event>.Continuation
    ) {
        Task {
            let outcome = await HTTPProbe.get(
                host: target.host, port: target.port, path: target.path, timeout: probeTimeout)
            sink.yield(.probeResult(id, kind, passed: outcome.passed, detail: outcome.detail))
        }
    }

    /// Runs `/bin/sh -c COMMAND` with the instance's environment plus `SUPERVISOR_PID`; its exit, reaped with the
    /// instances', is the answer. One that hangs is killed after ``probeTimeout``.
    private func runExecProbe(_ id: InstanceID, command: String, running: RunningInstance) {
        let environment = running.environment + ["\(ServiceEnvironment.probedPID)=\(running.pid)"]
        do {
            // Only the probe's exit status answers; its output goes to /dev/null.
            let process = try ProcessSpawner.spawn(
                path: "/bin/sh", arguments: ["sh", "-c", command], environment: environment, discardOutput: true,
                credentials: running.configuration.credentials, nullDevice: nullDevice)
            probes.started(id, process: process.pid)
            after(Self.probeTimeout, .killProbe(process.pid))
        } catch {
            probed(id, .readiness, passed: false, detail: "exec probe could not start: \(error)")
        }
    }
}
