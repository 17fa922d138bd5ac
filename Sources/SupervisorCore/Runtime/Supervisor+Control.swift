internal import Logging

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    func received(_ request: ControlRequest, reply: AsyncStream<ControlReply>.Continuation) {
        switch request.command {
        case .status:
            countConnectionsForStatus(reply)
        case .reload:
            // During the shutdown delay the machine still runs; a rollout now would start instances only to stop them.
            if shuttingDown {
                logger.warning("reload refused: the supervisor is stopping")
                let refusal = ControlResult(
                    ok: false, message: "reload refused: the supervisor is stopping",
                    outcome: ReloadResult.Kind.refused.rawValue, from: configurations.release(of: machine.target))
                reply.yield(.result(refusal))
                reply.finish()
                return
            }
            let id = replies.newReload(answering: reply)
            handle(.reloadRequested(id, waitForDrain: request.waitForDrain ?? false))
        case .stop:
            if case .running = machine.lifecycle {
                let live = machine.records.filter(\.isLive).count
                reply.yield(.progress("stopping: draining \(live == 1 ? "1 instance" : "\(live) instances")"))
            } else {
                // Said at once, so the client knows this supervisor turns (ControlClient.answerTimeout).
                reply.yield(.progress("already stopping: waiting for the instances to exit"))
            }
            replies.addStop(reply)
            beginStop(force: false)
        case .upgrade:
            receivedUpgrade(request, reply: reply)
        case .upgradeResult:
            reply.yield(.result(upgradeResult(for: request.upgradeID)))
            reply.finish()
        }
    }

    /// A snapshot of everything `supervisor status` shows.
    ///
    /// `connections` are the instances' live connections, counted for `supervisor status`, whose caller asked; the
    /// report the health endpoint publishes after every event leaves them to the endpoint, which counts when
    /// `/status` or `/metrics` is asked for.
    func statusReport(connections: [InstanceID: Int] = [:]) -> StatusReport {
        let now = ContinuousClock.now
        let wallNow = Self.wallClockSeconds()
        func wall(_ instant: ContinuousClock.Instant) -> Double {
            let ago = now - instant
            return wallNow - Double(ago.components.seconds) - Double(ago.components.attoseconds) / 1e18
        }
        let configuration = configurations.current(target: machine.target, or: initialConfiguration)
        let state: String
        switch machine.lifecycle {
        case .notStarted, .running: state = shuttingDown ? "shutting-down" : "running"
        case .stopping, .exited: state = "stopping"
        }
        return StatusReport(
            version: SupervisorVersion.current,
            name: initialConfiguration.name,
            supervisorPID: getpid(),
            state: state,
            generation: machine.target?.number,
            command: configuration.command,
            listen: configuration.listen.map(\.description),
            listenMode: configuration.listenMode.rawValue,
            lossless: lossless.lossless,
            losslessReason: lossless.reason,
            readiness: configuration.readiness.description,
            liveness: configuration.liveness?.description,
            watchdogSeconds: configuration.watchdog.map { Double($0.milliseconds) / 1000 },
            minReady: configuration.minReady,
            instancesWanted: configuration.instances,
            instances: machine.records.map { record in
                StatusReport.Instance(
                    slot: record.slot.index, pid: record.mainPID, generation: record.generation.number,
                    state: record.phase.rawValue, readySince: record.readyAt.map(wall),
                    restarts: machine.restartCounts[record.slot] ?? 0, status: record.statusText,
                    unhealthy: record.unhealthy, probe: probeSummary(record), connections: connections[record.id])
            },
            generations: configurations.releases.keys.sorted().compactMap { configurations.release(of: $0) },
            rollout: machine.rollout.map {
                StatusReport.Rollout(from: $0.from?.number, to: $0.to.number, startedAt: wall($0.startedAt))
            },
            queuedReloads: machine.queuedReloadCount,
            lastResult: machine.lastResult.map {
                StatusReport.LastResult(
                    succeeded: $0.succeeded, result: $0.kind.rawValue, message: $0.message,
                    finishedAt: wall($0.finishedAt), from: $0.from?.number, to: $0.to?.number,
                    toRelease: configurations.release(of: $0.to)?.release)
            },
            drainingGenerations: machine.drainingGenerations.map(\.number),
            maxDraining: configuration.maxDraining,
            upgradeCount: upgradeCount,
            lastUpgrade: upgrades.last)
    }

    /// What the instance's probes last saw, for `status`.
    private func probeSummary(_ record: InstanceRecord) -> String? {
        var parts: [String] = []
        if let summary = probes[record.id]?.summary { parts.append(summary) }
        if let running = instances[record.id], running.configuration.watchdog != nil,
            let last = probes[record.id]?.lastWatchdog
        {
            parts.append("WATCHDOG=1 \((ContinuousClock.now - last).secondsText) ago")
        }
        return parts.isEmpty ? nil : parts.joined(separator: "; ")
    }

    static func wallClockSeconds() -> Double {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        return Double(now.tv_sec) + Double(now.tv_nsec) / 1e9
    }
}
