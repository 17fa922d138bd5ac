internal import CSupervisorShims
import Dispatch
internal import Logging
internal import NIOPosix
import Synchronization
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// The running supervisor: it feeds what happens (signals, exits, notify datagrams, timers, control requests) into
/// the ``RolloutMachine`` one event at a time and carries out the actions it returns.
///
/// Everything the machine decides happens on one task, in order; I/O sources only enqueue events. Create it with
/// ``prepare(source:environment:)``, which checks everything that can be checked before anything starts, then
/// call ``run()``.
package final class Supervisor {
    enum Event: Sendable {
        case signal(UnixSignal)
        case notify(InstanceID, NotifyDatagram)
        case timer(RolloutMachine.TimerID)
        case probeListening
        case control(ControlRequest, AsyncStream<ControlReply>.Continuation)
        case ping(PingReply)
        case check(InstanceID, ProbeKind)
        case probeResult(InstanceID, ProbeKind, passed: Bool, detail: String)
        /// The instance's `start-idle` is up: if it is still starting, it goes on at the usual priority.
        case startIdleOver(InstanceID)
        case stopAfterDelay
        case killProbe(Int32)
        /// A main process announced with `MAINPID=` has exited (its pidfd says so), whoever reaped it.
        case processExited(Int32)
        /// The ``ParserCheck`` child with this pid has had its time.
        case parserCheckTimeout(Int32)
        /// Time to look after the instances and tell systemd's watchdog that this loop still turns.
        case watchdogTick(Duration)
        /// The earliest timer is due (see ``TimerQueue``).
        case timersDue
        /// Time to count the connections of draining instances (see ``scheduleDrainCensus()``).
        case drainCensusDue
        /// The census counted these connections per instance.
        case connectionsCounted([InstanceID: Int], of: Int, took: Duration)
        /// The connections counted for a `status` request, ready to be answered.
        case statusCounted([InstanceID: Int], of: Int, took: Duration, AsyncStream<ControlReply>.Continuation)
        /// The pre-flight child of the upgrade with this pid has had its time.
        case upgradeCheckTimeout(Int32)
        /// The upgrade's check passed: stop taking input (``pauseInput()``).
        case pauseInputForUpgrade
        /// Every event read before the input paused is handled: execute the new binary (``execUpgrade()``).
        case execUpgrade
        /// Time to look whether the `app`-mode instance stopped last has closed its listeners (``StopPacing``).
        case stopPacingTick
        /// Time for the next paced stop signal.
        case stopPacingNext
        /// The executable read under this key has this digest (`nil`: it could not be read).
        case executableDigested(ExecutableDigests.FileKey, String?)
    }

    /// The checks that run for an instance besides sd_notify.
    enum ProbeKind: Sendable {
        case readiness, watchdog, liveness
    }

    struct RunningInstance {
        let notify: NotifySocket
        let output: InstanceOutput
        let pid: Int32
        let slot: Slot
        let generation: Generation
        /// `SUPERVISOR_ADMIN_PORT`, with `--admin-port-base`.
        let adminPort: Int?
        let configuration: Configuration
        let environment: [String]
        /// The inodes of the listening sockets it inherited (`reuseport`, `shared`); empty when it binds its own.
        let listenerInodes: Set<UInt64>
    }

    let source: ConfigurationSource
    let initialConfiguration: Configuration
    /// The config file's bytes the supervisor started with (`nil` without a file), handed over at an upgrade.
    let initialFile: [UInt8]?
    /// The program this process runs, its path, and the command line of `run`.
    let executable: Executable
    /// The configuration the supervisor started with (a reload may change what instances run, not this).
    package var configuration: Configuration { initialConfiguration }
    let controlSocket: ControlSocketLocation
    let notifyDirectory: String
    let inheritedEnvironment: [String]
    let logger: Logger
    let systemd = SystemdNotifier()
    let standardError = StandardErrorLog()
    let lock: InstanceLock
    let nullDevice: Int32
    let ioQueue = DispatchQueue(label: "supervisor.io")
    /// Reads new executables for their digests, so that neither the event loop nor a census waits for it.
    let digestQueue = DispatchQueue(label: "supervisor.digest", qos: .utility)
    var digests = ExecutableDigests()
    let listeners = ListenerRegistry()
    let migration = KernelMigration()
    var lossless = LosslessState(mode: .shared, migration: .alreadyEnabled)
    var warnedAboutMigration = false
    var warnedAboutUDP = false
    /// Whether new instances may start at a lower priority (``StartPriority``).
    let startPriority = StartPriority()
    var warnedAboutStartPriority = false

    var machine = RolloutMachine()
    /// The configuration of each generation that runs, and the one loaded for the next.
    var configurations = GenerationConfigurations()
    /// The instances that run, and the last lines of those gone.
    var instances = InstanceTable()
    /// The control requests that wait for an answer.
    var replies = PendingReplies()
    var stopSignalsReceived = 0
    /// The stop signals of `app`-mode instances that wait for the previous one to close its listeners.
    var stopPacing = StopPacing()
    var lastStatusLine = ""
    /// When the connections of draining instances are counted next.
    var drainCensus = DrainCensusSchedule()
    /// What each instance's probes have seen, and the probe processes that run.
    var probes = ProbeTracker()
    /// Starts, signals and reaps the instances' processes; signals go to held processes only (through pidfds, see
    /// ``ProcessHandle``), so none can reach a process that reuses a number.
    let processes: any ProcessControl
    /// The child that parses the config file of a reload first, while it runs.
    var parserCheck: ParserCheck?
    /// The pid of a ``parserCheck`` killed for taking too long.
    var parserCheckTimedOut: Int32?
    /// Stops the instances if this process dies without doing so; `nil` when it could not be started.
    var lifeline: LifelineLink?
    /// The lifeline of the previous binary after an upgrade replaced it, until it is reaped.
    var retiredLifeline: Int32?
    let timers: Timers
    /// `/readyz` answers 503 from the moment a stop is asked for, through the shutdown delay.
    var shuttingDown = false
    let metrics = SupervisorMetrics()
    /// What other threads may read about this supervisor.
    package private(set) var observer: SupervisorObserver!
    var exitCode: Int32?
    /// Once ``run()`` returned: why the supervisor stopped, with the last lines of the instance whose failure made it
    /// stop (the first generation never became ready), as `supervisor stop` reports it.
    package internal(set) var exitResult: ControlResult?
    let events: AsyncStream<Event>
    let eventSink: AsyncStream<Event>.Continuation
    /// The control socket's server, from ``run()`` on.
    var controlServer: ControlServer?
    private var serving: Task<Void, Never>?
    var signalPipe: SignalPipe?
    /// The health endpoint's listening socket, bound here so that an upgrade hands it over; the endpoint serves a
    /// duplicate of it.
    package internal(set) var healthSocket: Int32?
    /// The health endpoint's Unix socket file, removed at stop while its path names it.
    var healthSocketFile: UnixListener.FileIdentity?
    /// The upgrade in progress, if any.
    var upgrade: UpgradeInProgress?
    /// The last upgrades of this supervisor (at most ``UpgradeRecord/kept``), oldest first, and how many there were.
    var upgrades: [UpgradeRecord] = []
    var upgradeTotal = 0
    /// How the last upgrade ended, for its caller's `upgrade-result`.
    var lastUpgradeOutcome: (id: UInt64, result: ControlResult)?
    /// What the program before an in-place upgrade handed over, until ``run()`` takes it.
    var resumed: Resumed?

    init(
        source: ConfigurationSource,
        configuration: Configuration,
        initialFile: [UInt8]?,
        executable: Executable,
        controlSocket: ControlSocketLocation,
        lock: InstanceLock,
        environment: [String],
        logger: Logger,
        processes: any ProcessControl
    ) throws(SystemFailure) {
        self.processes = processes
        self.source = source
        self.initialConfiguration = configuration
        self.initialFile = initialFile
        self.executable = executable
        self.controlSocket = controlSocket
        self.lock = lock
        self.notifyDirectory = "\(controlSocket.directory)/\(configuration.name).notify"
        self.inheritedEnvironment = environment
        self.logger = logger
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        guard null >= 0 else {
            throw SystemFailure(.openFile, "cannot open /dev/null", failed: .last("open", subject: "/dev/null"))
        }
        self.nullDevice = null
        if systemd.isEnabled { listeners.fileDescriptorStore = systemd }
        (events, eventSink) = AsyncStream.makeStream(of: Event.self)
        timers = Timers(waking: eventSink)
        let sink = eventSink
        observer = SupervisorObserver(connectionGauges: metrics.connections) { sink.yield(.ping($0)) }
    }

    deinit { close(nullDevice) }

    /// Loads and checks the configuration, takes the per-name lock, and prepares the runtime directories.
    ///
    /// - Throws: ``StartFailure`` for anything a person must fix first: a bad setting or a command that cannot run
    ///   (``StartFailure/configuration(_:)``); a port another program listens on, another supervisor with the same
    ///   name, a runtime directory that cannot be used (``StartFailure/system(_:)``).
    package static func prepare(
        source: ConfigurationSource,
        environment: [String: String]
    ) throws(StartFailure) -> Supervisor {
        try prepare(source: source, environment: environment, processes: SystemProcesses())
    }

    /// ``prepare(source:environment:)`` with the processes acted on through `processes` (a fake in tests).
    static func prepare(
        source: ConfigurationSource,
        environment: [String: String],
        processes: any ProcessControl
    ) throws(StartFailure) -> Supervisor {
        let configuration: Configuration
        let location: ControlSocketLocation
        let fileBytes: [UInt8]?
        do throws(ConfigurationError) {
            fileBytes = try source.file.map { path throws(ConfigurationError) in try ConfigurationFile.read(path: path)
            }
            configuration = try source.load(fileBytes: fileBytes)
            location = try ControlSocketLocation(
                explicit: configuration.controlSocket, name: configuration.name, environment: environment)
        } catch {
            throw .configuration(error)
        }
        let supervisor: Supervisor
        do throws(SystemFailure) {
            let logger = Logger(label: "supervisor[\(configuration.name)]")
            try RuntimeDirectory.ensure(location.directory, mode: 0o755)
            let lock = try InstanceLock(controlSocketPath: location.path, name: configuration.name)
            supervisor = try Supervisor(
                source: source, configuration: configuration, initialFile: fileBytes,
                executable: try Executable.current(arguments: CommandLine.arguments), controlSocket: location,
                lock: lock, environment: ServiceEnvironment.inheritable(environment), logger: logger,
                processes: processes)
            let activated = supervisor.adoptActivatedSockets(for: configuration)
            let unclaimed = configuration.listen.filter { !activated.contains($0.unnamed) }
            if let conflict = PortConflict.find(for: unclaimed).first {
                throw SystemFailure(.portInUse, conflict.description)
            }
        } catch {
            throw .system(error)
        }
        do throws(ConfigurationError) { try supervisor.applyKernelMigration(for: configuration) } catch {
            throw .configuration(error)
        }
        do throws(SystemFailure) {
            try supervisor.listeners.prepare(configuration)
            if let warning = supervisor.listeners.takeReceiveBufferWarning() { supervisor.logger.warning("\(warning)") }
            try RuntimeDirectory.preparePrivate(supervisor.notifyDirectory)
            if let health = configuration.health {
                if health.kind == .unix {
                    let bound = try UnixListener.bind(
                        health, backlog: 128, permissions: configuration.socketPermissions)
                    supervisor.healthSocket = bound.fd
                    supervisor.healthSocketFile = bound.identity
                } else {
                    supervisor.healthSocket = try IPListener.bindExclusive(health)
                }
            }
        } catch {
            throw .system(error)
        }
        return supervisor
    }

    /// Starts generation 1 and supervises until stopped. Returns the process exit code: 0 after a clean stop, 1 when
    /// the first generation never became ready.
    package func run() async throws -> Int32 {
        if supervisor_set_child_subreaper() != 0 {
            logger.warning("cannot become a child subreaper; processes orphaned by instances go to init")
        }
        let sink = eventSink
        signalPipe = try SignalPipe(
            signals: [.terminate, .interrupt, .hangup, .child], queue: ioQueue, adopting: resumed?.signalPipe
        ) { sink.yield(.signal($0)) }
        if let descriptor = resumed?.controlDescriptor {
            controlServer = try await ControlServer.adopt(
                descriptor: descriptor, path: controlSocket.path, group: MultiThreadedEventLoopGroup.singleton,
                access: controlAccess, name: initialConfiguration.name)
        } else {
            controlServer = try await ControlServer.bind(
                path: controlSocket.path, group: MultiThreadedEventLoopGroup.singleton, access: controlAccess,
                name: initialConfiguration.name)
        }
        serving = Self.serve(controlServer!, logger: logger, into: sink)
        let command = initialConfiguration.command.joined(separator: " ")
        if resumed == nil {
            logger.info(
                "supervising \(command) as '\(initialConfiguration.name)'; control socket \(controlSocket.path)")
            startLifeline()
        }
        let watchdog: Duration?
        do { watchdog = try SystemdNotifier.watchdogTimeout() } catch {
            logger.warning("not sending WATCHDOG=1 to systemd: \(error)")
            watchdog = nil
        }
        if let timeout = watchdog {
            if resumed == nil {
                logger.info(
                    "systemd watchdog: sending WATCHDOG=1 every \((timeout / 2).secondsText) from the main loop")
            }
            watchdogTick(every: timeout / 2)
        }
        if let resumed {
            self.resumed = nil
            resume(resumed)
        } else {
            start()
        }
        for await event in events {
            switch event {
            case .pauseInputForUpgrade: await pauseInput()
            case .execUpgrade: await execUpgrade()
            default: dispatch(event)
            }
            if exitCode != nil { break }
        }
        timers.cancel()
        listeners.removeSocketFiles()
        if let path = initialConfiguration.health?.path, let file = healthSocketFile {
            UnixListener.remove(path, ifNaming: file)
        }
        await stopOrphans()
        await closeLifeline()
        // Let the last replies (the result of `stop`) reach their clients, but do not wait on a client that does not
        // read.
        controlServer?.stopAccepting()
        let serving = self.serving
        let deadline = Task {
            try await Task.sleep(for: .seconds(2))
            serving?.cancel()
        }
        await serving?.value
        deadline.cancel()
        systemd.flush()
        return exitCode ?? 0
    }

    private var controlAccess: ControlAccess {
        ControlAccess(ownerUID: getuid(), group: initialConfiguration.controlGroup)
    }

    /// Serves the control socket again after an upgrade that did not happen.
    func reopenControlServer() async {
        guard let descriptor = controlServer?.descriptor else { return }
        do {
            let server = try await ControlServer.adopt(
                descriptor: descriptor, path: controlSocket.path, group: MultiThreadedEventLoopGroup.singleton,
                access: controlAccess, name: initialConfiguration.name)
            // The detached server's task ends by itself once its connections are answered (the upgrade caller's among
            // them, after this).
            controlServer = server
            serving = Self.serve(server, logger: logger, into: eventSink)
        } catch {
            logger.error("cannot serve the control socket again: \(error); stop the supervisor with SIGTERM")
        }
    }

    /// Starts the first generation: what ``run()`` does once its event sources are set up.
    func start() {
        configurations.loaded = initialConfiguration
        configurations.loadedFile = initialFile
        prepareRelease(for: initialConfiguration, file: initialFile)
        handle(.start(initialConfiguration.policy))
    }

    private static func serve(
        _ server: ControlServer,
        logger: Logger,
        into sink: AsyncStream<Event>.Continuation
    ) -> Task<Void, Never> {
        Task {
            await server.serve { peer, answer in
                logger.warning("refused a control request from pid \(peer.pid) (uid \(peer.uid)): \(answer)")
            } _: { request in
                enqueue(request, into: sink)
            }
        }
    }

    private static func enqueue(
        _ request: ControlRequest,
        into sink: AsyncStream<Event>.Continuation
    ) -> AsyncStream<ControlReply> {
        let (replies, continuation) = AsyncStream.makeStream(of: ControlReply.self)
        sink.yield(.control(request, continuation))
        return replies
    }

    func dispatch(_ event: Event) {
        switch event {
        case .signal(let signal): received(signal)
        case .notify(let id, let datagram): received(datagram, for: id)
        case .timer(let timer):
            if case .drainTimeout(let id) = timer { drainTimeoutDue(id) }
            handle(.timerFired(timer))
        case .probeListening: probeListening()
        case .control(let request, let reply): received(request, reply: reply)
        case .ping(let reply): reply.resolve(true)
        case .check(let id, let kind): check(id, kind)
        case .probeResult(let id, let kind, let passed, let detail): probed(id, kind, passed: passed, detail: detail)
        case .startIdleOver(let id): startIdleOver(id)
        case .stopAfterDelay:
            extendStopTimeout(delay: .zero)
            handle(.stopRequested(force: false))
        case .killProbe(let pid): killProbe(pid)
        case .parserCheckTimeout(let pid): parserCheckTimeout(pid)
        case .processExited(let pid): mainProcessExited(pid)
        case .watchdogTick(let interval): watchdogTick(every: interval)
        case .timersDue: timersDue()
        case .drainCensusDue: drainCensusDue()
        case .connectionsCounted(let counts, let instances, let took):
            connectionsCounted(counts, of: instances, took: took)
        case .statusCounted(let counts, let instances, let took, let reply):
            logCensus(counts, of: instances, took: took)
            recordConnectionGauges(counts)
            reply.yield(.status(statusReport(connections: counts)))
            reply.finish()
        case .upgradeCheckTimeout(let pid): upgradeCheckTimeout(pid)
        case .stopPacingTick: stopPacingTick()
        case .stopPacingNext: stopPacingNext()
        case .executableDigested(let key, let digest): executableDigested(key, digest)
        case .pauseInputForUpgrade, .execUpgrade:
            // The loop in run() awaits these itself.
            break
        }
    }

    private func received(_ signal: UnixSignal) {
        switch signal {
        case .child:
            reapChildren()
        case .hangup:
            guard !shuttingDown else {
                logger.warning("SIGHUP: reload refused: the supervisor is stopping")
                return
            }
            logger.notice("SIGHUP: reloading")
            handle(.reloadRequested(replies.newReload()))
        case .terminate, .interrupt:
            stopSignalsReceived += 1
            if stopSignalsReceived > 1 {
                logger.warning("\(signal) again: sending SIGKILL to instances still draining")
            } else {
                logger.notice("\(signal): stopping")
            }
            beginStop(force: stopSignalsReceived > 1)
        default:
            break
        }
    }

    /// Feeds one event to the machine and carries out everything that follows from it.
    func handle(_ event: RolloutMachine.Event) {
        perform(machine.handle(event, now: .now))
        scheduleDrainCensus()
        releaseUnneededListeners()
        publishStatusLine()
        publishObservation()
    }

    /// Asks the instances to stop; with a `shutdown-delay`, `/readyz` answers 503 for that long first, so load
    /// balancers take this host out of rotation before anything drains.
    func beginStop(force: Bool) {
        let delay = configurations.current(target: machine.target, or: initialConfiguration).shutdownDelay
        if force || delay == .zero || shuttingDown || machine.lifecycle != .running {
            if !shuttingDown { extendStopTimeout(delay: .zero) }
            shuttingDown = true
            handle(.stopRequested(force: force))
            return
        }
        extendStopTimeout(delay: delay)
        shuttingDown = true
        publishObservation()
        systemd.stopping(status: "stopping in \(delay.secondsText): out of rotation first (shutdown-delay)")
        logger.notice(
            "stopping in \(delay.secondsText): /readyz answers 503 meanwhile, so load balancers move away first")
        after(delay, .stopAfterDelay)
    }

    /// What `EXTEND_TIMEOUT_USEC=` at stop adds to the drain timeout: time to SIGKILL, reap and exit.
    static let stopMargin: Duration = .seconds(5)

    /// Tells systemd how long the stop may take: the shutdown delay, the longest drain timeout of the generations
    /// that run, and a margin to reap and exit; so `TimeoutStopSec=` does not SIGKILL a drain within its deadline.
    func extendStopTimeout(delay: Duration) {
        let drains = configurations.all.map(\.drainTimeout) + [initialConfiguration.drainTimeout]
        systemd.extendTimeout(by: delay + (drains.max() ?? .zero) + Self.stopMargin)
    }

    /// Sends `WATCHDOG=1` from this loop (a loop that is stuck stops the pings, and systemd restarts the
    /// supervisor) after collecting any child whose SIGCHLD was missed.
    private func watchdogTick(every interval: Duration) {
        reapChildren()
        systemd.watchdog()
        after(interval, .watchdogTick(interval))
    }

    /// Publishes what the observer shows and updates the metrics' gauges: for the health endpoint, the only reader of
    /// either, so without one no report is built on every event.
    func publishObservation() {
        guard initialConfiguration.health != nil else { return }
        let report = statusReport()
        let ready = machine.records.filter { $0.phase == .ready }.count
        let minReady = configurations.current(target: machine.target, or: initialConfiguration).minReady
        let stopping = shuttingDown
        let subjects = censusSubjects().map { subject in
            let record = machine.record(subject.key)
            return (subject: subject, draining: record?.isLive == false, mainPID: record?.mainPID)
        }
        observer.published.withLock { state in
            state.report = report
            state.censusSubjects = subjects
            state.readyInstances = ready
            state.minReady = minReady
            state.shuttingDown = stopping
        }
        metrics.update(from: machine, lossless: lossless.lossless)
    }

    /// Keeps systemd's `STATUS=` in step with the instances; with `force`, says it again even when it did not change
    /// (after an upgrade's own `STATUS=`).
    func publishStatusLine(force: Bool = false) {
        guard machine.lifecycle == .running, let line = machine.statusLine, force || line != lastStatusLine else {
            return
        }
        lastStatusLine = line
        systemd.status(line)
    }
}
