import Foundation
import Testing

@testable import SupervisorCore

/// The state an in-place upgrade hands over: it reads back as written, a format newer than the reader is refused
/// with the reason, and a rollout machine read back decides exactly as the one that wrote it.
@Suite("Handover state of an in-place upgrade")
struct HandoverStateTests {
    /// A machine that has rolled out generation 2 while generation 1 still drains, with a reload caller waiting
    /// for the drain.
    static func drainingMachine() -> MachineDriver {
        var driver = MachineDriver()
        driver.startServing()
        driver.nextPolicy = MachineDriver.policy(drainTimeout: .seconds(5))
        driver.send(.reloadRequested(ReloadRequestID(1), waitForDrain: true))
        driver.readyAll(generation: 2)
        driver.send(.statusText(driver.machine.records[0].id, "draining"))
        return driver
    }

    static func state(machine: RolloutMachine, format: Int = HandoverState.currentFormat) -> HandoverState {
        HandoverState(
            format: format, version: "0.1.0", arguments: ["supervisor", "run", "--", "/bin/server"],
            environment: ["PATH=/usr/bin"], executablePath: "/usr/bin/supervisor", machine: machine,
            files: [
                HandoverState.GenerationFile(generation: nil, bytes: Array("instances = 2\n".utf8)),
                HandoverState.GenerationFile(
                    generation: Generation(2), bytes: nil,
                    release: ReleaseIdentity(
                        label: "v2", executable: "/srv/app/releases/v2/bin/server", executableDigest: "sha256:00")),
            ],
            instances: [
                HandoverState.Instance(
                    id: InstanceID(3), pid: 4312, slot: Slot(0), generation: Generation(2), adminPort: 9100,
                    environment: ["SUPERVISOR_INSTANCE=0"], listenerInodes: [77], notifyPath: "/run/x/3.sock",
                    notifyDescriptor: 12, outputDescriptor: 13, lastLines: ["listening"],
                    partialLine: Array("half a li".utf8))
            ],
            retainedLines: [InstanceTable.Retained(id: InstanceID(1), lines: ["bye"])],
            processes: [HandoverState.HeldProcess(pid: 4312, descriptor: 14)],
            listeners: [
                HandoverState.Listener(
                    key: .slot(Slot(0), ListenAddress(host: "127.0.0.1", port: 8080)), descriptor: 15)
            ],
            activated: [], timers: [HandoverState.Timer(timer: .drainTimeout(InstanceID(1)), deadline: .now)],
            probes: [HandoverState.Probe(id: InstanceID(3), lastWatchdog: .now, livenessFailures: 1, summary: "ok")],
            descriptors: HandoverState.Descriptors(
                control: 5, health: nil, lock: 6, signalRead: 7, signalWrite: 8, lifeline: 9, lifelinePID: 4000,
                previousExecutable: 10),
            lastStatusLine: "2/2 ready", warnedAboutMigration: false,
            metrics: SupervisorMetrics.Tallies(reloads: ["completed": 3], restarts: 1),
            upgrades: [UpgradeRecord(fromVersion: "0.0.9", toVersion: "0.1.0", finishedAt: 1, seconds: 0.2)],
            upgradeCount: 1,
            upgrade: HandoverState.Upgrade(id: 42, fromVersion: "0.1.0", binary: "/usr/bin/supervisor", startedAt: .now)
        )
    }

    @Test("a state reads back as it was written, and names every descriptor to keep")
    func roundTrip() throws {
        let state = Self.state(machine: Self.drainingMachine().machine)
        let read = try HandoverState.decode(try state.encoded())
        // Field by field: dictionaries keyed by other than strings encode in their (per-process) order.
        #expect(read.machine.records == state.machine.records)
        #expect(read.machine.lastResult == state.machine.lastResult)
        #expect(read.machine.restartCounts == state.machine.restartCounts)
        #expect(read.machine.policy(of: Generation(2)) == state.machine.policy(of: Generation(2)))
        #expect(read.timers.map(\.timer) == state.timers.map(\.timer))
        #expect(read.timers.map(\.deadline) == state.timers.map(\.deadline))
        #expect(read.listeners.map(\.key) == state.listeners.map(\.key))
        #expect(read.upgrades == state.upgrades)
        #expect(read.upgrade.id == 42)
        #expect(read.instances[0].partialLine == Array("half a li".utf8))
        #expect(read.files.count == 2 && read.files[1].bytes == nil)
        #expect(read.files[0].release == nil)
        #expect(read.files[1].release == state.files[1].release)
        #expect(read.metrics.reloads["completed"] == 3)
        #expect(Set(read.keptDescriptors) == [5, 6, 7, 8, 9, 10, 12, 13, 14, 15])
    }

    @Test("a state written before releases were handed over reads with none")
    func stateWithoutReleases() throws {
        let bytes = try Self.state(machine: Self.drainingMachine().machine).encoded()
        var object = try #require(try JSONSerialization.jsonObject(with: Data(bytes)) as? [String: Any])
        let files = try #require(object["files"] as? [[String: Any]])
        #expect(files.contains { $0["release"] != nil })
        object["files"] = files.map { $0.filter { $0.key != "release" } }
        let older = try JSONSerialization.data(withJSONObject: object)
        let read = try HandoverState.decode(Array(older))
        #expect(read.files.count == 2)
        #expect(read.files.allSatisfy { $0.release == nil })
    }

    @Test("a format newer than the reader knows is refused as a downgrade, before anything is read")
    func newerFormatIsRefused() throws {
        let bytes = try Self.state(machine: RolloutMachine(), format: HandoverState.currentFormat + 1).encoded()
        #expect {
            try HandoverState.decode(bytes)
        } throws: { error in
            let text = "\(error)"
            return text.contains("hands over its state in format \(HandoverState.currentFormat + 1)")
                && text.contains("reads formats 1 to \(HandoverState.currentFormat)") && text.contains("older")
        }
        #expect(throws: HandoverError.self) { try HandoverState.decode(Array("{\"format\": 1}".utf8)) }
        #expect(throws: HandoverError.self) { try HandoverState.decode(Array("not json".utf8)) }
        #expect(throws: HandoverError.self) { try HandoverState.decode(Array("{\"format\": 0}".utf8)) }
    }

    @Test("a machine handed over in the middle of a drain decides the rest exactly as the one that wrote it")
    func machineContinuesAfterHandover() throws {
        var original = Self.drainingMachine()
        let data = try JSONEncoder().encode(original.machine)
        var resumed = original
        resumed.machine = try JSONDecoder().decode(RolloutMachine.self, from: data)
        #expect(resumed.machine.records == original.machine.records)
        #expect(resumed.machine.lastResult == original.machine.lastResult)
        let stopping = original.machine.records.filter { $0.phase == .stopping }
        #expect(stopping.count == 2)
        let events: [RolloutMachine.Event] = [
            .exited(pid: stopping[0].pid!, .exited(code: 0)),
            .timerFired(.drainTimeout(stopping[1].id)),
            .exited(pid: stopping[1].pid!, .signaled(.kill, coreDumped: false)),
            .reloadRequested(ReloadRequestID(2)),
        ]
        for event in events {
            original.advance(.seconds(5))
            resumed.advance(.seconds(5))
            #expect(resumed.send(event) == original.send(event), "\(event)")
        }
        #expect(resumed.machine.records == original.machine.records)
        #expect(resumed.log.contains { if case .finishReload([ReloadRequestID(1)], _) = $0 { true } else { false } })
    }
}
