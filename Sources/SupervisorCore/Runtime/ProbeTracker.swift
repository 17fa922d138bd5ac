/// What the probes of each instance have seen (the last `WATCHDOG=1`, liveness failures in a row, whether a probe
/// runs), and the `exec:` probe processes that run. The decisions that follow from a result are made here, so they
/// are tested without probes; the loop runs the probes and acts on the verdicts.
struct ProbeTracker {
    /// What the probes of one instance have seen.
    struct State {
        var lastWatchdog: ContinuousClock.Instant?
        var livenessFailures = 0
        var inFlight = false
        /// A line for `status`, e.g. `ready probe: GET …: 200 in 3 ms`.
        var summary: String?
    }

    /// What a liveness result means for the instance.
    enum LivenessVerdict: Equatable {
        /// It passed: probe again after the interval.
        case healthy
        /// It failed `failures` times in a row, fewer than the threshold: probe again after the interval.
        case failing(failures: Int)
        /// It failed `failures` times in a row, the threshold: replace it.
        case unhealthy(failures: Int)
    }

    private var states: [InstanceID: State] = [:]
    /// `exec:` readiness probes that run now, by pid.
    private var processes: [Int32: InstanceID] = [:]
    /// A poll of the listening sockets of instances with `ready = listen` is scheduled.
    var listenPollScheduled = false

    subscript(id: InstanceID) -> State? { states[id] }

    /// What each instance's probes have seen.
    var all: [InstanceID: State] { states }

    /// The `exec:` probe processes that run.
    var processIDs: [Int32] { Array(processes.keys) }

    /// Tracks an instance handed over by an in-place upgrade, with what its probes had seen (none runs now).
    mutating func restore(
        _ id: InstanceID,
        lastWatchdog: ContinuousClock.Instant?,
        livenessFailures: Int,
        summary: String?
    ) {
        states[id] = State(lastWatchdog: lastWatchdog, livenessFailures: livenessFailures, summary: summary)
    }

    /// Starts tracking a new instance.
    mutating func track(_ id: InstanceID) { states[id] = State() }

    /// Forgets an instance that is gone.
    mutating func forget(_ id: InstanceID) { states[id] = nil }

    /// Whether a probe of the instance runs now.
    func isInFlight(_ id: InstanceID) -> Bool { states[id]?.inFlight == true }

    /// A probe of the instance has started.
    mutating func started(_ id: InstanceID) { states[id]?.inFlight = true }

    /// An `exec:` probe process has started for the instance.
    mutating func started(_ id: InstanceID, process pid: Int32) {
        started(id)
        processes[pid] = id
    }

    /// Whether `pid` is an `exec:` probe that runs now.
    func isProbeProcess(_ pid: Int32) -> Bool { processes[pid] != nil }

    /// An `exec:` probe process has been reaped: the instance it probed, if it was one.
    mutating func processEnded(_ pid: Int32) -> InstanceID? { processes.removeValue(forKey: pid) }

    /// The instance sent `WATCHDOG=1`.
    mutating func watchdogPinged(_ id: InstanceID, at now: ContinuousClock.Instant) { states[id]?.lastWatchdog = now }

    /// A readiness probe has answered.
    mutating func readinessAnswered(_ id: InstanceID, detail: String) {
        states[id]?.inFlight = false
        states[id]?.summary = "ready probe: \(detail)"
    }

    /// A probe of the instance ended without a verdict to record (the instance moved on meanwhile).
    mutating func ended(_ id: InstanceID) { states[id]?.inFlight = false }

    /// A liveness probe has answered: counts failures in a row against `threshold`. An instance not tracked (gone
    /// meanwhile) has nothing to count.
    mutating func livenessAnswered(
        _ id: InstanceID,
        passed: Bool,
        detail: String,
        threshold: Int
    ) -> LivenessVerdict {
        guard var state = states[id] else { return .healthy }
        state.inFlight = false
        let verdict: LivenessVerdict
        if passed {
            state.livenessFailures = 0
            state.summary = "liveness: \(detail)"
            verdict = .healthy
        } else {
            state.livenessFailures += 1
            state.summary = "liveness: failed \(state.livenessFailures) in a row: \(detail)"
            verdict =
                state.livenessFailures >= threshold
                ? .unhealthy(failures: state.livenessFailures) : .failing(failures: state.livenessFailures)
        }
        states[id] = state
        return verdict
    }
}
