internal import Logging
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// Starts the process of an instance: its notify socket first (so no datagram is lost), then the process.
    func spawn(_ id: InstanceID, slot: Slot, generation: Generation) -> RolloutMachine.Event {
        guard let configuration = configurations[generation] else {
            return .spawnFailed(id, "no configuration for \(generation)")
        }
        let sink = eventSink
        let notifyPath = "\(notifyDirectory)/\(id.serial).sock"
        let notify: NotifySocket
        do {
            notify = try NotifySocket(path: notifyPath, queue: ioQueue) { sink.yield(.notify(id, $0)) }
        } catch {
            return .spawnFailed(id, "cannot create its notify socket: \(error)")
        }
        if let credentials = configuration.credentials {
            // Only the instance's user may send to its socket; the directory lets it through without listing.
            // The `at` calls with AT_SYMLINK_NOFOLLOW never act on what a link points to. Without them the
            // instance could not say it is ready, so a failure fails the start at once, with its reason.
            do {
                try systemCall("chmod", subject: notifyDirectory) {
                    RuntimeDirectory.changeMode(notifyDirectory, 0o711)
                }
                try systemCall("fchownat", subject: notifyPath) {
                    fchownat(AT_FDCWD, notifyPath, credentials.uid, credentials.gid, AT_SYMLINK_NOFOLLOW)
                }
                try systemCall("chmod", subject: notifyPath) { RuntimeDirectory.changeMode(notifyPath, 0o600) }
            } catch {
                notify.close()
                return .spawnFailed(id, "cannot hand its notify socket to uid \(credentials.uid): \(error)")
            }
        }
        let program: String
        do {
            program = try CommandResolver.resolve(configuration.command[0], searchPath: source.searchPath)
        } catch {
            notify.close()
            return .spawnFailed(id, error.message)
        }
        var own = [
            EnvironmentVariable(name: ServiceEnvironment.notifySocket, value: notifyPath),
            EnvironmentVariable(name: ServiceEnvironment.supervisorName, value: configuration.name),
            EnvironmentVariable(name: ServiceEnvironment.instance, value: String(slot.index)),
            EnvironmentVariable(name: ServiceEnvironment.generation, value: String(generation.number)),
            EnvironmentVariable(
                name: ServiceEnvironment.listen,
                value: ServiceEnvironment.listenValue(configuration.listen.map(\.description))),
        ]
        let adminPort = configuration.adminPortBase.map { freeAdminPort(base: Int($0), slot: slot, of: configuration) }
        if let adminPort {
            own.append(EnvironmentVariable(name: ServiceEnvironment.adminPort, value: String(adminPort)))
        }
        let environment = InstanceEnvironment.build(
            inherited: inheritedEnvironment, additions: configuration.environment, instance: own)
        let process: SpawnedProcess
        let listenerInodes: Set<UInt64>
        do {
            let listeners = try listenerDescriptors(for: configuration, slot: slot)
            listenerInodes = Set(listeners.compactMap { Self.inode(of: $0.fd) })
            let launch = InstanceLaunch(
                path: program, arguments: configuration.command, environment: environment, listeners: listeners,
                watchdog: configuration.watchdog, credentials: configuration.credentials,
                nice: startPriority.nice(for: configuration), idle: startPriority.idle(for: configuration))
            process = try processes.launch(launch, nullDevice: nullDevice)
        } catch {
            notify.close()
            return .spawnFailed(id, "\(error)")
        }
        let label = "[\(configuration.name)\(slot) g\(generation.number) pid \(process.pid)]"
        let output = InstanceOutput(fd: process.outputFD, label: label, log: standardError, queue: ioQueue)
        instances.insert(
            RunningInstance(
                notify: notify, output: output, pid: process.pid, slot: slot, generation: generation,
                adminPort: adminPort,
                configuration: configuration, environment: environment, listenerInodes: listenerInodes), for: id)
        probes.track(id)
        lifelineWatch(group: process.pid, configuration: configuration)
        if startPriority.idle(for: configuration) { after(configuration.startIdle, .startIdleOver(id)) }
        switch configuration.readiness {
        case .listen: scheduleListenProbe()
        case .http, .exec: after(Self.probeInterval, .check(id, .readiness))
        case .notify: break
        }
        return .spawned(id, pid: process.pid)
    }

    /// The inode of an open descriptor (a socket's, as `/proc` names it), or `nil`.
    static func inode(of fd: Int32) -> UInt64? {
        var info = stat()
        guard fstat(fd, &info) == 0 else { return nil }
        return UInt64(info.st_ino)
    }

    /// The admin port of a new instance in `slot`: base + slot, unless a live instance holds that (the instance it
    /// replaces, which serves until the new one is ready), then base + instances + slot, and so on.
    func freeAdminPort(base: Int, slot: Slot, of configuration: Configuration) -> Int {
        let held = instances.adminPortsInUse
        let candidates = Configuration.adminPorts(base: base, instances: configuration.instances, slot: slot.index)
        return candidates.first { !held.contains($0) } ?? base + slot.index
    }

    /// Collects every child that has exited, and tells the machine about the ones that were instances.
    func reapChildren() {
        while let (pid, exitStatus) = processes.reapNext() {
            if pid == lifeline?.pid {
                lifelineExited(exitStatus)
                continue
            }
            if pid == retiredLifeline {
                retiredLifeline = nil
                logger.debug("the previous binary's lifeline (pid \(pid)) \(exitStatus)")
                continue
            }
            if let check = upgrade?.check, check.pid == pid {
                upgradeCheckEnded(exitStatus)
                continue
            }
            if let check = parserCheck, check.pid == pid {
                parserCheckEnded(check, exitStatus)
                continue
            }
            if let prober = probes.processEnded(pid) {
                probed(prober, .readiness, passed: exitStatus.isSuccess, detail: "exec probe \(exitStatus)")
                continue
            }
            guard let record = machine.records.first(where: { $0.mainPID == pid || $0.pid == pid }) else {
                logger.debug("reaped pid \(pid), an orphan of an instance; it \(exitStatus)")
                continue
            }
            instances[record.id]?.output.drain()
            if record.mainPID == pid {
                handle(.exited(pid: pid, exitStatus))
            } else if let mainPID = record.mainPID, !processes.isAlive(mainPID) {
                // The first process left after announcing a main pid that is gone as well.
                processes.release(mainPID)
                handle(.exited(pid: mainPID, .unknown))
            }
            if machine.record(record.id) == nil { release(record.id) }
        }
    }

    /// Closes what an instance that is gone used: its notify socket and its output pipe.
    func release(_ id: InstanceID) {
        guard let running = instances.release(id) else { return }
        probes.forget(id)
        timers.removeAll(for: id)
        lifelineForget(group: running.pid)
    }

    /// The most characters of an instance's `STATUS=` kept and shown.
    static let statusTextLimit = 512

    /// Checks a datagram's sender, parses it, and passes on what it says.
    func received(_ datagram: NotifyDatagram, for id: InstanceID) {
        instances[id]?.notify.consumed()
        guard let record = machine.record(id), let pid = record.pid, let running = instances[id] else { return }
        let sender = datagram.senderPID.map { "pid \($0)" } ?? "an unknown sender"
        if datagram.truncated {
            logger.warning("dropped a notify message for \(record.label) from \(sender): longer than 4096 bytes")
            metrics.notifyMessageDropped()
            return
        }
        let check = NotifySender(
            pid: pid, mainPID: record.mainPID ?? pid, uid: running.configuration.credentials?.uid ?? getuid())
        if let refusal = check.refusal(for: datagram, table: { ProcessTable.current() }) {
            logger.warning("dropped a notify message for \(record.label): \(refusal)")
            metrics.notifyMessageDropped()
            return
        }
        let message: NotifyMessage
        do {
            message = try NotifyMessage.parse(datagram.bytes)
        } catch {
            logger.warning("dropped a notify message for \(record.label) from \(sender): \(error)")
            metrics.notifyMessageDropped()
            return
        }
        for problem in message.problems { logger.warning("\(record.label) sent \(problem); ignored") }
        if !message.ignoredKeys.isEmpty {
            logger.debug(
                "\(record.label) sent keys this supervisor ignores: \(message.ignoredKeys.joined(separator: ", "))")
        }
        if let status = message.status {
            handle(.statusText(id, PrintableText.escaped(status, limit: Self.statusTextLimit)))
        }
        if let mainPID = message.mainPID { acceptMainPID(mainPID, for: record) }
        if message.ready {
            if running.configuration.readiness == .notify {
                markReady(id)
            } else {
                logger.debug("\(record.label) sent READY=1; readiness is judged by \(running.configuration.readiness)")
            }
        }
        switch message.watchdog {
        case .ping: probes.watchdogPinged(id, at: .now)
        case .trigger: handle(.unhealthy(id, "asked to be treated as hung (WATCHDOG=trigger)"))
        case nil: break
        }
        if message.stopping { handle(.announcedStopping(id)) }
        if let code = message.errorNumber {
            logger.warning("\(record.label) reports errno \(code): \(SystemCallError.reason(code))")
        }
    }

    private func acceptMainPID(_ mainPID: Int32, for record: InstanceRecord) {
        guard let pid = record.pid, mainPID != record.mainPID else { return }
        guard mainPID != getpid(), mainPID > 1 else {
            logger.warning("\(record.label) announced MAINPID=\(mainPID), which is not one of its processes; ignored")
            return
        }
        // Pinned first, checked second, alive third: if it is still alive after the check, the check looked at the
        // process the pidfd holds, not at one that took its number meanwhile.
        let sink = eventSink
        let pinned = ProcessHandle.open(mainPID, onExit: (ioQueue, { sink.yield(.processExited(mainPID)) }))
        let table = ProcessTable.current()
        let session = ProcessStat.read(pid: mainPID)?.session
        guard let pinned, session == pid || table.isDescendant(mainPID, of: pid), pinned.isAlive else {
            logger.warning("\(record.label) announced MAINPID=\(mainPID), which is not one of its processes; ignored")
            return
        }
        logger.info("\(record.label) announced its main process: pid \(mainPID)")
        // A main process announced before is no longer this instance's to signal.
        if let previous = record.mainPID, previous != pid { processes.release(previous) }
        processes.hold(pinned, as: mainPID)
        lifelineWatch(mainPID: mainPID, group: pid)
        handle(.mainPID(record.id, mainPID))
    }

    /// The pidfd of an announced main process says it has exited. If it was a child of the supervisor (its parent
    /// exited first), reaping it gives its status; otherwise its own parent reaped it, and the status is unknown.
    func mainProcessExited(_ pid: Int32) {
        reapChildren()
        guard processes.release(pid) else { return }
        guard let record = machine.records.first(where: { $0.mainPID == pid }) else { return }
        logger.info("\(record.label): its main process (pid \(pid)) has exited, reaped by its own parent")
        instances[record.id]?.output.drain()
        handle(.exited(pid: pid, .unknown))
        if machine.record(record.id) == nil { release(record.id) }
    }

    /// Sends `signal` to a process through its ``ProcessHandle``; a process without one has exited and is not
    /// signalled (its number may be another process's by now).
    func send(_ signal: UnixSignal, to pid: Int32) {
        guard processes.holds(pid) else {
            logger.debug("pid \(pid) has exited; \(signal) not sent")
            return
        }
        if let code = processes.send(signal, to: pid) {
            logger.warning("cannot send \(signal) to pid \(pid): \(SystemCallError.reason(code))")
        }
    }

    /// SIGKILL for an instance's main process and its process group (`leader` is the first process, which the
    /// spawn made a session and group leader).
    ///
    /// The group is signalled as a group only while its leader is the supervisor's child and not reaped: only then
    /// can its number not be a new group of some other process. Once the leader is reaped, the members left are
    /// signalled one by one among the supervisor's own children (where orphans of the instance land: it is a
    /// subreaper), each pinned by being unreaped.
    func killGroup(leader: Int32, mainPID: Int32) {
        processes.killGroup(leader)
        if mainPID != leader { send(.kill, to: mainPID) }
    }

    /// Polls the listening sockets of starting instances whose readiness is `listen`.
    func probeListening() {
        probes.listenPollScheduled = false
        var stillStarting = false
        let starting = machine.records.compactMap { record -> (InstanceRecord, RunningInstance)? in
            guard record.phase == .starting, let running = instances[record.id],
                running.configuration.readiness == .listen
            else { return nil }
            return (record, running)
        }
        guard !starting.isEmpty else { return }
        // One look at the sockets for every instance that starts; each instance's own tree for whose they are.
        let ports = Set(
            starting.filter { $0.1.listenerInodes.isEmpty }.flatMap { $0.1.configuration.listen.compactMap(\.tcpPort) })
        let sockets = ports.isEmpty ? [] : ListenProbe.listeningSockets(onPorts: ports)
        for (record, running) in starting {
            // An inherited socket listens from the start: there, the program must wait for connections on it.
            let listening =
                running.listenerInodes.isEmpty
                ? ListenProbe(ports: running.configuration.listen.compactMap(\.tcpPort)).isListening(
                    pid: running.pid, sockets: sockets)
                : InheritedSocketProbe(inodes: running.listenerInodes).isAccepting(pid: running.pid)
            if listening {
                markReady(record.id)
            } else {
                stillStarting = true
            }
        }
        if stillStarting { scheduleListenProbe() }
    }

    private func scheduleListenProbe() {
        guard !probes.listenPollScheduled else { return }
        probes.listenPollScheduled = true
        let sink = eventSink
        Task {
            try? await Task.sleep(for: .milliseconds(50))
            sink.yield(.probeListening)
        }
    }
}
