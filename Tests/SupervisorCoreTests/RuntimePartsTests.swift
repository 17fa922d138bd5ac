import Dispatch
import Foundation
import SystemdSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// The parts of the runtime that own their state, each alone: pending replies, the instance table, probe tracking.
@Suite("Runtime parts: replies, instances, probes")
struct RuntimePartsTests {
    private static func collect(_ stream: AsyncStream<ControlReply>) async -> [ControlReply] {
        var lines: [ControlReply] = []
        for await reply in stream { lines.append(reply) }
        return lines
    }

    @Test("a reload caller gets its progress, then its result, once; a reload nobody waits on takes a number only")
    func reloadReplies() async throws {
        var replies = PendingReplies()
        let (stream, reply) = AsyncStream.makeStream(of: ControlReply.self)
        let waited = replies.newReload(answering: reply)
        let unattended = replies.newReload()
        #expect(waited != unattended)
        #expect(replies.waitingReloads == 1)
        replies.progress("starting", to: [waited, unattended])
        replies.finish([waited, unattended], with: ControlResult(ok: true, message: "done"))
        replies.finish([waited], with: ControlResult(ok: false, message: "twice"))
        #expect(replies.waitingReloads == 0)
        let lines = await Self.collect(stream)
        #expect(lines == [.progress("starting"), .result(ControlResult(ok: true, message: "done"))])
    }

    @Test("at the end of the run every stop caller gets the result, and a reload caller still waiting is let go")
    func finishAll() async throws {
        var replies = PendingReplies()
        let (firstStop, first) = AsyncStream.makeStream(of: ControlReply.self)
        let (secondStop, second) = AsyncStream.makeStream(of: ControlReply.self)
        let (reloadStream, reload) = AsyncStream.makeStream(of: ControlReply.self)
        replies.addStop(first)
        replies.addStop(second)
        _ = replies.newReload(answering: reload)
        let result = ControlResult(ok: true, message: "stopped")
        replies.finishAll(with: result)
        #expect(replies.waitingStops == 0 && replies.waitingReloads == 0)
        #expect(await Self.collect(firstStop) == [.result(result)])
        #expect(await Self.collect(secondStop) == [.result(result)])
        #expect(await Self.collect(reloadStream).isEmpty)
    }

    /// An instance whose output comes from a pipe this test writes to; the notify socket is real, in `directory`.
    private func instance(
        _ serial: Int,
        in directory: String,
        queue: DispatchQueue,
        writing lines: [String]
    ) throws -> (InstanceID, Supervisor.RunningInstance) {
        var fds: [Int32] = [-1, -1]
        #expect(pipe(&fds) == 0)
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        let text = lines.map { $0 + "\n" }.joined()
        _ = text.withCString { write(fds[1], $0, strlen($0)) }
        close(fds[1])
        let id = InstanceID(serial)
        let output = InstanceOutput(fd: fds[0], label: "[t#\(serial)]", log: StandardErrorLog(), queue: queue)
        let notify = try NotifySocket(path: "\(directory)/\(serial).sock", queue: queue) { _ in }
        var layer = ConfigurationLayer()
        layer[Settings.command] = ["/bin/true"]
        let running = Supervisor.RunningInstance(
            notify: notify, output: output, pid: Int32(50_000 + serial), slot: Slot(serial % 2),
            generation: Generation(1),
            adminPort: 9000 + serial, configuration: try Configuration(layer, defaultInstances: 1), environment: [],
            listenerInodes: [])
        return (id, running)
    }

    @Test("a released instance's socket is removed and its last lines are kept, for the 16 most recent only")
    func instanceTable() throws {
        var template = Array("/tmp/supervisor-table-XXXXXX".utf8CString)
        let made = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) })
        let directory = String(cString: made)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let queue = DispatchQueue(label: "test.output")
        var table = InstanceTable()
        for serial in 1...20 {
            let (id, running) = try instance(serial, in: directory, queue: queue, writing: ["line \(serial)"])
            table.insert(running, for: id)
        }
        #expect(table.count == 20)
        #expect(table.adminPortsInUse == Set(9001...9020))
        for serial in 1...20 {
            let id = InstanceID(serial)
            table[id]?.output.drain()
            #expect(table.lastLines(of: id) == ["line \(serial)"])
            let released = table.release(id)
            let path = try #require(released?.notify.path)
            // The socket is closed and removed by its source's cancel handler, on its queue, soon after.
            let deadline = ContinuousClock.now + .seconds(2)
            while FileManager.default.fileExists(atPath: path) && ContinuousClock.now < deadline { usleep(1000) }
            #expect(!FileManager.default.fileExists(atPath: path), "the notify socket is removed")
            let again = table.release(id)
            #expect(again == nil)
        }
        #expect(table.isEmpty)
        #expect(table.lastLines(of: InstanceID(4)) == nil, "older than the 16 kept")
        #expect(table.lastLines(of: InstanceID(5)) == ["line 5"])
        #expect(table.lastLines(of: InstanceID(20)) == ["line 20"])
    }

    @Test("liveness: failures count in a row up to the threshold; a pass starts the count again")
    func liveness() {
        var probes = ProbeTracker()
        let id = InstanceID(1)
        probes.track(id)
        #expect(probes.livenessAnswered(id, passed: false, detail: "503", threshold: 3) == .failing(failures: 1))
        #expect(probes.livenessAnswered(id, passed: false, detail: "503", threshold: 3) == .failing(failures: 2))
        #expect(probes.livenessAnswered(id, passed: true, detail: "200", threshold: 3) == .healthy)
        #expect(probes[id]?.summary == "liveness: 200")
        for failure in 1...2 {
            #expect(
                probes.livenessAnswered(id, passed: false, detail: "x", threshold: 3) == .failing(failures: failure))
        }
        #expect(probes.livenessAnswered(id, passed: false, detail: "timeout", threshold: 3) == .unhealthy(failures: 3))
        #expect(probes[id]?.summary == "liveness: failed 3 in a row: timeout")
    }

    @Test("a probe in flight is tracked until it answers; an exec probe's process is known until it ends")
    func inFlight() {
        var probes = ProbeTracker()
        let id = InstanceID(2)
        probes.track(id)
        #expect(!probes.isInFlight(id))
        probes.started(id, process: 4242)
        #expect(probes.isInFlight(id))
        #expect(probes.isProbeProcess(4242))
        #expect(probes.processEnded(4242) == id)
        #expect(probes.processEnded(4242) == nil)
        probes.readinessAnswered(id, detail: "exit 0")
        #expect(!probes.isInFlight(id))
        #expect(probes[id]?.summary == "ready probe: exit 0")
        let now = ContinuousClock.now
        probes.watchdogPinged(id, at: now)
        #expect(probes[id]?.lastWatchdog == now)
        probes.forget(id)
        #expect(probes[id] == nil)
    }

    @Test(
        "timers: due events come out in deadline order, an instance's go with it, and the loop is woken when one is due"
    )
    func timers() async throws {
        let (events, sink) = AsyncStream.makeStream(of: Supervisor.Event.self)
        let timers = Supervisor.Timers(waking: sink)
        let gone = InstanceID(7)
        timers.schedule(.check(gone, .liveness), after: .zero)
        timers.schedule(.timer(.readyTimeout(InstanceID(8))), after: .zero)
        timers.schedule(.timer(.drainTimeout(gone)), after: .zero)
        timers.schedule(.stopAfterDelay, after: .seconds(3600))
        timers.removeAll(for: gone)
        let due = timers.takeDue()
        #expect(due.count == 1)
        if case .timer(.readyTimeout(let id)) = due.first {
            #expect(id == InstanceID(8))
        } else {
            Issue.record("\(due)")
        }
        #expect(timers.queue.entries.count == 1, "the hour-long one waits")
        timers.schedule(.probeListening, after: .milliseconds(20))
        var woken = false
        for await event in events {
            if case .timersDue = event { woken = true }
            break
        }
        #expect(woken)
        timers.cancel()
    }

    @Test("configurations: the loaded one becomes its generation's; unused ones go; the target's is current")
    func configurations() throws {
        var layer = ConfigurationLayer()
        layer[Settings.command] = ["/bin/true"]
        let first = try Configuration(layer, defaultInstances: 1)
        layer[Settings.instances] = 3
        let second = try Configuration(layer, defaultInstances: 1)
        var configurations = GenerationConfigurations()
        #expect(configurations.current(target: nil, or: first) == first)
        configurations.loaded = first
        configurations.begin(Generation(1))
        #expect(configurations.loaded == nil)
        configurations.loaded = second
        configurations.begin(Generation(2))
        #expect(configurations[Generation(1)] == first)
        #expect(configurations.current(target: Generation(2), or: first) == second)
        configurations.keep(only: [Generation(2)])
        #expect(configurations[Generation(1)] == nil)
        #expect(configurations.all.count == 1)
    }

    @Test(
        "the drain census: one at a time, only while something drains (also when due), 1 s and 10x its cost apart")
    func drainCensus() {
        var schedule = DrainCensusSchedule()
        #expect(schedule.next(whileDraining: false) == nil)
        #expect(schedule.next(whileDraining: true) == .seconds(1))
        #expect(schedule.next(whileDraining: true) == nil, "one is pending")
        schedule.counted(took: .milliseconds(300))
        #expect(schedule.next(whileDraining: true) == .seconds(3))
        schedule.counted(took: .milliseconds(2))
        #expect(schedule.next(whileDraining: true) == .seconds(1))
        let runs = schedule.due(whileDraining: true)
        #expect(runs, "still draining: it counts")
        #expect(schedule.next(whileDraining: true) == nil, "pending until the count comes back")
        schedule.counted(took: .milliseconds(2))
        #expect(schedule.next(whileDraining: true) == .seconds(1))
        let runsAfterTheDrain = schedule.due(whileDraining: false)
        #expect(!runsAfterTheDrain, "the drain ended before the count came due: none runs")
        #expect(schedule.next(whileDraining: false) == nil)
        #expect(schedule.next(whileDraining: true) == .seconds(1), "nothing pending: the next drain schedules one")
    }
}
