internal import Logging
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Carries out actions in order. Actions that produce an answer at once (loading the configuration, spawning)
    /// feed it back to the machine, and what that returns joins the queue.
    func perform(_ initial: [RolloutMachine.Action]) {
        var queue = initial[...]
        while let action = queue.popFirst() {
            let followUp: RolloutMachine.Event?
            switch action {
            case .loadConfiguration:
                followUp = startLoadingConfiguration()
            case .beginGeneration(let generation):
                configurations.begin(generation)
                forgetUnusedConfigurations()
                followUp = nil
            case .spawn(let id, let slot, let generation):
                followUp = spawn(id, slot: slot, generation: generation)
            case .signal(let pid, let signal):
                sendStop(signal, to: pid)
                followUp = nil
            case .killGroup(let pid, let mainPID):
                killGroup(leader: pid, mainPID: mainPID)
                followUp = nil
            case .startTimer(let timer, let delay):
                after(delay, .timer(timer))
                followUp = nil
            case .log(let level, let message, let waiters):
                log(level, message)
                replies.progress(message, to: waiters)
                followUp = nil
            case .finishReload(let waiters, let result):
                let output = result.failedInstance.flatMap(instances.lastLines(of:))
                replies.finish(
                    waiters,
                    with: ControlResult(
                        ok: result.succeeded, message: result.message, output: output, figures: result.figures,
                        outcome: result.kind.rawValue, from: configurations.release(of: result.from),
                        to: configurations.release(of: result.to)))
                followUp = nil
            case .serviceState(let state):
                switch state {
                case .ready(let status): systemd.ready(status: status)
                case .reloading(let status): systemd.reloading(status: status)
                case .status(let status): systemd.status(status)
                case .stopping(let status): systemd.stopping(status: status)
                }
                followUp = nil
            case .exit(let code, let message, let failedInstance):
                finishRun(code: code, message: message, failedInstance: failedInstance)
                followUp = nil
            case .measure(let measurement):
                metrics.record(measurement)
                followUp = nil
            }
            if let followUp { queue.append(contentsOf: machine.handle(followUp, now: .now)) }
        }
    }

    /// Loads the configuration for a reload. A config file is parsed by a ``ParserCheck`` child first; its exit
    /// (``parserCheckEnded(_:_:)``) goes on from there. Returns the machine's next event, or `nil` while the child
    /// runs.
    private func startLoadingConfiguration() -> RolloutMachine.Event? {
        guard let file = source.file else { return loadConfiguration(fileBytes: nil) }
        // The machine asks once for all the reloads that wait; one child answers them.
        guard parserCheck == nil else { return nil }
        let bytes: [UInt8]
        do { bytes = try ConfigurationFile.read(path: file) } catch { return .configurationFailed(error.message) }
        do {
            let check = try ParserCheck.start(path: file, bytes: bytes, nullDevice: nullDevice)
            parserCheck = check
            after(ParserCheck.timeout, .parserCheckTimeout(check.pid))
            return nil
        } catch {
            return .configurationFailed("cannot start the config parser for \(file): \(error)")
        }
    }

    /// The ``ParserCheck`` child was reaped: parse in process what it parsed, or fail the reload with what it said.
    func parserCheckEnded(_ check: ParserCheck, _ status: ExitStatus) {
        parserCheck = nil
        defer {
            check.close()
            parserCheckTimedOut = nil
        }
        let verdict = check.verdict(status)
        // Stopping meanwhile answered the reloads that waited; nothing is to be prepared for them.
        switch machine.lifecycle {
        case .stopping, .exited: return
        case .notStarted, .running: break
        }
        switch verdict {
        case .parsed:
            handle(loadConfiguration(fileBytes: check.bytes))
        case .refused(let message):
            handle(.configurationFailed(message))
        case .crashed(var message):
            if parserCheckTimedOut == check.pid {
                message = "the config parser took longer than \(ParserCheck.timeout.secondsText) on \(check.path)"
            }
            logger.error("\(message)")
            handle(
                .configurationFailed(
                    "\(message); nothing changed, the instances that serve go on. Fix or replace the file (`supervisor "
                        + "check --config \(check.path)` fails the same way), and please report it as a bug"))
        }
    }

    /// The ``ParserCheck`` child still runs after its timeout: it is killed, and its exit fails the reload.
    func parserCheckTimeout(_ pid: Int32) {
        guard parserCheck?.pid == pid else { return }
        parserCheckTimedOut = pid
        // Our child, not reaped yet: the pid cannot name another process.
        kill(pid, SIGKILL)
    }

    private func loadConfiguration(fileBytes: [UInt8]?) -> RolloutMachine.Event {
        do {
            let configuration = try source.load(fileBytes: fileBytes)
            if configuration.name != initialConfiguration.name {
                logger.warning(
                    "name changed to '\(configuration.name)' in the configuration; it takes effect at the next start")
            }
            if configuration.controlSocket != initialConfiguration.controlSocket {
                logger.warning("control-socket changed in the configuration; it takes effect at the next start")
            }
            // Addresses served already were checked when they were added; scanning every process's descriptors again
            // would only slow the reload down.
            let serving = Set((machine.target.flatMap { configurations[$0] }?.listen ?? []).map(\.unnamed))
            let added = configuration.listen.filter { !serving.contains($0.unnamed) }
            if !added.isEmpty {
                let table = ProcessTable.current()
                // The supervisor's own sockets (reuseport, shared) and the instances' are not in the way.
                let ours = Set(instances.values.flatMap { table.tree(of: $0.pid) } + [getpid()])
                for conflict in PortConflict.find(for: added, ignoring: ours) {
                    logger.warning("\(conflict.description)")
                }
            }
            try applyKernelMigration(for: configuration)
            warnAboutUnixPaths()
            try listeners.prepare(configuration)
            if let warning = listeners.takeReceiveBufferWarning() { logger.warning("\(warning)") }
            configurations.loaded = configuration
            configurations.loadedFile = fileBytes
            prepareRelease(for: configuration, file: fileBytes)
            return .configurationLoaded(configuration.policy)
        } catch {
            return .configurationFailed("\(error)")
        }
    }

    private func forgetUnusedConfigurations() {
        configurations.keep(only: Set(machine.records.map(\.generation)).union(machine.target.map { [$0] } ?? []))
    }

    func log(_ level: RolloutMachine.LogLevel, _ message: String) {
        switch level {
        case .debug: logger.debug("\(message)")
        case .info: logger.info("\(message)")
        case .notice: logger.notice("\(message)")
        case .warning: logger.warning("\(message)")
        case .error: logger.error("\(message)")
        }
    }

    private func finishRun(code: Int32, message: String?, failedInstance: InstanceID?) {
        var output: [String]?
        if let failedInstance, let lines = instances.lastLines(of: failedInstance), !lines.isEmpty {
            output = lines
            let label = "last output of the instance that failed:"
            standardError.write(([label] + lines.map { "  | \($0)" }).joined(separator: "\n"), priority: .error)
        }
        let result = ControlResult(
            ok: code == 0, message: message ?? "stopped: every instance has exited", output: output)
        replies.finishAll(with: result)
        logger.notice("\(code == 0 ? "stopped" : "exiting with status \(code)")")
        exitResult = result
        exitCode = code
    }
}
