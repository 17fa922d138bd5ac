import Dispatch
internal import Logging
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// The program a supervisor runs: kept open from the start, so that a binary that cannot take over at an upgrade can
/// execute this one again (`execveat` on the descriptor, whatever became of the path since).
package struct Executable: Sendable {
    /// Where it was started from: the default binary of `supervisor upgrade`.
    package let path: String
    /// An `O_PATH` descriptor of it, close-on-exec.
    let descriptor: Int32
    /// The command line of `run`, which an upgrade executes the next program with.
    let arguments: [String]

    /// `O_PATH` (Linux), which Glibc's module does not import.
    static let pathOnly: Int32 = 0o10_000_000

    /// This process's program.
    ///
    /// - Throws: ``SystemFailure`` when `/proc/self/exe` cannot be opened.
    static func current(arguments: [String], path: String? = nil) throws(SystemFailure) -> Executable {
        let fd = open("/proc/self/exe", Self.pathOnly | O_CLOEXEC)
        guard fd >= 0 else {
            throw SystemFailure(
                .openFile, "cannot open /proc/self/exe", failed: .last("open", subject: "/proc/self/exe"))
        }
        return Executable(
            path: path ?? FileText.readLink("/proc/self/exe") ?? "", descriptor: fd, arguments: arguments)
    }
}

extension Supervisor {
    /// What ``run()`` takes from the state handed over, besides what ``resume(_:source:environment:failure:)`` put
    /// in place already.
    struct Resumed {
        let state: HandoverState
        let signalPipe: (read: Int32, write: Int32)
        let controlDescriptor: Int32
        /// Set when this is the program from before the upgrade, executed again because the new one could not take
        /// over: why.
        let failure: String?
    }

    /// A supervisor rebuilt from the state the program before an in-place upgrade handed over: the same instances,
    /// descriptors, timers and rollout state, with nothing started, bound or locked anew. Call ``run()`` next.
    ///
    /// - Throws: ``HandoverError`` when the state cannot be taken over (a configuration the new binary does not
    ///   read, a descriptor that is not what the state says); nothing was changed then, and the caller executes the
    ///   previous program again.
    package static func resume(
        _ state: HandoverState,
        source: ConfigurationSource,
        environment: [String: String],
        failure: String?
    ) throws(HandoverError) -> Supervisor {
        if Failpoint.isActive(.resume) { throw HandoverError("failpoint 'resume' is set (\(Failpoint.variable))") }
        func load(_ file: HandoverState.GenerationFile) throws(HandoverError) -> Configuration {
            do { return try source.load(fileBytes: file.bytes, checkingFiles: false) } catch {
                let which = file.generation.map { "of \($0)" } ?? "the supervisor started with"
                throw HandoverError("cannot read the configuration \(which) again: \(error.message)")
            }
        }
        guard let initial = state.files.first(where: { $0.generation == nil }) else {
            throw HandoverError("the handover state has no initial configuration")
        }
        let configuration = try load(initial)
        var generations: [(Generation, Configuration, [UInt8]?, ReleaseIdentity)] = []
        for file in state.files {
            guard let generation = file.generation else { continue }
            let configuration = try load(file)
            // A state from before releases were handed over: what the configuration itself says.
            let release = file.release ?? ReleaseIdentity(label: configuration.releaseLabel)
            generations.append((generation, configuration, file.bytes, release))
        }
        for fd in state.keptDescriptors where fcntl(fd, F_GETFD) < 0 {
            throw HandoverError("descriptor \(fd) of the handover state is not open")
        }
        // The exec cleared their close-on-exec flag; nothing started from here on may inherit them.
        for fd in state.keptDescriptors { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        let location: ControlSocketLocation
        do throws(ConfigurationError) {
            location = try ControlSocketLocation(
                explicit: configuration.controlSocket, name: configuration.name, environment: environment)
        } catch {
            throw HandoverError("cannot find the control socket again: \(error.message)")
        }
        let supervisor: Supervisor
        do throws(SystemFailure) {
            supervisor = try Supervisor(
                source: source, configuration: configuration, initialFile: initial.bytes,
                executable: try Executable.current(arguments: state.arguments, path: state.executablePath),
                controlSocket: location,
                lock: InstanceLock(adopting: state.descriptors.lock, controlSocketPath: location.path),
                environment: state.environment, logger: Logger(label: "supervisor[\(configuration.name)]"),
                processes: SystemProcesses())
        } catch {
            throw HandoverError("cannot set up again: \(error)")
        }
        supervisor.adopt(state, generations: generations)
        supervisor.resumed = Resumed(
            state: state, signalPipe: (state.descriptors.signalRead, state.descriptors.signalWrite),
            controlDescriptor: state.descriptors.control, failure: failure)
        return supervisor
    }

    /// Takes over what the state names; nothing here can fail.
    private func adopt(
        _ state: HandoverState, generations: [(Generation, Configuration, [UInt8]?, ReleaseIdentity)]
    ) {
        machine = state.machine
        for (generation, configuration, bytes, release) in generations {
            configurations.restore(generation, configuration, file: bytes, release: release)
        }
        computeMissingDigests()
        let sink = eventSink
        for held in state.processes {
            let isAnnouncedMain = state.machine.records.contains { $0.mainPID == held.pid && $0.pid != held.pid }
            let pid = held.pid
            // An announced main process is not a child: its exit is seen through its pidfd, as before.
            let handle =
                isAnnouncedMain
                ? ProcessHandle.adopt(
                    pid, descriptor: held.descriptor, onExit: (ioQueue, { sink.yield(.processExited(pid)) }))
                : ProcessHandle.adopt(pid, descriptor: held.descriptor)
            processes.adopt(handle, as: pid)
        }
        listeners.restore(
            state.listeners.map { ($0.key, $0.descriptor) },
            activated: state.activated.map { ($0.address, $0.descriptor) },
            ownFiles: Set(state.listeners.filter { $0.ownsFile == true }.map(\.key)))
        for instance in state.instances {
            guard let configuration = configurations[instance.generation] else {
                close(instance.notifyDescriptor)
                close(instance.outputDescriptor)
                continue
            }
            let id = instance.id
            let notify = NotifySocket(
                adopting: instance.notifyDescriptor, path: instance.notifyPath, queue: ioQueue
            ) { sink.yield(.notify(id, $0)) }
            let label = "[\(configuration.name)\(instance.slot) g\(instance.generation.number) pid \(instance.pid)]"
            let output = InstanceOutput(
                fd: instance.outputDescriptor, label: label, log: standardError, queue: ioQueue,
                lastLines: instance.lastLines, partialLine: instance.partialLine)
            instances.insert(
                RunningInstance(
                    notify: notify, output: output, pid: instance.pid, slot: instance.slot,
                    generation: instance.generation, adminPort: instance.adminPort, configuration: configuration,
                    environment: instance.environment, listenerInodes: Set(instance.listenerInodes)), for: id)
        }
        instances.restoreRetained(state.retainedLines)
        for probe in state.probes {
            probes.restore(
                probe.id, lastWatchdog: probe.lastWatchdog, livenessFailures: probe.livenessFailures,
                summary: probe.summary)
        }
        for timer in state.timers { timers.schedule(.timer(timer.timer), at: timer.deadline) }
        if let fd = state.descriptors.lifeline, let pid = state.descriptors.lifelinePID {
            lifeline = LifelineLink(pid: pid, fd: fd)
        }
        healthSocket = state.descriptors.health
        if let health = initialConfiguration.health, health.kind == .unix {
            healthSocketFile = UnixListener.FileIdentity.ofSocket(at: health.path)
        }
        lastStatusLine = state.lastStatusLine
        warnedAboutMigration = state.warnedAboutMigration
        metrics.restore(state.metrics)
        upgrades = state.upgrades
        upgradeTotal = state.upgradeCount
    }

    /// The loop's first turn after an in-place upgrade: what happened meanwhile is looked at (exits, a main process
    /// gone, probes that were due), the caller's answer is kept for its `upgrade-result`, and systemd hears how it went.
    func resume(_ resumed: Resumed) {
        let state = resumed.state
        close(state.descriptors.previousExecutable)
        do {
            try applyKernelMigration(for: configurations.current(target: machine.target, or: initialConfiguration))
        } catch {
            logger.warning("\(error)")
        }
        for (id, running) in instances.all { resumeProbes(for: id, running) }
        for record in machine.records {
            if let mainPID = record.mainPID, mainPID != record.pid, !processes.isAlive(mainPID) {
                eventSink.yield(.processExited(mainPID))
            }
        }
        let took = ContinuousClock.now - state.upgrade.startedAt
        let result: ControlResult
        let live = machine.records.filter(\.isLive)
        let generations = Set(live.map(\.generation)).sorted().map(\.description).joined(separator: ", ")
        let kept =
            "pid \(getpid()) kept; \(live.count == 1 ? "1 instance" : "\(live.count) instances")"
            + (generations.isEmpty ? "" : " of \(generations)") + " untouched"
        if let failure = resumed.failure {
            result = ControlResult(
                ok: false,
                message: "upgrade failed: \(state.upgrade.binary) could not take over (\(failure)); "
                    + "\(SupervisorVersion.current) runs again from the same state; \(kept)",
                outcome: "failed")
            logger.error("\(result.message)")
            systemd.status(
                "upgrade to \(state.upgrade.binary) failed: \(failure); running \(SupervisorVersion.current)")
        } else {
            result = ControlResult(
                ok: true,
                message: "upgraded \(state.upgrade.fromVersion) -> \(SupervisorVersion.current) in "
                    + "\(took.milliseconds) ms; \(kept)",
                outcome: "completed")
            logger.notice("\(result.message)")
            systemd.status("upgraded \(state.upgrade.fromVersion) -> \(SupervisorVersion.current)")
        }
        upgrades.append(
            UpgradeRecord(
                fromVersion: state.upgrade.fromVersion, toVersion: SupervisorVersion.current,
                finishedAt: Self.wallClockSeconds(), seconds: took.seconds, failure: resumed.failure))
        upgradeTotal += 1
        if upgrades.count > UpgradeRecord.kept { upgrades.removeFirst(upgrades.count - UpgradeRecord.kept) }
        lastUpgradeOutcome = (state.upgrade.id, result)
        if resumed.failure == nil { replaceLifeline() }
        systemd.watchdog()
        reapChildren()
        scheduleDrainCensus()
        publishStatusLine(force: true)
        publishObservation()
    }

    /// Probes that ran or were due at the upgrade start again: readiness while starting, watchdog and liveness while
    /// serving.
    private func resumeProbes(for id: InstanceID, _ running: RunningInstance) {
        guard let record = machine.record(id) else { return }
        let configuration = running.configuration
        switch record.phase {
        case .starting:
            switch configuration.readiness {
            case .listen: eventSink.yield(.probeListening)
            case .http, .exec: after(Self.probeInterval, .check(id, .readiness))
            case .notify: break
            }
        case .ready:
            if let watchdog = configuration.watchdog {
                let silent = probes[id]?.lastWatchdog.map { ContinuousClock.now - $0 } ?? .zero
                after(max(.zero, watchdog - silent), .check(id, .watchdog))
            }
            if configuration.liveness != nil { after(configuration.livenessInterval, .check(id, .liveness)) }
        case .spawning, .stopping, .killed:
            break
        }
    }
}

/// Failures the tests of the upgrade ask for through `SUPERVISOR_FAILPOINT` (see `docs/architecture.md`); a binary
/// without the variable behaves as if there were none.
package enum Failpoint: String, CaseIterable, Sendable {
    /// Taking over the state fails after the exec, so the previous program is executed again.
    case resume
    /// Reading the state crashes the process (the pre-flight check's child, or the program after the exec).
    case crashReadingState = "crash-reading-state"
    /// This binary reads no handover format: it behaves as a binary older than the format.
    case noFormat = "no-format"

    package static let variable = ServiceEnvironment.failpoint

    /// The newest handover format this binary reads: none with ``noFormat``.
    package static var newestFormat: Int { isActive(.noFormat) ? 0 : HandoverState.currentFormat }

    /// Whether the failpoint is set in this process's environment.
    package static func isActive(_ point: Failpoint) -> Bool {
        ServiceEnvironment.value(of: variable)?.split(separator: ",").contains { $0 == point.rawValue } == true
    }
}
