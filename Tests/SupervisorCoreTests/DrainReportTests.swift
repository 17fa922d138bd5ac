import Testing

@testable import SupervisorCore

@Suite("Rollout state machine: drains, counted and waited for")
struct DrainReportTests {
    /// A driver serving generation 1 with two instances, reloaded to generation 2 (whose instances are ready), so
    /// both old instances drain; `waitForDrain` for reload request 1.
    static func reloadedWithDrains(waitForDrain: Bool) -> MachineDriver {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 2, drainTimeout: .seconds(30)))
        driver.nextPolicy = MachineDriver.policy(instances: 2, drainTimeout: .seconds(30))
        driver.send(.reloadRequested(ReloadRequestID(1), waitForDrain: waitForDrain))
        driver.advance(.milliseconds(200))
        driver.readyAll(generation: 2)
        return driver
    }

    @Test("counted connections of a draining instance are reported once per count, at info only when they change")
    func progressLines() {
        var driver = Self.reloadedWithDrains(waitForDrain: true)
        let draining = driver.records(generation: 1)
        let serving = driver.live(generation: 2)
        #expect(draining.allSatisfy { $0.phase == .stopping })
        let counts = [draining[0].id: 16, draining[1].id: 1, serving[0].id: 40]
        driver.send(.connectionsCounted(counts, progress: true))
        let lines = driver.last.compactMap { action -> (RolloutMachine.LogLevel, String, [ReloadRequestID])? in
            if case .log(let level, let text, let to) = action { (level, text, to) } else { nil }
        }
        #expect(
            lines.map(\.1) == [
                "\(draining[0].label) draining: 16 connections open",
                "\(draining[1].label) draining: 1 connection open",
            ])
        #expect(lines.allSatisfy { $0.0 == .info && $0.2 == [ReloadRequestID(1)] })
        #expect(driver.machine.record(serving[0].id)?.openConnections == 40)

        driver.send(.connectionsCounted([draining[0].id: 16, draining[1].id: 0], progress: true))
        let levels = driver.last.compactMap { if case .log(let level, _, _) = $0 { level } else { nil } }
        #expect(levels == [.debug, .info], "unchanged counts go to the waiting caller but not into the log")

        driver.send(.connectionsCounted([draining[0].id: 3], progress: false))
        #expect(driver.last.messages.isEmpty, "a count without progress only updates the record")
        #expect(driver.machine.record(draining[0].id)?.openConnections == 3)
    }

    @Test("at the drain timeout the SIGKILL message says how many connections it cuts")
    func drainTimeoutNamesConnections() {
        var driver = Self.reloadedWithDrains(waitForDrain: false)
        let draining = driver.records(generation: 1)
        driver.send(.connectionsCounted([draining[0].id: 16, draining[1].id: 0], progress: false))
        driver.advance(.seconds(30))
        driver.send(.timerFired(.drainTimeout(draining[0].id)))
        #expect(
            driver.last.messages == [
                "\(draining[0].label) has 16 connections still open after 30 s of SIGTERM: SIGKILL"
            ])
        driver.send(.timerFired(.drainTimeout(draining[1].id)))
        #expect(
            driver.last.messages == [
                "\(draining[1].label) did not exit within 30 s of SIGTERM, with no connection open: SIGKILL"
            ])
        #expect(driver.last.killedPIDs == [draining[1].pid!])
    }

    @Test("a caller waiting for drains gets its result once every old instance has exited, with their figures")
    func waitForDrain() throws {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 2))
        // Both callers wait for the same configuration, so one rollout covers them.
        driver.send(.reloadRequested(ReloadRequestID(1), waitForDrain: true))
        driver.send(.reloadRequested(ReloadRequestID(2)))
        driver.send(.configurationLoaded(MachineDriver.policy(instances: 2)))
        driver.advance(.milliseconds(250))
        driver.readyAll(generation: 2)
        let completion = driver.log.finishedReloads.filter { !$0.0.isEmpty }
        #expect(completion.count == 1)
        #expect(completion.first?.0 == [ReloadRequestID(2)], "the caller that did not ask to wait is answered at once")
        #expect(
            driver.log.messages.contains { $0.hasSuffix("waiting for 2 instances of earlier generations to drain") })

        let old = driver.records(generation: 1)
        driver.advance(.milliseconds(400))
        driver.send(.connectionsCounted([old[0].id: 2, old[1].id: 0], progress: false))
        driver.send(.exited(pid: old[0].mainPID!, .exited(code: 0)))
        #expect(driver.last.finishedReloads.isEmpty, "one old instance still drains")
        #expect(driver.last.messages == ["\(old[0].label) drained in 0.4 s (exited with status 0)"])
        driver.advance(.milliseconds(100))
        driver.send(.exited(pid: old[1].mainPID!, .signaled(.terminate, coreDumped: false)))
        #expect(driver.last.messages.first == "\(old[1].label) drained in 0.5 s (ended by SIGTERM, its stop signal)")
        let (waiters, result) = try #require(driver.last.finishedReloads.first)
        #expect(waiters == [ReloadRequestID(1)])
        #expect(result.kind == .completed)
        #expect(result.message.hasSuffix("2 earlier instances drained, the slowest in 0.5 s"))
        #expect(result.figures.ready.count == 2)
        #expect(result.figures.ready.allSatisfy { $0.seconds == 0.25 })
        #expect(result.figures.drains.map(\.seconds) == [0.4, 0.5])
        #expect(result.figures.drains.map(\.openConnections) == [2, 0])
        #expect(result.figures.drains.allSatisfy { !$0.killed && $0.generation == 1 })
    }

    @Test("a waiting caller learns of an instance killed at the drain timeout")
    func waitForDrainReportsKills() throws {
        var driver = Self.reloadedWithDrains(waitForDrain: true)
        let old = driver.records(generation: 1)
        driver.send(.exited(pid: old[1].mainPID!, .exited(code: 0)))
        driver.send(.connectionsCounted([old[0].id: 7], progress: false))
        driver.advance(.seconds(30))
        driver.send(.timerFired(.drainTimeout(old[0].id)))
        #expect(driver.last.finishedReloads.isEmpty)
        driver.send(.exited(pid: old[0].mainPID!, .signaled(.kill, coreDumped: false)))
        let (_, result) = try #require(driver.last.finishedReloads.first)
        #expect(
            result.message.hasSuffix("1 of 2 earlier instances got SIGKILL at the drain timeout, holding 7 connections")
        )
        #expect(result.figures.drains.filter(\.killed).map(\.openConnections) == [7])
    }

    @Test("a rolled-back reload answers a waiting caller at once: nothing old was stopped")
    func rollbackDoesNotWait() throws {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 2))
        driver.nextPolicy = MachineDriver.policy(instances: 2)
        driver.send(.reloadRequested(ReloadRequestID(1), waitForDrain: true))
        let failing = try #require(driver.live(generation: 2).first)
        driver.send(.exited(pid: failing.mainPID!, .exited(code: 2)))
        let (waiters, result) = try #require(driver.last.finishedReloads.first)
        #expect(waiters == [ReloadRequestID(1)])
        #expect(result.kind == .rolledBack)
    }

    @Test("a reload refused because earlier generations still drain says how many connections keep them")
    func refusalNamesHeldConnections() {
        var driver = MachineDriver()
        driver.startServing(MachineDriver.policy(instances: 1))
        driver.nextPolicy = MachineDriver.policy(instances: 1, maxDraining: 2)
        for request in 1...2 {
            driver.send(.reloadRequested(ReloadRequestID(request)))
            driver.readyAll()
        }
        let draining = driver.machine.records.filter { !$0.isLive }
        #expect(draining.count == 2)
        driver.send(.connectionsCounted([draining[0].id: 16, draining[1].id: 32], progress: true))
        driver.send(.reloadRequested(ReloadRequestID(3)))
        let refused = driver.last.finishedReloads.first?.1.message ?? ""
        #expect(
            refused.hasPrefix(
                "reload refused: 2 earlier generations are still draining (generation 1, generation 2, holding 48 "
                    + "connections)"
            ))
    }
}
