@testable import SupervisorCore

/// Drives a ``RolloutMachine`` the way the runtime does, with a fake clock and fake pids, and keeps every action.
struct MachineDriver {
    var machine = RolloutMachine()
    var now = ContinuousClock.now
    var nextPID: Int32 = 1000
    /// Every action returned so far, oldest first.
    var log: [RolloutMachine.Action] = []
    /// Actions of the last step.
    var last: [RolloutMachine.Action] = []
    /// Policies handed out at each `.loadConfiguration`.
    var nextPolicy: GenerationPolicy?

    static func policy(
        instances: Int = 2,
        maxSurge: Int? = nil,
        readyTimeout: Duration = .seconds(60),
        drainTimeout: Duration = .seconds(30),
        stopSignal: UnixSignal = .terminate,
        bake: Duration = .zero,
        maxDraining: Int = GenerationPolicy.defaultMaxDraining
    ) -> GenerationPolicy {
        GenerationPolicy(
            instances: instances, maxSurge: maxSurge ?? instances, readyTimeout: readyTimeout,
            drainTimeout: drainTimeout, stopSignal: stopSignal, bake: bake, maxDraining: maxDraining)
    }

    /// Feeds an event, then answers spawns with pids and configuration loads with ``nextPolicy``, like the runtime.
    @discardableResult
    mutating func send(_ event: RolloutMachine.Event) -> [RolloutMachine.Action] {
        var produced: [RolloutMachine.Action] = []
        var pending = [event]
        while !pending.isEmpty {
            let actions = machine.handle(pending.removeFirst(), now: now)
            produced += actions
            for action in actions {
                switch action {
                case .spawn(let id, _, _):
                    nextPID += 1
                    pending.append(.spawned(id, pid: nextPID))
                case .loadConfiguration:
                    if let nextPolicy { pending.append(.configurationLoaded(nextPolicy)) }
                default:
                    break
                }
            }
        }
        last = produced
        log += produced
        return produced
    }

    mutating func advance(_ duration: Duration) { now += duration }

    /// Starts generation 1 and makes every instance ready.
    mutating func startServing(_ policy: GenerationPolicy = MachineDriver.policy()) {
        send(.start(policy))
        readyAll()
    }

    /// Sends READY for every starting instance.
    mutating func readyAll(generation: Int? = nil) {
        for record in machine.records where record.phase == .starting {
            if let generation, record.generation.number != generation { continue }
            send(.ready(record.id))
        }
    }

    /// Records that are live (spawning, starting or ready) in a generation.
    func live(generation: Int) -> [InstanceRecord] {
        machine.records.filter { $0.generation.number == generation && $0.isLive }
    }

    func records(generation: Int) -> [InstanceRecord] {
        machine.records.filter { $0.generation.number == generation }
    }

    /// Reaps the main pid of every record that is stopping, as if each exited after its stop signal.
    mutating func exitStopping(status: ExitStatus = .exited(code: 0)) {
        for record in machine.records where record.phase == .stopping || record.phase == .killed {
            send(.exited(pid: record.mainPID!, status))
        }
    }
}

extension [RolloutMachine.Action] {
    var spawns: [(InstanceID, Slot, Generation)] {
        compactMap { if case .spawn(let id, let slot, let generation) = $0 { (id, slot, generation) } else { nil } }
    }

    var signalledPIDs: [Int32] {
        compactMap { if case .signal(let pid, _) = $0 { pid } else { nil } }
    }

    var signals: [(Int32, UnixSignal)] {
        compactMap { if case .signal(let pid, let signal) = $0 { (pid, signal) } else { nil } }
    }

    var killedPIDs: [Int32] {
        compactMap { if case .killGroup(let pid, _) = $0 { pid } else { nil } }
    }

    var finishedReloads: [([ReloadRequestID], ReloadResult)] {
        compactMap { if case .finishReload(let ids, let result) = $0 { (ids, result) } else { nil } }
    }

    var timers: [(RolloutMachine.TimerID, Duration)] {
        compactMap { if case .startTimer(let id, let delay) = $0 { (id, delay) } else { nil } }
    }

    var exits: [(Int32, String?)] {
        compactMap { if case .exit(let code, let message, _) = $0 { (code, message) } else { nil } }
    }

    var loadsConfiguration: Int { filter { $0 == .loadConfiguration }.count }

    var serviceStates: [RolloutMachine.ServiceState] {
        compactMap { if case .serviceState(let state) = $0 { state } else { nil } }
    }

    var messages: [String] {
        compactMap { if case .log(_, let message, _) = $0 { message } else { nil } }
    }
}
