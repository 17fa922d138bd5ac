/// The supervisor's decisions, as a pure state machine: events in, actions out, no I/O and no clock of its own.
///
/// It works like a reconciler. There is one *target* generation; every slot `0..<instances` should hold a ready
/// instance of it, and slots beyond that should be empty. After every event the machine compares what runs with that
/// target and emits the actions that close the gap, in an order that never leaves a slot without a serving instance
/// when one can be kept:
///
/// - a slot whose target instance is ready has every other instance in it stopped;
/// - a slot without a target instance gets one: at once when nothing serves in it, otherwise only while fewer than
///   `maxSurge` replacements are starting;
/// - slots beyond the instance count are emptied only once every other slot serves the target.
///
/// A reload raises the target to a new generation (a *rollout*). If an instance of that generation exits or misses
/// its ready timeout before the rollout completes, the target drops back to the previous generation (a *rollback*):
/// new instances that never served are stopped, and a slot whose old instance was already replaced gets an old one
/// again before its new one is stopped. Reloads that arrive during a rollout are coalesced into one follow-up rollout.
/// An instance of the target that dies in steady state is restarted in its slot after a ``RestartBackoff`` delay.
package struct RolloutMachine: Codable, Sendable {
    package private(set) var lifecycle: Lifecycle = .notStarted
    /// Every instance not yet reaped, oldest first.
    package private(set) var records: [InstanceRecord] = []
    /// The generation every slot should run.
    package private(set) var target: Generation?
    /// The rollout in progress, if any.
    package private(set) var rollout: Rollout?
    /// How the last rollout ended (the first start included).
    package private(set) var lastResult: ReloadResult?
    /// Restarts after a failure, per slot, since the supervisor started.
    package private(set) var restartCounts: [Slot: Int] = [:]

    private var policies: [Generation: GenerationPolicy] = [:]
    private var backoffs: [Slot: RestartBackoff] = [:]
    private var pendingRestarts: [Slot: Int] = [:]
    private var restartTokens = 0
    private var reloadsAwaitingConfiguration: [ReloadRequestID]?
    private var queuedReloads: [ReloadRequestID] = []
    /// Reload callers that asked to wait until the instances their rollout stopped have exited.
    private var drainWatchers: Set<ReloadRequestID> = []
    /// Completed rollouts whose callers wait for old instances to exit.
    private var drainWaits: [DrainWait] = []
    private var lastGeneration = 0
    private var lastSerial = 0
    private var actions: [Action] = []
    private var now: ContinuousClock.Instant = .now

    /// What an in-place upgrade hands to the next program: everything but the actions of the event being handled
    /// and its time.
    private enum CodingKeys: String, CodingKey {
        case lifecycle, records, target, rollout, lastResult, restartCounts, policies, backoffs, pendingRestarts
        case restartTokens, reloadsAwaitingConfiguration, queuedReloads, drainWatchers, drainWaits, lastGeneration
        case lastSerial
    }

    package init() {}

    /// The policy of a generation that still has instances, or is the target.
    package func policy(of generation: Generation) -> GenerationPolicy? { policies[generation] }

    /// The record of an instance that has not been reaped yet.
    package func record(_ id: InstanceID) -> InstanceRecord? { records.first { $0.id == id } }

    /// Reload callers waiting for a rollout that has not started yet.
    package var queuedReloadCount: Int { queuedReloads.count + (reloadsAwaitingConfiguration?.count ?? 0) }

    /// Feeds one event and returns what to do, in order.
    package mutating func handle(_ event: Event, now: ContinuousClock.Instant) -> [Action] {
        self.now = now
        actions = []
        switch event {
        case .start(let policy): start(policy)
        case .reloadRequested(let id, let waitForDrain):
            if waitForDrain { drainWatchers.insert(id) }
            requestReload(id)
        case .configurationLoaded(let policy): beginRollout(policy)
        case .configurationFailed(let message): rejectConfiguration(message)
        case .spawned(let id, let pid): spawned(id, pid: pid)
        case .spawnFailed(let id, let message): spawnFailed(id, message: message)
        case .ready(let id): becameReady(id)
        case .announcedStopping(let id): announcedStopping(id)
        case .statusText(let id, let text): update(id) { $0.statusText = text }
        case .mainPID(let id, let pid): update(id) { $0.mainPID = pid }
        case .unhealthy(let id, let reason): becameUnhealthy(id, reason: reason)
        case .exited(let pid, let status): exited(pid: pid, status: status)
        case .timerFired(let timer): timerFired(timer)
        case .connectionsCounted(let counts, let progress): counted(counts, progress: progress)
        case .stopRequested(let force): stop(force: force)
        }
        reconcile()
        return actions
    }

    // MARK: - Events

    private mutating func start(_ policy: GenerationPolicy) {
        guard lifecycle == .notStarted else { return }
        lifecycle = .running
        let generation = allocateGeneration(policy)
        target = generation
        rollout = Rollout(from: nil, to: generation, startedAt: now, waiters: [])
        log(.info, "starting \(generation): \(instancesText(policy.instances))")
    }

    private mutating func requestReload(_ id: ReloadRequestID) {
        switch lifecycle {
        case .stopping, .exited:
            finish([id], .refused, "reload refused: the supervisor is stopping")
            return
        case .notStarted, .running:
            break
        }
        if rollout == nil, let refusal = drainingRefusal() {
            finish([id], .refused, refusal)
            return
        }
        if let rollout {
            queuedReloads.append(id)
            log(
                .info, "a rollout to \(rollout.to) is in progress; this reload starts a new rollout when it ends",
                to: [id])
        } else if reloadsAwaitingConfiguration != nil {
            reloadsAwaitingConfiguration!.append(id)
        } else {
            reloadsAwaitingConfiguration = [id]
            actions.append(.loadConfiguration)
        }
    }

    private mutating func beginRollout(_ policy: GenerationPolicy) {
        guard let waiters = reloadsAwaitingConfiguration else { return }
        reloadsAwaitingConfiguration = nil
        guard lifecycle == .running, let from = target else {
            finish(waiters, .refused, "reload refused: the supervisor is stopping")
            return
        }
        let generation = allocateGeneration(policy)
        target = generation
        rollout = Rollout(from: from, to: generation, startedAt: now, waiters: waiters)
        let surge = policy.maxSurge >= policy.instances ? "all at once" : "at most \(policy.maxSurge) at a time"
        let status = "reloading: rolling out \(generation)"
        actions.append(.serviceState(.reloading(status: status)))
        log(.notice, "rolling out \(generation) to replace \(from): \(instancesText(policy.instances)), \(surge)")
    }

    private mutating func rejectConfiguration(_ message: String) {
        guard let waiters = reloadsAwaitingConfiguration else { return }
        reloadsAwaitingConfiguration = nil
        let serving = target.map { "; \($0) keeps serving" } ?? ""
        finish(waiters, .failed, "reload failed: \(message)\(serving)")
        startQueuedReload()
    }

    private mutating func spawned(_ id: InstanceID, pid: Int32) {
        guard let index = index(of: id), records[index].phase == .spawning else { return }
        records[index].pid = pid
        records[index].mainPID = pid
        records[index].phase = .starting
        let record = records[index]
        let policy = policies[record.generation]!
        log(.info, "started \(record.label)", rolloutRelated: record.generation == rollout?.to)
        actions.append(.startTimer(.readyTimeout(id), after: policy.readyTimeout))
        if record.stopWhenSpawned { stopInstance(at: index) }
    }

    private mutating func spawnFailed(_ id: InstanceID, message: String) {
        guard let index = index(of: id) else { return }
        let record = records.remove(at: index)
        failed(record, reason: "\(record.label) could not be started: \(message)")
    }

    private mutating func becameReady(_ id: InstanceID) {
        guard let index = index(of: id), records[index].phase == .starting else { return }
        records[index].phase = .ready
        records[index].readyAt = now
        let record = records[index]
        let elapsed = now - record.createdAt
        actions.append(.measure(.becameReady(after: elapsed)))
        if record.generation == rollout?.to {
            rollout?.ready.append(
                RolloutFigures.Ready(slot: record.slot.index, pid: record.mainPID, seconds: elapsed.seconds))
        }
        log(
            .info, "\(record.label) is ready after \(elapsed.secondsText)",
            rolloutRelated: record.generation == rollout?.to)
        if record.generation != target {
            log(.debug, "\(record.label) is no longer wanted (the target is \(target.map(String.init) ?? "none"))")
        }
    }

    private mutating func becameUnhealthy(_ id: InstanceID, reason: String) {
        guard let index = index(of: id), records[index].phase == .ready, records[index].unhealthy == nil else { return }
        let record = records[index]
        // A new generation that fails its liveness check before its rollout completed is a failed release.
        if let rollout, rollout.to == record.generation, let from = rollout.from {
            rollBack(to: from, reason: "\(record.label) \(reason)", failedInstance: id)
            return
        }
        records[index].unhealthy = reason
        restartCounts[record.slot, default: 0] += 1
        actions.append(.measure(.restart))
        log(.warning, "\(record.label) \(reason); it keeps serving until its replacement is ready")
    }

    private mutating func announcedStopping(_ id: InstanceID) {
        // Only a serving instance can hand its slot over early; one that is still starting will exit, and that exit
        // is judged like any other.
        guard let index = index(of: id), records[index].phase == .ready else { return }
        let record = records[index]
        log(.notice, "\(record.label) announced that it is stopping; its slot gets a replacement")
        records[index].phase = .stopping
        records[index].stoppingSince = now
        actions.append(.startTimer(.drainTimeout(id), after: policies[record.generation]!.drainTimeout))
    }

    private mutating func exited(pid: Int32, status: ExitStatus) {
        guard let index = records.firstIndex(where: { $0.mainPID == pid }) else { return }
        let record = records.remove(at: index)
        if let groupLeader = record.pid {
            // Whatever the instance left behind in its process group goes with it.
            actions.append(.killGroup(pid: groupLeader, mainPID: pid))
        }
        switch record.phase {
        case .stopping, .killed:
            let drained = record.stoppingSince.map { now - $0 } ?? .zero
            let killed = record.phase == .killed
            actions.append(.measure(.drained(drained, forced: killed)))
            // Some programs end by raising the stop signal again once drained (uvicorn does): a normal stop.
            let stopSignal = policies[record.generation]?.stopSignal
            let ending =
                status == .signaled(stopSignal ?? .kill, coreDumped: false)
                ? "ended by \(stopSignal!), its stop signal" : status.description
            let line =
                killed
                ? "\(record.label) \(status) after draining for \(drained.secondsText)"
                : "\(record.label) drained in \(drained.secondsText) (\(ending))"
            log(killed ? .warning : .info, line, to: drainAudience(of: record.id))
            drainEnded(
                record.id,
                RolloutFigures.Drain(
                    slot: record.slot.index, pid: record.mainPID, generation: record.generation.number,
                    seconds: drained.seconds, killed: killed, openConnections: record.openConnections,
                    exit: status.description))
        case .starting:
            failed(record, reason: "\(record.label) \(status) before it was ready")
        case .ready:
            failed(record, reason: "\(record.label) \(status)")
        case .spawning:
            failed(record, reason: "\(record.label) \(status) while being started")
        }
    }

    private mutating func timerFired(_ timer: TimerID) {
        switch timer {
        case .readyTimeout(let id):
            guard let index = index(of: id), records[index].phase == .starting else { return }
            let record = records[index]
            let timeout = policies[record.generation]!.readyTimeout.secondsText
            stopInstance(at: index)
            failed(record, reason: "\(record.label) was not ready within \(timeout)")
        case .drainTimeout(let id):
            guard let index = index(of: id), records[index].phase == .stopping,
                let pid = records[index].pid, let mainPID = records[index].mainPID
            else { return }
            records[index].phase = .killed
            let record = records[index]
            let policy = policies[record.generation]!
            let waited = "\(policy.drainTimeout.secondsText) of \(policy.stopSignal)"
            let line: String
            switch record.openConnections {
            case .some(let open) where open > 0:
                line = "\(record.label) has \(Self.connectionsText(open)) still open after \(waited): SIGKILL"
            case .some:
                line = "\(record.label) did not exit within \(waited), with no connection open: SIGKILL"
            case .none:
                line = "\(record.label) did not exit within \(waited): SIGKILL"
            }
            log(.warning, line, to: drainAudience(of: record.id))
            actions.append(.killGroup(pid: pid, mainPID: mainPID))
            actions.append(.measure(.forcedKill))
        case .restart(let slot, let token):
            guard pendingRestarts[slot] == token else { return }
            pendingRestarts[slot] = nil
        case .bakeEnded(let generation):
            guard let rollout, rollout.to == generation, rollout.bakingSince != nil else { return }
            self.rollout?.baked = true
            log(
                .notice,
                "\(generation) baked without a failure; stopping \(rollout.from.map(String.init) ?? "the rest")",
                rolloutRelated: true)
        }
    }

    private mutating func stop(force: Bool) {
        if case .stopping = lifecycle {
            if force { killEverythingDraining() }
            return
        }
        guard lifecycle == .running || lifecycle == .notStarted else { return }
        lifecycle = .stopping(exitCode: 0, message: nil, failedInstance: nil)
        abandonReloads(because: "the supervisor is stopping")
        let live = records.filter(\.isLive).count
        actions.append(.serviceState(.stopping(status: "stopping: draining \(instancesText(live))")))
        log(.notice, "stopping: draining \(instancesText(live))")
        stopAllLiveInstances()
        if force { killEverythingDraining() }
    }

    // MARK: - Failures

    /// An instance ended or timed out without being asked to. `record` may already be removed.
    private mutating func failed(_ record: InstanceRecord, reason: String) {
        if let rollout, record.generation == rollout.to {
            if let from = rollout.from {
                rollBack(to: from, reason: reason, failedInstance: record.id)
            } else {
                abortFirstStart(reason: reason, failedInstance: record.id)
            }
            return
        }
        guard lifecycle == .running, record.generation == target,
            let policy = target.flatMap({ policies[$0] }), record.slot.index < policy.instances
        else {
            log(.warning, reason)
            return
        }
        let uptime = now - (record.readyAt ?? record.createdAt)
        let delay = backoffs[record.slot, default: RestartBackoff()].delayAfterFailure(uptime: uptime)
        restartCounts[record.slot, default: 0] += 1
        actions.append(.measure(.restart))
        restartTokens += 1
        pendingRestarts[record.slot] = restartTokens
        actions.append(.startTimer(.restart(record.slot, token: restartTokens), after: delay))
        log(.error, "\(reason); restarting slot \(record.slot) in \(delay.secondsText)")
    }

    private mutating func rollBack(to previous: Generation, reason: String, failedInstance: InstanceID) {
        guard let failedRollout = rollout else { return }
        target = previous
        rollout = nil
        // Instances of the failed generation that never served can go at once; ready ones stay until the slot has an
        // instance of the previous generation again (reconcile does that).
        for index in records.indices
        where records[index].generation == failedRollout.to && records[index].isLive && records[index].phase != .ready {
            stopInstance(at: index)
        }
        let message = "\(reason); rolled back to \(previous)"
        log(.error, message)
        let result = ReloadResult(
            kind: .rolledBack, message: message, failedInstance: failedInstance, generation: previous,
            finishedAt: now, from: failedRollout.from, to: failedRollout.to)
        actions.append(.measure(.rollout(.rolledBack, now - failedRollout.startedAt)))
        lastResult = result
        finishReload(failedRollout.waiters, result)
        actions.append(.serviceState(.ready(status: servingStatus())))
        startQueuedReload()
    }

    private mutating func abortFirstStart(reason: String, failedInstance: InstanceID) {
        rollout = nil
        let message = "\(reason); the first generation never became ready, stopping"
        lastResult = ReloadResult(
            kind: .failed, message: message, failedInstance: failedInstance, generation: nil, finishedAt: now,
            to: target)
        lifecycle = .stopping(exitCode: 1, message: message, failedInstance: failedInstance)
        log(.error, message)
        abandonReloads(because: "the first generation never became ready")
        actions.append(.serviceState(.stopping(status: "failed: \(reason)")))
        stopAllLiveInstances()
    }

    // MARK: - Reconciliation

    private mutating func reconcile() {
        defer { exitWhenEmpty() }
        guard lifecycle == .running, let target, let policy = policies[target] else { return }

        var replacementsStarting = Set<Slot>()
        for slot in occupiedSlots() where slot.index < policy.instances {
            let live = records.filter { $0.slot == slot && $0.isLive }
            let starting = live.contains { $0.generation == target && $0.phase != .ready }
            let serving = live.contains { ($0.generation != target || $0.unhealthy != nil) && $0.phase == .ready }
            if starting && serving { replacementsStarting.insert(slot) }
        }

        let baking = rollout.map { $0.to == target && $0.holdsPreviousGeneration(bake: policy.bake) } ?? false
        for slotIndex in 0..<policy.instances {
            let slot = Slot(slotIndex)
            let live = records.indices.filter { records[$0].slot == slot && records[$0].isLive }
            if let ready = live.first(where: { records[$0].generation == target && records[$0].isServingHealthy }) {
                // While baking, the previous generation serves on beside its replacements.
                for index in live where index != ready && !(baking && records[index].isServingHealthy) {
                    stopInstance(at: index)
                }
            } else if live.contains(where: { records[$0].generation == target && records[$0].phase != .ready }) {
                // The replacement is on its way: whatever else is starting here will never be needed.
                for index in live where records[index].generation != target && records[index].phase != .ready {
                    stopInstance(at: index)
                }
            } else {
                guard pendingRestarts[slot] == nil else { continue }
                let someoneServes = live.contains { records[$0].phase == .ready }
                if someoneServes {
                    guard replacementsStarting.count < policy.maxSurge else { continue }
                    replacementsStarting.insert(slot)
                }
                for index in live where records[index].phase != .ready { stopInstance(at: index) }
                spawn(slot: slot, generation: target)
            }
        }

        let everySlotServesTarget = (0..<policy.instances).allSatisfy { index in
            records.contains { $0.slot.index == index && $0.generation == target && $0.isServingHealthy }
        }
        guard everySlotServesTarget else { return }
        if baking, let started = rollout, let from = started.from {
            if started.bakingSince == nil {
                rollout?.bakingSince = now
                actions.append(.startTimer(.bakeEnded(target), after: policy.bake))
                log(
                    .notice,
                    "every instance of \(target) is ready; baking for \(policy.bake.secondsText) while \(from) keeps "
                        + "serving (a failure meanwhile rolls back)",
                    rolloutRelated: true)
            }
            return
        }
        for index in records.indices where records[index].slot.index >= policy.instances && records[index].isLive {
            stopInstance(at: index)
        }
        for slot in pendingRestarts.keys where slot.index >= policy.instances { pendingRestarts[slot] = nil }
        if let rollout, rollout.to == target { complete(rollout) }
        forgetUnusedPolicies()
    }

    private mutating func complete(_ finished: Rollout) {
        rollout = nil
        let policy = policies[finished.to]!
        let took = (now - finished.startedAt).secondsText
        let message =
            "\(finished.to) is serving: \(policy.instances)/\(policy.instances) instances ready; "
            + (finished.from == nil ? "start took \(took)" : "rollout took \(took)")
        let kind: ReloadResult.Kind = finished.from == nil ? .started : .completed
        let result = ReloadResult(
            kind: kind, message: message, generation: finished.to, finishedAt: now, from: finished.from,
            to: finished.to, figures: RolloutFigures(ready: finished.ready, drains: finished.drains))
        lastResult = result
        actions.append(.measure(.rollout(kind, now - finished.startedAt)))
        log(.notice, message)
        let waiting = finished.waiters.filter { drainWatchers.contains($0) }
        let draining = Set(
            records.filter { !$0.isLive && $0.generation != finished.to }.map(\.id))
        if waiting.isEmpty || draining.isEmpty {
            finishReload(finished.waiters, result)
        } else {
            let answeredNow = finished.waiters.filter { !drainWatchers.contains($0) }
            if !answeredNow.isEmpty { finishReload(answeredNow, result) }
            drainWaits.append(DrainWait(waiters: waiting, pending: draining, result: result))
            log(
                .info, "\(message); waiting for \(instancesText(draining.count)) of earlier generations to drain",
                to: waiting)
        }
        actions.append(.serviceState(.ready(status: servingStatus())))
        startQueuedReload()
    }

    // MARK: - Drains

    /// A completed rollout whose callers wait until the old instances have exited.
    private struct DrainWait: Codable {
        let waiters: [ReloadRequestID]
        var pending: Set<InstanceID>
        var result: ReloadResult
    }

    /// Who hears about an instance's drain: callers waiting for it, and those of the rollout in progress.
    private func drainAudience(of id: InstanceID) -> [ReloadRequestID] {
        drainWaits.filter { $0.pending.contains(id) }.flatMap(\.waiters) + (rollout?.waiters ?? [])
    }

    /// An instance asked to stop has exited: callers waiting for it learn how, and get their result once every
    /// instance they wait for is gone.
    private mutating func drainEnded(_ id: InstanceID, _ drain: RolloutFigures.Drain) {
        if let rollout, drain.generation != rollout.to.number { self.rollout?.drains.append(drain) }
        for index in drainWaits.indices where drainWaits[index].pending.remove(id) != nil {
            drainWaits[index].result.figures.drains.append(drain)
        }
        for wait in drainWaits where wait.pending.isEmpty {
            var result = wait.result
            result.message += "; " + Self.drainSummary(result.figures.drains)
            finishReload(wait.waiters, result)
        }
        drainWaits.removeAll { $0.pending.isEmpty }
    }

    /// `2 earlier instances drained, the slowest in 0.42 s`, or how many were killed and what they held.
    static func drainSummary(_ drains: [RolloutFigures.Drain]) -> String {
        let count = drains.count == 1 ? "1 earlier instance" : "\(drains.count) earlier instances"
        let killed = drains.filter(\.killed)
        guard killed.isEmpty else {
            let counted = killed.compactMap(\.openConnections)
            let holding = counted.isEmpty ? "" : ", holding \(connectionsText(counted.reduce(0, +)))"
            return "\(killed.count) of \(count) got SIGKILL at the drain timeout\(holding)"
        }
        let slowest = Duration.milliseconds(Int64((drains.map(\.seconds).max() ?? 0) * 1000)).secondsText
        return drains.count == 1 ? "\(count) drained in \(slowest)" : "\(count) drained, the slowest in \(slowest)"
    }

    /// New counts of live connections; with `progress`, one line per draining instance (at `info` when its count
    /// changed, else at `debug`, so the log is not flooded while the callers following the drain see every line).
    private mutating func counted(_ counts: [InstanceID: Int], progress: Bool) {
        for index in records.indices {
            // A killed instance keeps the count it was killed with: that is what SIGKILL cut.
            guard let count = counts[records[index].id], records[index].phase != .killed else { continue }
            records[index].openConnections = count
            guard progress, records[index].phase == .stopping else { continue }
            let record = records[index]
            let changed = record.reportedConnections != count
            records[index].reportedConnections = count
            log(
                changed ? .info : .debug, "\(record.label) draining: \(Self.connectionsText(count)) open",
                to: drainAudience(of: record.id))
        }
    }

    private static func connectionsText(_ count: Int) -> String {
        count == 1 ? "1 connection" : "\(count) connections"
    }

    private mutating func finishReload(_ waiters: [ReloadRequestID], _ result: ReloadResult) {
        for waiter in waiters { drainWatchers.remove(waiter) }
        actions.append(.finishReload(waiters, result))
    }

    private mutating func exitWhenEmpty() {
        guard case .stopping(let code, let message, let failedInstance) = lifecycle, records.isEmpty else { return }
        lifecycle = .exited
        actions.append(.exit(code: code, message: message, failedInstance: failedInstance))
    }

    // MARK: - Helpers

    private mutating func spawn(slot: Slot, generation: Generation) {
        lastSerial += 1
        let id = InstanceID(lastSerial)
        records.append(
            InstanceRecord(
                id: id, slot: slot, generation: generation, pid: nil, mainPID: nil, phase: .spawning,
                createdAt: now, readyAt: nil, stoppingSince: nil, statusText: nil))
        actions.append(.spawn(id, slot, generation))
    }

    private mutating func stopInstance(at index: Int) {
        switch records[index].phase {
        case .spawning:
            records[index].stopWhenSpawned = true
        case .starting, .ready:
            let record = records[index]
            guard let mainPID = record.mainPID else { return }
            let policy = policies[record.generation]!
            records[index].phase = .stopping
            records[index].stoppingSince = now
            log(.info, "stopping \(record.label) with \(policy.stopSignal)", rolloutRelated: rollout != nil)
            actions.append(.signal(pid: mainPID, policy.stopSignal))
            actions.append(.startTimer(.drainTimeout(record.id), after: policy.drainTimeout))
        case .stopping, .killed:
            break
        }
    }

    private mutating func stopAllLiveInstances() {
        pendingRestarts = [:]
        for index in records.indices where records[index].isLive { stopInstance(at: index) }
    }

    private mutating func killEverythingDraining() {
        for index in records.indices where records[index].phase == .stopping {
            guard let pid = records[index].pid, let mainPID = records[index].mainPID else { continue }
            records[index].phase = .killed
            log(.warning, "\(records[index].label) is still draining; sending SIGKILL as asked")
            actions.append(.killGroup(pid: pid, mainPID: mainPID))
            actions.append(.measure(.forcedKill))
        }
    }

    private mutating func abandonReloads(because reason: String) {
        if let rollout, !rollout.waiters.isEmpty {
            finish(
                rollout.waiters, .failed, "rollout to \(rollout.to) interrupted: \(reason)", from: rollout.from,
                to: rollout.to)
        }
        rollout = nil
        let waiting = (reloadsAwaitingConfiguration ?? []) + queuedReloads
        reloadsAwaitingConfiguration = nil
        queuedReloads = []
        if !waiting.isEmpty { finish(waiting, .refused, "reload refused: \(reason)") }
    }

    private mutating func startQueuedReload() {
        guard !queuedReloads.isEmpty, lifecycle == .running else { return }
        reloadsAwaitingConfiguration = queuedReloads
        queuedReloads = []
        actions.append(.loadConfiguration)
    }

    /// Tells `waiters` that their reload failed or was refused: nothing was rolled out, and the target serves; or,
    /// for a rollout abandoned, `from` served before it and `to` was rolled out (`from` given, even as `nil` for the
    /// first start, replaces the target).
    private mutating func finish(
        _ waiters: [ReloadRequestID], _ kind: ReloadResult.Kind, _ message: String, from: Generation?? = nil,
        to: Generation? = nil
    ) {
        log(.warning, message)
        let result = ReloadResult(
            kind: kind, message: message, generation: target, finishedAt: now, from: from ?? target, to: to)
        lastResult = result
        finishReload(waiters, result)
    }

    private mutating func allocateGeneration(_ policy: GenerationPolicy) -> Generation {
        lastGeneration += 1
        let generation = Generation(lastGeneration)
        policies[generation] = policy
        actions.append(.beginGeneration(generation))
        return generation
    }

    private mutating func forgetUnusedPolicies() {
        let inUse = Set(records.map(\.generation)).union(target.map { [$0] } ?? [])
        for generation in policies.keys where !inUse.contains(generation) { policies[generation] = nil }
    }

    private mutating func update(_ id: InstanceID, _ change: (inout InstanceRecord) -> Void) {
        guard let index = index(of: id) else { return }
        change(&records[index])
    }

    private func index(of id: InstanceID) -> Int? { records.firstIndex { $0.id == id } }

    private func occupiedSlots() -> Set<Slot> { Set(records.map(\.slot)) }

    private mutating func log(_ level: LogLevel, _ message: String, rolloutRelated: Bool = false) {
        log(level, message, to: rolloutRelated ? (rollout?.waiters ?? []) : [])
    }

    private mutating func log(_ level: LogLevel, _ message: String, to waiters: [ReloadRequestID]) {
        let waiters = waiters.isEmpty && rollout != nil && level >= .notice ? rollout!.waiters : waiters
        actions.append(.log(level, message, to: waiters))
    }

    /// Generations other than the target that still have instances draining, oldest first.
    package var drainingGenerations: [Generation] {
        Set(
            records.filter { ($0.phase == .stopping || $0.phase == .killed) && $0.generation != target }
                .map(\.generation)
        ).sorted()
    }

    /// Why a reload may not start now: too many earlier generations are still draining.
    private func drainingRefusal() -> String? {
        guard let target, let limit = policies[target]?.maxDraining else { return nil }
        let draining = drainingGenerations
        guard draining.count >= limit else { return nil }
        let deadlines = records.compactMap { record -> ContinuousClock.Instant? in
            guard draining.contains(record.generation), let since = record.stoppingSince,
                let policy = policies[record.generation]
            else { return nil }
            return since + policy.drainTimeout
        }
        let wait = deadlines.max().map { " (the last drain deadline is in \(max(.zero, $0 - now).secondsText))" } ?? ""
        // What keeps them: the connections their instances held at the last count (made once a second while they
        // drain), so a drain that never ends says why.
        let held = records.filter { draining.contains($0.generation) }.compactMap(\.openConnections)
        let holding = held.isEmpty ? "" : ", holding \(Self.connectionsText(held.reduce(0, +)))"
        return "reload refused: \(draining.count) earlier generations are still draining ("
            + draining.map(String.init).joined(separator: ", ") + "\(holding))\(wait); wait for them, or raise "
            + "--max-draining"
    }

    private func servingStatus() -> String { statusLine ?? "no generation" }

    /// systemd's `STATUS=` while running: the generation that serves and how many of its instances are ready, the
    /// rollout in progress, and why the last reload was rolled back (so `systemctl status` shows it), e.g.
    /// `generation 2: 2/2 ready; last reload rolled back: instance #1 … exited with status 2 before it was ready; …`.
    package var statusLine: String? {
        guard let target, let policy = policies[target] else { return nil }
        let ready = records.filter { $0.generation == target && $0.phase == .ready }.count
        var line = "\(target): \(ready)/\(policy.instances) ready"
        if let rollout, rollout.from != nil {
            if rollout.bakingSince != nil, let bake = policies[rollout.to]?.bake {
                line = "reloading: baking \(rollout.to) for \(bake.secondsText); " + line
            } else {
                line = "reloading: rolling out \(rollout.to); " + line
            }
        }
        if let lastResult, lastResult.kind == .rolledBack { line += "; last reload rolled back: \(lastResult.message)" }
        return line
    }

    private func instancesText(_ count: Int) -> String { count == 1 ? "1 instance" : "\(count) instances" }
}

extension RolloutMachine.LogLevel: Comparable {
    private var rank: Int {
        switch self {
        case .debug: 0
        case .info: 1
        case .notice: 2
        case .warning: 3
        case .error: 4
        }
    }

    package static func < (lhs: Self, rhs: Self) -> Bool { lhs.rank < rhs.rank }
}
