import Testing

@testable import SupervisorCore

@Suite("Rollout state machine: first start")
struct FirstStartTests {
    @Test("start spawns every slot of generation 1 at once, and reports ready only when all are ready")
    func startSpawnsAllSlots() {
        var driver = MachineDriver()
        let actions = driver.send(.start(MachineDriver.policy(instances: 3)))
        #expect(actions.spawns.map(\.1) == [Slot(0), Slot(1), Slot(2)])
        #expect(actions.spawns.allSatisfy { $0.2 == Generation(1) })

        let first = driver.machine.records[0].id
        driver.send(.ready(first))
        #expect(driver.last.serviceStates.isEmpty)
        driver.readyAll()
        #expect(driver.last.serviceStates == [.ready(status: "generation 1: 3/3 ready")])
        #expect(driver.machine.rollout == nil)
        #expect(driver.machine.lastResult?.succeeded == true)
    }

    @Test("an instance that exits before the first generation is ready stops everything with exit code 1")
    func firstStartFailureExits() {
        var driver = MachineDriver()
        driver.send(.start(MachineDriver.policy(instances: 2)))
        let failing = driver.machine.records[1]
        driver.send(.exited(pid: failing.mainPID!, .exited(code: 2)))
        #expect(driver.last.signalledPIDs == [driver.machine.records[0].mainPID!])
        #expect(driver.last.exits.isEmpty)
        driver.exitStopping()
        let exit = driver.last.exits.first
        #expect(exit?.0 == 1)
        #expect(
            exit?.1?.contains(
                "instance #1 (pid \(failing.mainPID!), generation 1) exited with status 2 before it was ready") == true)
    }

    @Test("a reload asked for during the first start runs after it")
    func reloadDuringFirstStartIsQueued() {
        var driver = MachineDriver()
        driver.nextPolicy = MachineDriver.policy()
        driver.send(.start(MachineDriver.policy()))
        driver.send(.reloadRequested(ReloadRequestID(1)))
        #expect(driver.last.loadsConfiguration == 0)
        driver.readyAll()
        #expect(driver.last.loadsConfiguration == 1)
        #expect(driver.machine.rollout?.to == Generation(2))
    }
}

@Suite("Rollout state machine: reload")
struct ReloadTests {
    @Test("a reload starts the new generation, and stops each old instance only once its slot's replacement is ready")
    func reloadReplacesSlotBySlot() {
        var driver = MachineDriver()
        driver.startServing()
        let old = driver.records(generation: 1)
        driver.nextPolicy = MachineDriver.policy()

        driver.send(.reloadRequested(ReloadRequestID(7)))
        #expect(driver.last.spawns.map(\.2) == [Generation(2), Generation(2)])
        #expect(driver.last.signalledPIDs.isEmpty)
        #expect(driver.last.serviceStates.contains(.reloading(status: "reloading: rolling out generation 2")))

        let newSlot1 = driver.records(generation: 2).first { $0.slot == Slot(1) }!
        driver.send(.ready(newSlot1.id))
        #expect(driver.last.signalledPIDs == [old[1].mainPID!])
        #expect(driver.last.finishedReloads.isEmpty)

        driver.readyAll(generation: 2)
        #expect(driver.last.signalledPIDs == [old[0].mainPID!])
        let finished = driver.last.finishedReloads
        #expect(finished.count == 1)
        #expect(finished.first?.0 == [ReloadRequestID(7)])
        #expect(finished.first?.1.succeeded == true)
        #expect(finished.first?.1.message.hasPrefix("generation 2 is serving: 2/2 instances ready") == true)
        #expect(driver.machine.target == Generation(2))
    }

    @Test("with max-surge 1, only one replacement starts at a time")
    func maxSurgeLimitsReplacements() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 3))
        driver.nextPolicy = MachineDriver.policy(instances: 3, maxSurge: 1)
        driver.send(.reloadRequested(ReloadRequestID(1)))
        #expect(driver.last.spawns.count == 1)
        for expectedSlot in 1...2 {
            driver.readyAll(generation: 2)
            #expect(driver.last.spawns.map(\.1) == [Slot(expectedSlot)])
            #expect(driver.last.signalledPIDs.count == 1)
        }
        driver.readyAll(generation: 2)
        #expect(driver.last.finishedReloads.first?.1.succeeded == true)
    }

    @Test("each instance is stopped with its own generation's stop signal")
    func stopSignalPerGeneration() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 1, stopSignal: UnixSignal(name: "QUIT")!))
        driver.nextPolicy = MachineDriver.policy(instances: 1, stopSignal: .interrupt)
        driver.send(.reloadRequested(ReloadRequestID(1)))
        driver.readyAll(generation: 2)
        #expect(driver.last.signals.map(\.1) == [UnixSignal(name: "QUIT")!])
        driver.send(.stopRequested(force: false))
        #expect(driver.last.signals.map(\.1) == [.interrupt])
    }

    @Test("scaling down stops the extra slots only after every remaining slot serves the new generation")
    func scaleDown() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 3))
        let old = driver.records(generation: 1)
        driver.nextPolicy = MachineDriver.policy(instances: 1)
        driver.send(.reloadRequested(ReloadRequestID(1)))
        #expect(driver.last.spawns.map(\.1) == [Slot(0)])
        #expect(driver.last.signalledPIDs.isEmpty)
        driver.readyAll(generation: 2)
        #expect(Set(driver.last.signalledPIDs) == Set(old.map { $0.mainPID! }))
        #expect(driver.last.finishedReloads.first?.1.succeeded == true)
    }

    @Test("scaling up fills the new slots")
    func scaleUp() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 1))
        driver.nextPolicy = MachineDriver.policy(instances: 3)
        driver.send(.reloadRequested(ReloadRequestID(1)))
        #expect(driver.last.spawns.map(\.1) == [Slot(0), Slot(1), Slot(2)])
        driver.readyAll(generation: 2)
        #expect(driver.machine.records.filter(\.isLive).count == 3)
        #expect(driver.last.finishedReloads.first?.1.succeeded == true)
    }

    @Test("reloads asked for during a rollout are coalesced into one follow-up rollout that answers all of them")
    func coalescing() {
        var driver = MachineDriver()
        driver.startServing()
        driver.nextPolicy = MachineDriver.policy()
        driver.send(.reloadRequested(ReloadRequestID(1)))
        driver.send(.reloadRequested(ReloadRequestID(2)))
        driver.send(.reloadRequested(ReloadRequestID(3)))
        #expect(driver.machine.queuedReloadCount == 2)

        driver.readyAll(generation: 2)
        #expect(driver.last.finishedReloads.map(\.0) == [[ReloadRequestID(1)]])
        #expect(driver.last.loadsConfiguration == 1)
        #expect(driver.machine.rollout?.to == Generation(3))

        driver.readyAll(generation: 3)
        #expect(driver.last.finishedReloads.map(\.0) == [[ReloadRequestID(2), ReloadRequestID(3)]])
        #expect(driver.last.loadsConfiguration == 0)
    }

    @Test("a configuration that fails to load fails the reload and changes nothing")
    func configurationFailure() {
        var driver = MachineDriver()
        driver.startServing()
        driver.send(.reloadRequested(ReloadRequestID(4)))
        #expect(driver.last.loadsConfiguration == 1)
        driver.send(.configurationFailed("command not found: /srv/app"))
        let finished = driver.last.finishedReloads
        #expect(finished.first?.0 == [ReloadRequestID(4)])
        #expect(finished.first?.1.succeeded == false)
        #expect(finished.first?.1.message == "reload failed: command not found: /srv/app; generation 1 keeps serving")
        #expect(driver.last.spawns.isEmpty && driver.last.signalledPIDs.isEmpty)
        #expect(driver.machine.target == Generation(1))
    }
}

@Suite("Rollout state machine: rollback")
struct RollbackTests {
    @Test("a new instance that exits before it is ready rolls back; the old generation is never signalled")
    func exitBeforeReady() {
        var driver = MachineDriver()
        driver.startServing()
        let old = driver.records(generation: 1)
        driver.nextPolicy = MachineDriver.policy()
        driver.send(.reloadRequested(ReloadRequestID(1)))
        let new = driver.records(generation: 2)

        driver.send(.exited(pid: new[1].mainPID!, .exited(code: 2)))
        let finished = driver.last.finishedReloads
        #expect(finished.count == 1)
        #expect(finished.first?.1.succeeded == false)
        #expect(
            finished.first?.1.message
                == "instance #1 (pid \(new[1].mainPID!), generation 2) exited with status 2 before it was ready; "
                + "rolled back to generation 1")
        #expect(finished.first?.1.failedInstance == new[1].id)
        #expect(driver.last.signalledPIDs == [new[0].mainPID!])
        #expect(driver.machine.target == Generation(1))

        driver.exitStopping()
        #expect(driver.machine.records.map(\.id) == old.map(\.id))
        #expect(!driver.log.signalledPIDs.contains(old[0].mainPID!))
        #expect(!driver.log.signalledPIDs.contains(old[1].mainPID!))
        #expect(driver.machine.records.allSatisfy { $0.phase == .ready })
        #expect(
            driver.machine.statusLine
                == "generation 1: 2/2 ready; last reload rolled back: instance #1 (pid \(new[1].mainPID!), "
                + "generation 2) exited with status 2 before it was ready; rolled back to generation 1")
    }

    @Test("a new instance that misses its ready timeout is stopped and the rollout rolls back")
    func readyTimeout() {
        var driver = MachineDriver()
        driver.startServing()
        driver.nextPolicy = MachineDriver.policy(readyTimeout: .seconds(5))
        driver.send(.reloadRequested(ReloadRequestID(1)))
        let new = driver.records(generation: 2)
        #expect(driver.last.timers.contains { $0.0 == .readyTimeout(new[0].id) && $0.1 == .seconds(5) })
        driver.send(.ready(new[0].id))
        driver.advance(.seconds(5))
        driver.send(.timerFired(.readyTimeout(new[1].id)))
        #expect(
            driver.last.finishedReloads.first?.1.message
                == "instance #1 (pid \(new[1].mainPID!), generation 2) was not ready within 5 s; rolled back to generation 1"
        )
        // The ready new instance of slot 0 keeps serving until slot 0 has a generation 1 instance again.
        #expect(driver.last.signalledPIDs == [new[1].mainPID!])
        #expect(driver.last.spawns.map(\.1) == [Slot(0)])
        #expect(driver.last.spawns.map(\.2) == [Generation(1)])
    }

    @Test("a stale ready timeout after the instance became ready changes nothing")
    func staleReadyTimeout() {
        var driver = MachineDriver()
        driver.startServing()
        let first = driver.machine.records[0]
        driver.send(.timerFired(.readyTimeout(first.id)))
        #expect(driver.last.isEmpty)
    }

    @Test("rolling back after a slot was replaced restores the old generation there before stopping the new one")
    func rollbackRestoresReplacedSlots() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 2))
        driver.nextPolicy = MachineDriver.policy(instances: 2, maxSurge: 1)
        driver.send(.reloadRequested(ReloadRequestID(1)))
        driver.readyAll(generation: 2)  // slot 0 replaced, old #0 stopped
        driver.exitStopping()
        let newSlot0 = driver.live(generation: 2).first { $0.slot == Slot(0) }!
        let newSlot1 = driver.live(generation: 2).first { $0.slot == Slot(1) }!

        driver.send(.exited(pid: newSlot1.mainPID!, .signaled(.kill, coreDumped: false)))
        #expect(driver.last.finishedReloads.first?.1.succeeded == false)
        let restore = driver.last.spawns
        #expect(restore.map(\.1) == [Slot(0)])
        #expect(restore.map(\.2) == [Generation(1)])
        #expect(!driver.last.signalledPIDs.contains(newSlot0.mainPID!))

        driver.readyAll(generation: 1)
        #expect(driver.last.signalledPIDs == [newSlot0.mainPID!])
    }

    @Test("a new instance that crashes after it was ready but before the rollout completed rolls back")
    func crashAfterReadyDuringRollout() {
        var driver = MachineDriver()
        driver.startServing()
        driver.nextPolicy = MachineDriver.policy()
        driver.send(.reloadRequested(ReloadRequestID(1)))
        let new = driver.records(generation: 2)
        driver.send(.ready(new[0].id))
        driver.send(.exited(pid: new[0].mainPID!, .exited(code: 1)))
        #expect(
            driver.last.finishedReloads.first?.1.message
                == "instance #0 (pid \(new[0].mainPID!), generation 2) exited with status 1; rolled back to generation 1"
        )
        // Slot 0's old instance was already stopped: a generation 1 instance is started there again.
        #expect(driver.last.spawns.map(\.2) == [Generation(1)])
    }
}

@Suite("Rollout state machine: steady state and stop")
struct SteadyStateTests {
    @Test("an instance that dies is restarted in its slot after 100 ms, then 200 ms, and the others are untouched")
    func restartWithBackoff() {
        var driver = MachineDriver()
        driver.startServing()
        let victim = driver.machine.records[0]
        driver.send(.exited(pid: victim.mainPID!, .signaled(.kill, coreDumped: false)))
        #expect(driver.last.timers.map(\.1) == [.milliseconds(100)])
        #expect(driver.last.spawns.isEmpty)
        #expect(driver.last.signalledPIDs.isEmpty)
        guard case .restart(let slot, let token) = driver.last.timers[0].0 else {
            Issue.record("expected a restart timer")
            return
        }
        driver.advance(.milliseconds(100))
        driver.send(.timerFired(.restart(slot, token: token)))
        #expect(driver.last.spawns.map(\.1) == [Slot(0)])
        #expect(driver.last.spawns.map(\.2) == [Generation(1)])
        #expect(driver.machine.restartCounts[Slot(0)] == 1)

        let replacement = driver.machine.records.first { $0.slot == Slot(0) }!
        driver.send(.exited(pid: replacement.mainPID!, .exited(code: 1)))
        #expect(driver.last.timers.map(\.1) == [.milliseconds(200)])
    }

    @Test("backoff doubles to 30 s at most and resets after 60 s of uptime")
    func backoffSchedule() {
        var backoff = RestartBackoff()
        let delays = (0..<12).map { _ in backoff.delayAfterFailure(uptime: .seconds(1)) }
        #expect(delays.prefix(4) == [.milliseconds(100), .milliseconds(200), .milliseconds(400), .milliseconds(800)])
        #expect(delays.last == .seconds(30))
        #expect(backoff.delayAfterFailure(uptime: .seconds(60)) == .milliseconds(100))
    }

    @Test("an old instance that dies during a rollout has its slot filled by the new generation at once")
    func oldCrashDuringRollout() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 2))
        driver.nextPolicy = MachineDriver.policy(instances: 2, maxSurge: 1)
        driver.send(.reloadRequested(ReloadRequestID(1)))
        let oldSlot1 = driver.records(generation: 1).first { $0.slot == Slot(1) }!
        driver.send(.exited(pid: oldSlot1.mainPID!, .exited(code: 1)))
        #expect(driver.last.spawns.map(\.1) == [Slot(1)])
        #expect(driver.last.timers.allSatisfy { if case .restart = $0.0 { false } else { true } })
    }

    @Test("an instance that announces STOPPING=1 gets its replacement at once")
    func announcedStopping() {
        var driver = MachineDriver()
        driver.startServing()
        let leaving = driver.machine.records[1]
        driver.send(.announcedStopping(leaving.id))
        #expect(driver.last.spawns.map(\.1) == [Slot(1)])
        #expect(driver.last.signalledPIDs.isEmpty)
    }

    @Test("an instance that ignores its stop signal gets SIGKILL for its whole group after the drain timeout")
    func drainTimeoutKills() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 1, drainTimeout: .seconds(3)))
        driver.send(.stopRequested(force: false))
        let stuck = driver.machine.records[0]
        #expect(driver.last.timers.contains { $0.0 == .drainTimeout(stuck.id) && $0.1 == .seconds(3) })
        driver.advance(.seconds(3))
        driver.send(.timerFired(.drainTimeout(stuck.id)))
        #expect(driver.last.killedPIDs == [stuck.pid!])
        #expect(driver.last.messages.contains { $0.contains("did not exit within 3 s of SIGTERM: SIGKILL") })
        driver.exitStopping(status: .signaled(.kill, coreDumped: false))
        #expect(driver.last.exits.first?.0 == 0)
    }

    @Test("stop drains every instance, refuses reloads meanwhile, and exits 0 when all are gone")
    func stop() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 3))
        driver.send(.stopRequested(force: false))
        #expect(driver.last.signalledPIDs.count == 3)
        #expect(driver.last.serviceStates == [.stopping(status: "stopping: draining 3 instances")])
        driver.send(.reloadRequested(ReloadRequestID(9)))
        #expect(driver.last.finishedReloads.first?.1.message == "reload refused: the supervisor is stopping")
        let records = driver.machine.records
        driver.send(.exited(pid: records[0].mainPID!, .exited(code: 0)))
        driver.send(.exited(pid: records[1].mainPID!, .exited(code: 0)))
        #expect(driver.last.exits.isEmpty)
        #expect(driver.last.spawns.isEmpty)
        driver.send(.exited(pid: records[2].mainPID!, .exited(code: 0)))
        #expect(driver.last.exits.first?.0 == 0)
    }

    @Test("a second forced stop sends SIGKILL to whatever still drains")
    func forcedStop() {
        var driver = MachineDriver()
        driver.startServing()
        driver.send(.stopRequested(force: false))
        driver.send(.stopRequested(force: true))
        #expect(driver.last.killedPIDs.count == 2)
    }

    @Test("stop during a rollout answers its caller that the rollout was interrupted")
    func stopDuringRollout() {
        var driver = MachineDriver()
        driver.startServing()
        driver.nextPolicy = MachineDriver.policy()
        driver.send(.reloadRequested(ReloadRequestID(5)))
        driver.send(.stopRequested(force: false))
        #expect(
            driver.last.finishedReloads.first?.1.message
                == "rollout to generation 2 interrupted: the supervisor is stopping")
        #expect(driver.last.signalledPIDs.count == 4)
    }

    @Test("the exit of a process that is not an instance is ignored")
    func unknownExit() {
        var driver = MachineDriver()
        driver.startServing()
        #expect(driver.send(.exited(pid: 4242, .exited(code: 0))).isEmpty)
    }

    @Test("after MAINPID= the stop signal goes to the announced process, and its exit ends the instance")
    func mainPID() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 1))
        let instance = driver.machine.records[0]
        driver.send(.mainPID(instance.id, 5555))
        driver.send(.exited(pid: instance.pid!, .exited(code: 0)))
        #expect(driver.machine.records.count == 1)
        driver.send(.stopRequested(force: false))
        #expect(driver.last.signalledPIDs == [5555])
        driver.send(.exited(pid: 5555, .exited(code: 0)))
        #expect(driver.last.exits.first?.0 == 0)
    }
}

@Suite("Rollout state machine: liveness")
struct LivenessTests {
    @Test("an unhealthy instance keeps serving until its replacement is ready, then is stopped")
    func unhealthyIsReplacedSafely() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 2))
        let hung = driver.machine.records[0]
        driver.send(.unhealthy(hung.id, "sent no WATCHDOG=1 for 2 s"))
        #expect(driver.last.spawns.map(\.1) == [Slot(0)])
        #expect(driver.last.spawns.map(\.2) == [Generation(1)])
        #expect(driver.last.signalledPIDs.isEmpty)
        #expect(driver.last.contains(.measure(.restart)))
        #expect(driver.machine.restartCounts[Slot(0)] == 1)
        #expect(driver.machine.record(hung.id)?.unhealthy == "sent no WATCHDOG=1 for 2 s")

        driver.readyAll()
        #expect(driver.last.signalledPIDs == [hung.mainPID!])
    }

    @Test("an unhealthy instance whose replacement dies keeps serving, and the replacement is retried with backoff")
    func unhealthyKeepsServingWhenReplacementFails() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 1))
        let hung = driver.machine.records[0]
        driver.send(.unhealthy(hung.id, "failed its liveness probe 3 times in a row"))
        let replacement = driver.machine.records.first { $0.id != hung.id }!
        driver.send(.exited(pid: replacement.mainPID!, .exited(code: 1)))
        #expect(driver.last.signalledPIDs.isEmpty)
        #expect(driver.last.timers.contains { if case .restart = $0.0 { true } else { false } })
        #expect(driver.machine.record(hung.id)?.phase == .ready)
    }

    @Test("a new instance that fails its liveness check before its rollout completed rolls the rollout back")
    func unhealthyDuringRolloutRollsBack() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 2))
        driver.nextPolicy = MachineDriver.policy(instances: 2)
        driver.send(.reloadRequested(ReloadRequestID(1)))
        let new = driver.records(generation: 2)
        driver.send(.ready(new[0].id))
        driver.send(.unhealthy(new[0].id, "sent no WATCHDOG=1 for 1 s"))
        let result = driver.last.finishedReloads.first?.1
        #expect(result?.kind == .rolledBack)
        #expect(result?.message.hasSuffix("sent no WATCHDOG=1 for 1 s; rolled back to generation 1") == true)
        // What served before, and what failed.
        #expect(result?.from == Generation(1))
        #expect(result?.to == Generation(2))
        #expect(result?.generation == Generation(1))
    }

    @Test("metrics: time to ready, drain, forced kills and rollouts are measured")
    func measurements() {
        var driver = MachineDriver()
        driver.send(.start(MachineDriver.policy(instances: 1, drainTimeout: .seconds(1))))
        driver.advance(.milliseconds(250))
        driver.readyAll()
        #expect(driver.last.contains(.measure(.becameReady(after: .milliseconds(250)))))
        #expect(driver.last.contains(.measure(.rollout(.started, .milliseconds(250)))))
        driver.nextPolicy = MachineDriver.policy(instances: 1, drainTimeout: .seconds(1))
        driver.send(.reloadRequested(ReloadRequestID(1)))
        driver.advance(.milliseconds(100))
        driver.readyAll(generation: 2)
        #expect(driver.last.contains(.measure(.rollout(.completed, .milliseconds(100)))))
        let old = driver.records(generation: 1)[0]
        driver.advance(.seconds(1))
        driver.send(.timerFired(.drainTimeout(old.id)))
        #expect(driver.last.contains(.measure(.forcedKill)))
        driver.send(.exited(pid: old.mainPID!, .signaled(.kill, coreDumped: false)))
        #expect(driver.last.contains(.measure(.drained(.seconds(1), forced: true))))
    }
}

@Suite("Rollout state machine: bake time")
struct BakeTests {
    @Test("with a bake time the old generation serves on until the bake is over, then the rollout completes")
    func bakeKeepsOldServing() {
        var driver = MachineDriver()
        driver.startServing()
        let old = driver.records(generation: 1)
        driver.nextPolicy = MachineDriver.policy(bake: .seconds(30))
        driver.send(.reloadRequested(ReloadRequestID(1)))
        driver.readyAll(generation: 2)
        #expect(driver.last.signalledPIDs.isEmpty)
        #expect(driver.last.finishedReloads.isEmpty)
        #expect(driver.last.timers.contains { $0.0 == .bakeEnded(Generation(2)) && $0.1 == .seconds(30) })
        #expect(driver.machine.rollout?.bakingSince != nil)
        #expect(driver.machine.statusLine?.hasPrefix("reloading: baking generation 2 for 30 s") == true)

        driver.advance(.seconds(30))
        driver.send(.timerFired(.bakeEnded(Generation(2))))
        #expect(Set(driver.last.signalledPIDs) == Set(old.compactMap(\.mainPID)))
        #expect(driver.last.finishedReloads.first?.1.succeeded == true)
        #expect(driver.machine.rollout == nil)
    }

    @Test("a new instance that crashes during the bake rolls back; the old generation is never signalled")
    func crashDuringBakeRollsBack() {
        var driver = MachineDriver()
        driver.startServing()
        let old = driver.records(generation: 1)
        driver.nextPolicy = MachineDriver.policy(bake: .seconds(30))
        driver.send(.reloadRequested(ReloadRequestID(1)))
        driver.readyAll(generation: 2)
        let new = driver.records(generation: 2)
        driver.advance(.seconds(1))
        driver.send(.exited(pid: new[1].mainPID!, .exited(code: 1)))
        #expect(driver.last.finishedReloads.first?.1.kind == .rolledBack)
        #expect(driver.last.signalledPIDs == [new[0].mainPID!])
        #expect(driver.last.spawns.isEmpty)
        // The late bake timer changes nothing.
        driver.send(.timerFired(.bakeEnded(Generation(2))))
        #expect(driver.last.signalledPIDs.isEmpty)
        #expect(!driver.log.signalledPIDs.contains(old[0].mainPID!))
        #expect(!driver.log.signalledPIDs.contains(old[1].mainPID!))
        #expect(driver.machine.target == Generation(1))
    }

    @Test("a new instance that fails its liveness check during the bake rolls back")
    func unhealthyDuringBakeRollsBack() {
        var driver = MachineDriver()
        driver.startServing()
        driver.nextPolicy = MachineDriver.policy(bake: .seconds(30))
        driver.send(.reloadRequested(ReloadRequestID(1)))
        driver.readyAll(generation: 2)
        let new = driver.records(generation: 2)
        driver.send(.unhealthy(new[0].id, "failed its liveness probe 3 times in a row"))
        #expect(driver.last.finishedReloads.first?.1.kind == .rolledBack)
        #expect(Set(driver.last.signalledPIDs) == Set(new.compactMap(\.mainPID)))
    }

    @Test("without a bake time each old instance stops as soon as its replacement is ready")
    func noBake() {
        var driver = MachineDriver()
        driver.startServing()
        let old = driver.records(generation: 1)
        driver.nextPolicy = MachineDriver.policy()
        driver.send(.reloadRequested(ReloadRequestID(1)))
        driver.readyAll(generation: 2)
        #expect(Set(driver.log.signalledPIDs) == Set(old.compactMap(\.mainPID)))
        #expect(driver.last.finishedReloads.first?.1.succeeded == true)
        #expect(!driver.log.timers.contains { if case .bakeEnded = $0.0 { true } else { false } })
    }
}

@Suite("Rollout state machine: draining generations are bounded")
struct DrainingBoundTests {
    @Test("a reload is refused while max-draining earlier generations still drain, and allowed once one is gone")
    func bound() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 1))
        driver.nextPolicy = MachineDriver.policy(instances: 1, maxDraining: 2)
        for request in 1...2 {
            driver.send(.reloadRequested(ReloadRequestID(request)))
            driver.readyAll()
            let completed = driver.last.finishedReloads.first?.1
            #expect(completed?.kind == .completed)
            #expect(completed?.from == Generation(request))
            #expect(completed?.to == Generation(request + 1))
        }
        #expect(driver.machine.drainingGenerations == [Generation(1), Generation(2)])
        driver.advance(.seconds(10))
        driver.send(.reloadRequested(ReloadRequestID(3)))
        let refused = driver.last.finishedReloads.first?.1
        #expect(refused?.succeeded == false)
        // Nothing was begun: refused, not failed; generation 3 serves on.
        #expect(refused?.kind == .refused)
        #expect(refused?.from == Generation(3))
        #expect(refused?.to == nil)
        #expect(
            refused?.message
                == "reload refused: 2 earlier generations are still draining (generation 1, generation 2) (the last "
                + "drain deadline is in 20 s); wait for them, or raise --max-draining")
        #expect(driver.last.loadsConfiguration == 0)

        driver.exitStopping()
        #expect(driver.machine.drainingGenerations.isEmpty)
        driver.send(.reloadRequested(ReloadRequestID(4)))
        #expect(driver.last.loadsConfiguration == 1)
    }
}
