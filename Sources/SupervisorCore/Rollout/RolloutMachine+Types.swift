extension RolloutMachine {
    /// Something that happened, fed into ``RolloutMachine/handle(_:now:)``.
    package enum Event: Equatable, Sendable {
        /// Start generation 1 with this policy (`supervisor run`).
        case start(GenerationPolicy)
        /// A reload was asked for (`supervisor reload`, SIGHUP). With `waitForDrain`, the caller is told the outcome
        /// of a completed rollout only once the instances it stopped have exited, and sees their drain meanwhile.
        case reloadRequested(ReloadRequestID, waitForDrain: Bool = false)
        /// The configuration asked for with ``Action/loadConfiguration`` is valid.
        case configurationLoaded(GenerationPolicy)
        /// The configuration asked for with ``Action/loadConfiguration`` is not usable; the message says why.
        case configurationFailed(String)
        /// The process for an instance runs.
        case spawned(InstanceID, pid: Int32)
        /// The process for an instance could not be started; the message says why.
        case spawnFailed(InstanceID, String)
        /// The instance is ready (`READY=1`, or another readiness probe passed).
        case ready(InstanceID)
        /// The instance announced `STOPPING=1`.
        case announcedStopping(InstanceID)
        /// The instance sent `STATUS=`.
        case statusText(InstanceID, String)
        /// The instance announced `MAINPID=`.
        case mainPID(InstanceID, Int32)
        /// A ready instance failed a liveness check (watchdog, probe); the text says how. It keeps serving until its
        /// replacement is ready.
        case unhealthy(InstanceID, String)
        /// A process was reaped.
        case exited(pid: Int32, ExitStatus)
        /// A timer set with ``Action/startTimer(_:after:)`` expired.
        case timerFired(TimerID)
        /// The live connections of instances were counted (``ConnectionCensus``). With `progress`, each draining
        /// instance's count is reported (once a second while something drains).
        case connectionsCounted([InstanceID: Int], progress: Bool)
        /// Stop everything and exit (`supervisor stop`, SIGTERM, SIGINT). `force` sends SIGKILL to whatever is
        /// still draining.
        case stopRequested(force: Bool)
    }

    /// Something the runtime must do.
    package enum Action: Equatable, Sendable {
        /// Read the configuration again and answer with ``Event/configurationLoaded(_:)`` or
        /// ``Event/configurationFailed(_:)``.
        case loadConfiguration
        /// The configuration just loaded becomes this generation: spawn its instances from it.
        case beginGeneration(Generation)
        /// Start a process for this instance and answer with ``Event/spawned(_:pid:)`` or
        /// ``Event/spawnFailed(_:_:)``.
        case spawn(InstanceID, Slot, Generation)
        /// Send a signal to one process.
        case signal(pid: Int32, UnixSignal)
        /// Send SIGKILL to a process and to every process of the group it leads.
        case killGroup(pid: Int32, mainPID: Int32)
        /// Feed ``Event/timerFired(_:)`` back after this long.
        case startTimer(TimerID, after: Duration)
        /// Log a line; when `to` is not empty, also send it to those reload callers as progress.
        case log(LogLevel, String, to: [ReloadRequestID])
        /// Tell these reload callers how the rollout that covers them ended.
        case finishReload([ReloadRequestID], ReloadResult)
        /// Report the supervisor's own state to the service manager.
        case serviceState(ServiceState)
        /// Every instance is gone after a stop: exit with this code; the message, when present, says why.
        case exit(code: Int32, message: String?, failedInstance: InstanceID?)
        /// Something to count or time for metrics.
        case measure(Measurement)
    }

    /// What the metrics record.
    package enum Measurement: Equatable, Sendable {
        /// An instance became ready this long after it was started.
        case becameReady(after: Duration)
        /// An instance that was asked to stop exited after draining this long; `forced` when it got SIGKILL.
        case drained(Duration, forced: Bool)
        /// An instance got SIGKILL because its drain took too long (or a second stop asked for it).
        case forcedKill
        /// A slot's instance was restarted or replaced after a failure.
        case restart
        /// A rollout (or the first start) ended.
        case rollout(ReloadResult.Kind, Duration)
    }

    /// A timer the machine asked for; stale timers are ignored when they fire.
    package enum TimerID: Hashable, Codable, Sendable {
        case readyTimeout(InstanceID)
        case drainTimeout(InstanceID)
        case restart(Slot, token: Int)
        /// The bake time of a rollout to this generation is over.
        case bakeEnded(Generation)
    }

    /// How loud a line is.
    package enum LogLevel: String, Equatable, Sendable {
        case debug, info, notice, warning, error
    }

    /// What the supervisor tells systemd.
    package enum ServiceState: Equatable, Sendable {
        case ready(status: String)
        case reloading(status: String)
        case status(String)
        case stopping(status: String)
    }

    /// Where the supervisor is in its own life.
    package enum Lifecycle: Equatable, Codable, Sendable {
        case notStarted
        case running
        case stopping(exitCode: Int32, message: String?, failedInstance: InstanceID?)
        case exited
    }

    /// A rollout in progress.
    package struct Rollout: Equatable, Codable, Sendable {
        /// The generation that served before; `nil` for the first start.
        package let from: Generation?
        package let to: Generation
        package let startedAt: ContinuousClock.Instant
        /// The reload callers this rollout answers.
        package internal(set) var waiters: [ReloadRequestID]
        /// The new instances that became ready so far, for ``RolloutFigures``.
        package internal(set) var ready: [RolloutFigures.Ready] = []
        /// The old instances that drained and exited so far.
        package internal(set) var drains: [RolloutFigures.Drain] = []
        /// With a bake time: when every new instance was ready and the bake began.
        package internal(set) var bakingSince: ContinuousClock.Instant?
        /// The bake time is over (or there is none): the previous generation may be stopped.
        package internal(set) var baked = false

        init(from: Generation?, to: Generation, startedAt: ContinuousClock.Instant, waiters: [ReloadRequestID]) {
            self.from = from
            self.to = to
            self.startedAt = startedAt
            self.waiters = waiters
        }

        /// Whether the previous generation must keep serving: a bake time is set and not over yet.
        func holdsPreviousGeneration(bake: Duration) -> Bool {
            from != nil && bake > .zero && !baked
        }
    }
}

/// How a reload ended, as its caller is told.
package struct ReloadResult: Equatable, Codable, Sendable {
    /// The kinds of ending.
    package enum Kind: String, Equatable, Codable, Sendable {
        /// The first generation serves.
        case started
        /// The new generation serves.
        case completed
        /// The new generation failed and the previous one serves.
        case rolledBack = "rolled_back"
        /// Nothing was rolled out (the configuration was unusable), or a rollout was abandoned (the supervisor
        /// stopped).
        case failed
        /// The reload was not begun: the supervisor is stopping, or too many earlier generations still drain.
        case refused
    }

    /// `true` when the new generation serves.
    package var succeeded: Bool { kind == .started || kind == .completed }
    package let kind: Kind
    /// One line for a person: what happened and to what.
    package internal(set) var message: String
    /// The instance whose failure caused a rollback; its last output explains it.
    package let failedInstance: InstanceID?
    /// The generation serving afterwards.
    package let generation: Generation?
    /// The generation that served before; `nil` for the first start.
    package let from: Generation?
    /// The generation rolled out (the one that failed, when rolled back); `nil` when none was begun.
    package let to: Generation?
    /// When it ended.
    package let finishedAt: ContinuousClock.Instant
    /// What the rollout measured; drains only for callers that waited for them.
    package internal(set) var figures: RolloutFigures

    package init(
        kind: Kind,
        message: String,
        failedInstance: InstanceID? = nil,
        generation: Generation?,
        finishedAt: ContinuousClock.Instant,
        from: Generation? = nil,
        to: Generation? = nil,
        figures: RolloutFigures = RolloutFigures()
    ) {
        self.kind = kind
        self.message = message
        self.failedInstance = failedInstance
        self.generation = generation
        self.finishedAt = finishedAt
        self.from = from
        self.to = to
        self.figures = figures
    }
}
