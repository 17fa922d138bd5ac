internal import CSupervisorShims
import Dispatch
internal import Logging
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// An in-place upgrade in progress (`supervisor upgrade`): its pre-flight check runs, then the exec.
    struct UpgradeInProgress {
        let id: UInt64
        let binary: String
        let startedAt: ContinuousClock.Instant
        let reply: AsyncStream<ControlReply>.Continuation
        /// The new binary reading the state in a child (`upgrade-check`); `nil` once it passed.
        var check: ParserCheck?
        var checkTimedOut = false
        /// The version the check reported.
        var version: String?
    }

    /// How long the new binary's pre-flight check may take: it parses a state of a few kilobytes.
    static let upgradeCheckTimeout: Duration = .seconds(10)

    /// Why an upgrade cannot start now (or, `forCurrent`, why the one in progress cannot go on to its exec), or
    /// `nil`. A rollout must end first: the state of one in progress (instances that start, callers that wait) is not
    /// handed over; `upgrade` is refused with the reason, and can be asked again once the rollout ended.
    func upgradeRefusal(forCurrent: Bool = false) -> String? {
        if shuttingDown || machine.lifecycle != .running { return "upgrade refused: the supervisor is stopping" }
        if upgrade != nil && !forCurrent { return "upgrade refused: an upgrade is in progress already" }
        if let rollout = machine.rollout {
            return "upgrade refused: a rollout to \(rollout.to) is in progress; upgrade once it ended"
        }
        if machine.queuedReloadCount > 0 || parserCheck != nil {
            return "upgrade refused: a reload is being prepared; upgrade once it ended"
        }
        if replies.waitingReloads > 0 {
            return "upgrade refused: a `reload --wait-drained` caller waits for instances to drain; upgrade once it "
                + "returned"
        }
        return nil
    }

    /// `supervisor upgrade`: checks the binary, then runs it in a child on the state it would receive.
    func receivedUpgrade(_ request: ControlRequest, reply: AsyncStream<ControlReply>.Continuation) {
        func refuse(_ message: String) {
            logger.warning("\(message)")
            reply.yield(.result(ControlResult(ok: false, message: message, outcome: "refused")))
            reply.finish()
        }
        if let refusal = upgradeRefusal() { return refuse(refusal) }
        let binary = request.binary ?? executable.path
        if let problem = Self.executableProblem(binary) { return refuse("upgrade refused: \(problem)") }
        let id = request.upgradeID ?? UInt64.random(in: 1...UInt64.max)
        let state: HandoverState
        let bytes: [UInt8]
        do {
            state = try handoverState(
                upgrade: HandoverState.Upgrade(
                    id: id, fromVersion: SupervisorVersion.current, binary: binary, startedAt: .now))
            bytes = try state.encoded()
        } catch {
            return refuse("upgrade refused: cannot write the state to hand over: \(error)")
        }
        let check: ParserCheck
        do {
            check = try ParserCheck.start(
                program: binary, arguments: [binary, "upgrade-check"], path: binary, bytes: bytes,
                nullDevice: nullDevice)
        } catch {
            return refuse("upgrade refused: cannot start \(binary): \(error)")
        }
        upgrade = UpgradeInProgress(id: id, binary: binary, startedAt: .now, reply: reply, check: check)
        after(Self.upgradeCheckTimeout, .upgradeCheckTimeout(check.pid))
        let message =
            "upgrading in place to \(binary): checking that it reads the state of "
            + "\(state.instances.count == 1 ? "1 instance" : "\(state.instances.count) instances") first"
        logger.notice("\(message)")
        reply.yield(.progress(message))
    }

    /// Why `path` cannot be executed, or `nil`.
    static func executableProblem(_ path: String) -> String? {
        guard path.hasPrefix("/") else {
            return "\(path) is not an absolute path; give --binary as /path/to/supervisor"
        }
        var info = stat()
        guard stat(path, &info) == 0 else {
            return "\(path) cannot be used: \(SystemCallError.reason(errno)); give --binary the new supervisor"
        }
        guard info.st_mode & S_IFMT == S_IFREG else { return "\(path) is not a regular file" }
        guard access(path, X_OK) == 0 else {
            return "\(path) is not executable (mode \(String(info.st_mode & 0o7777, radix: 8))); chmod +x it"
        }
        return nil
    }

    /// The pre-flight child was reaped: go on to the exec when it read the state, else refuse with what it said.
    func upgradeCheckEnded(_ status: ExitStatus) {
        guard var current = upgrade, let check = current.check else { return }
        current.check = nil
        defer { check.close() }
        let output = check.outputText()
        let last = output.split(separator: "\n").last.map(String.init)
        switch status {
        case .exited(code: 0):
            current.version = last ?? "?"
            upgrade = current
            let message = "\(current.binary) (\(current.version ?? "?")) read the state; executing it in place"
            logger.notice("\(message)")
            current.reply.yield(.progress(message))
            prepareExec()
        default:
            let reason: String
            if current.checkTimedOut {
                reason = "did not finish reading the state within \(Self.upgradeCheckTimeout.secondsText)"
            } else if case .exited(code: 1) = status, let last {
                reason = "refused the state: \(last)"
            } else {
                reason = "\(status) while reading the state" + (last.map { ": \($0)" } ?? "")
            }
            failUpgrade(refused: true, "upgrade refused: \(current.binary) \(reason); nothing changed")
        }
    }

    /// The pre-flight child still runs after its timeout: it is killed, and its exit refuses the upgrade.
    func upgradeCheckTimeout(_ pid: Int32) {
        guard upgrade?.check?.pid == pid else { return }
        upgrade?.checkTimedOut = true
        // Our child, not reaped yet: the pid cannot name another process.
        kill(pid, SIGKILL)
    }

    /// Answers the `upgrade` caller on this side of the exec: a refusal (nothing was begun), or a failure to execute.
    func failUpgrade(refused: Bool, _ message: String) {
        guard let current = upgrade else { return }
        upgrade = nil
        logger.warning("\(message)")
        current.reply.yield(
            .result(ControlResult(ok: false, message: message, outcome: refused ? "refused" : "failed")))
        current.reply.finish()
    }

    /// Asks the loop for ``pauseInput()``, which is asynchronous.
    private func prepareExec() {
        eventSink.yield(.pauseInputForUpgrade)
    }

    /// Stops taking input (the control socket's connections, notify datagrams, output, signals) so that what comes
    /// now waits in the kernel's queues for the next program, then asks the loop for ``execUpgrade()`` once every
    /// event read before is handled.
    func pauseInput() async {
        await controlServer?.detach()
        signalPipe?.suspend()
        for running in instances.values {
            running.notify.pause()
            running.output.pause()
        }
        // Handlers that run now finish before this returns, and the suspended sources start no new ones.
        ioQueue.sync {}
        eventSink.yield(.execUpgrade)
    }

    /// Undoes ``pauseInput()`` when the exec does not happen.
    private func resumeInput() async {
        for running in instances.values {
            running.notify.unpause()
            running.output.unpause()
        }
        signalPipe?.resume()
        await reopenControlServer()
    }

    /// Executes the new binary in place with the state, or (when something changed meanwhile, or it cannot be
    /// executed) takes the input back and tells the caller why.
    func execUpgrade() async {
        guard let current = upgrade else { return }
        if let refusal = upgradeRefusal(forCurrent: true) {
            await resumeInput()
            failUpgrade(refused: true, refusal + " (it began during the upgrade's check; nothing changed)")
            return
        }
        // An instance started since the pause (a restart) is read still: pause it too, and let what it sent first
        // be handled.
        let started = instances.values.map { $0.notify.pause() || $0.output.pause() }
        if started.contains(true) {
            for running in instances.values { running.output.pause() }
            ioQueue.sync {}
            eventSink.yield(.execUpgrade)
            return
        }
        // Probe processes are not handed over: their verdicts would reach nobody. The next program probes again.
        for pid in probes.processIDs { kill(-pid, SIGKILL) }
        // Nor are stop signals that wait for their turn: they go out now.
        flushPacedStops()
        let failure: String
        do {
            let state = try handoverState(
                upgrade: HandoverState.Upgrade(
                    id: current.id, fromVersion: SupervisorVersion.current, binary: current.binary,
                    startedAt: current.startedAt))
            let memory = try Handover.write(state)
            systemd.status("upgrading in place to \(current.binary) (\(current.version ?? "?"))")
            systemd.watchdog()
            systemd.flush()
            let error = Handover.execute(
                path: current.binary, executable: -1, arguments: executable.arguments,
                environment: inheritedEnvironment + ["\(ServiceEnvironment.handoverState)=\(memory)"],
                keeping: state.keptDescriptors + [memory])
            close(memory)
            failure = "cannot execute \(current.binary): \(SystemCallError.reason(error))"
        } catch {
            failure = "cannot hand over the state: \(error)"
        }
        await resumeInput()
        failUpgrade(refused: false, "upgrade failed: \(failure); this supervisor goes on as before")
        publishStatusLine(force: true)
    }

    /// Everything the next program needs, as it is now.
    func handoverState(upgrade: HandoverState.Upgrade) throws(HandoverError) -> HandoverState {
        guard let control = controlServer?.descriptor, let signals = signalPipe?.descriptors else {
            throw HandoverError("the supervisor has not finished starting")
        }
        let files =
            configurations.files.map {
                HandoverState.GenerationFile(
                    generation: $0.key, bytes: $0.value, release: configurations.releases[$0.key])
            }
            + [HandoverState.GenerationFile(generation: nil, bytes: initialFile)]
        let running = instances.all.map { (id, instance) in
            HandoverState.Instance(
                id: id, pid: instance.pid, slot: instance.slot, generation: instance.generation,
                adminPort: instance.adminPort, environment: instance.environment,
                listenerInodes: instance.listenerInodes.sorted(), notifyPath: instance.notify.path,
                notifyDescriptor: instance.notify.descriptor, outputDescriptor: instance.output.descriptor,
                lastLines: instance.output.lastLines, partialLine: instance.output.partialLine)
        }
        let timers = self.timers.queue.entries.compactMap { entry -> HandoverState.Timer? in
            guard case .timer(let timer) = entry.event else { return nil }
            return HandoverState.Timer(timer: timer, deadline: entry.deadline)
        }
        return HandoverState(
            format: HandoverState.currentFormat, version: SupervisorVersion.current,
            arguments: executable.arguments, environment: inheritedEnvironment, executablePath: executable.path,
            machine: machine, files: files, instances: running, retainedLines: instances.retainedLines,
            processes: processes.held.map { HandoverState.HeldProcess(pid: $0.pid, descriptor: $0.descriptor) },
            listeners: listeners.held.map { [ownFiles = listeners.ownFiles] in
                HandoverState.Listener(
                    key: $0.key, descriptor: $0.fd, ownsFile: ownFiles.contains($0.key) ? true : nil)
            },
            activated: listeners.activatedSockets.map {
                HandoverState.ActivatedListener(address: $0.address, descriptor: $0.fd)
            },
            timers: timers,
            probes: probes.all.map {
                HandoverState.Probe(
                    id: $0.key, lastWatchdog: $0.value.lastWatchdog, livenessFailures: $0.value.livenessFailures,
                    summary: $0.value.summary)
            },
            descriptors: HandoverState.Descriptors(
                control: control, health: healthSocket, lock: lock.descriptor, signalRead: signals.read,
                signalWrite: signals.write, lifeline: lifeline?.fd, lifelinePID: lifeline?.pid,
                previousExecutable: executable.descriptor),
            lastStatusLine: lastStatusLine, warnedAboutMigration: warnedAboutMigration, metrics: metrics.tallies,
            upgrades: upgrades, upgradeCount: upgradeTotal, upgrade: upgrade)
    }

    /// How many upgrades of this supervisor happened, the failed ones included; `nil` for none.
    var upgradeCount: Int? { upgradeTotal == 0 ? nil : upgradeTotal }

    /// `upgrade-result`: how the upgrade with this id ended, as the program now running knows it.
    func upgradeResult(for id: UInt64?) -> ControlResult {
        guard let id, let outcome = lastUpgradeOutcome, outcome.id == id else {
            return ControlResult(
                ok: false,
                message: "no upgrade with this id happened here; the supervisor (\(SupervisorVersion.current), pid "
                    + "\(getpid())) runs as before: look at its log for why the upgrade connection closed",
                outcome: "failed")
        }
        return outcome.result
    }
}

/// Writing the state and executing the next program, without the loop.
package enum Handover {
    /// A memory file with the state, positioned at its start.
    static func write(_ state: HandoverState) throws -> Int32 {
        try memoryFile("supervisor-handover", holding: try state.encoded())
    }

    /// Reads the state from the memory file at `fd`.
    package static func read(_ fd: Int32) throws(HandoverError) -> [UInt8] {
        var bytes: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var offset: off_t = 0
        while true {
            let count = buffer.withUnsafeMutableBytes { pread(fd, $0.baseAddress, $0.count, offset) }
            if count < 0 && errno == EINTR { continue }
            guard count >= 0 else {
                throw HandoverError("cannot read the handover state (fd \(fd)): \(SystemCallError.reason(errno))")
            }
            if count == 0 { return bytes }
            bytes += buffer[0..<count]
            offset += off_t(count)
        }
    }

    /// Replaces this process's program (see `supervisor_exec_keeping`); returns only when that failed, with the
    /// errno.
    package static func execute(
        path: String,
        executable: Int32,
        arguments: [String],
        environment: [String],
        keeping kept: [Int32]
    ) -> Int32 {
        var argv = arguments.map { strdup($0) } + [nil]
        var envp = environment.map { strdup($0) } + [nil]
        defer {
            for pointer in argv { free(pointer) }
            for pointer in envp { free(pointer) }
        }
        return kept.withUnsafeBufferPointer { kept in
            supervisor_exec_keeping(executable, path, &argv, &envp, kept.baseAddress, Int32(kept.count))
        }
    }
}
