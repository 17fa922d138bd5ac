import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// `supervisor upgrade`: the supervisor executes a new binary in place, keeping its pid, its instances and every
/// descriptor, and refuses (or comes back from) a binary that cannot take over, with the reason.
///
/// The two binaries are the debug and the release build of the supervisor, which tell their versions apart
/// (`0.1.0-debug`, `0.1.0`).
extension SupervisorTests {
    static var releaseSupervisorPath: String { Products.releasePath(of: "supervisor") }

    /// How many descriptors a process holds: the fewest of five looks 50 ms apart, as a control connection just
    /// answered may still be closing.
    static func descriptorCount(of pid: Int32) -> Int {
        (0..<5).map { _ in
            usleep(50_000)
            return (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count) ?? -1
        }.min() ?? -1
    }

    /// A script that executes the supervisor binary with `SUPERVISOR_FAILPOINT` set: a binary that fails where the
    /// failpoint says (see `Failpoint`).
    static func failingBinary(_ directory: String, _ failpoint: Failpoint) throws -> String {
        try writeScript(
            directory, "supervisor-\(failpoint.rawValue)",
            "\(Failpoint.variable)=\(failpoint.rawValue) exec \(SupervisorHarness.supervisorPath) \"$@\"\n")
    }

    /// The instances' pids by slot, and the generation.
    static func instances(of supervisor: SupervisorHarness) throws -> (pids: [Int: Int32], generation: Int?) {
        let report = try supervisor.status()
        var pids: [Int: Int32] = [:]
        for instance in report.instances { pids[instance.slot] = instance.pid }
        return (pids, report.generation)
    }

    @Test(
        "20 upgrades back to back under load, alternating two builds: no request lost, same pids and generation, descriptors flat",
        .enabled(if: SupervisorTests.isRoot, "needs root for a network namespace with tcp_migrate_req=1"),
        arguments: ["app", "reuseport", "shared"])
    func upgradesUnderLoad(mode: String) throws {
        let network = try #require(PrivateNetwork.make(tcpMigrateRequests: false))
        let supervisor = try Self.startInMode(mode, port: 8080, network: network, extra: ["--kernel-migrate", "auto"])
        let before = try Self.instances(of: supervisor)
        let load = LoadGenerator(port: 8080, network: network)
        load.start(3, .keepAlive)
        load.start(3, .newConnectionPerRequest)
        usleep(300_000)
        let descriptorsAtStart = Self.descriptorCount(of: supervisor.process.pid)
        var descriptors: [String: [Int]] = [:]
        for index in 0..<20 {
            let (binary, version) =
                index % 2 == 0
                ? (Self.releaseSupervisorPath, "0.1.0") : (SupervisorHarness.supervisorPath, "0.1.0-debug")
            let from = index % 2 == 0 ? "0.1.0-debug" : "0.1.0"
            let upgrade = try supervisor.cli("upgrade", ["--binary", binary], timeout: .seconds(30))
            let note = "upgrade \(index + 1): \(upgrade.stdout)\(upgrade.stderr)"
            #expect(upgrade.exitCode == 0, "\(note)\nthe supervisor's log:\n\(supervisor.log.suffix(4000))")
            #expect(upgrade.stdout.contains("upgraded \(from) -> \(version)"), "\(note)")
            #expect(upgrade.stdout.contains("pid \(supervisor.process.pid) kept"), "\(note)")
            // Read what the supervisor told systemd (the test plays it): an unread receive queue would block its
            // sd_notify, and the socket that waits would count among its descriptors.
            #expect(
                supervisor.waitForSystemd("STATUS=upgraded \(from) -> \(version)", timeout: .seconds(5)) != nil,
                "\(note)")
            descriptors[version, default: []].append(Self.descriptorCount(of: supervisor.process.pid))
            if upgrade.exitCode != 0 { break }
        }
        _ = Self.stopExpectingNoFailures(load, mode)

        let after = try Self.instances(of: supervisor)
        #expect(after.pids == before.pids, "the instances are the same processes")
        #expect(after.generation == before.generation)
        #expect(isAlive(supervisor.process.pid))
        let report = try supervisor.status()
        #expect(report.supervisorPID == supervisor.process.pid)
        #expect(report.version == "0.1.0-debug")
        #expect(report.lastUpgrade?.fromVersion == "0.1.0")
        #expect(report.upgradeCount == 20)
        // The same descriptors after each upgrade, and no more than the first program held (which may also hold
        // what its parent leaked to it: the exec closes that).
        let distinct = Set(descriptors.values.joined())
        #expect(distinct.count == 1, "descriptors after each upgrade: \(descriptors)")
        #expect(
            (distinct.max() ?? .max) <= descriptorsAtStart, "at start \(descriptorsAtStart), after: \(descriptors)")

        let reload = try supervisor.cli("reload", timeout: .seconds(20))
        #expect(reload.exitCode == 0, "a reload after the upgrades: \(reload.stdout)\(reload.stderr)")
        #expect(try supervisor.status().generation == (before.generation ?? 0) + 1)
    }

    @Test("100 upgrades in a row, alternating two builds: the supervisor's descriptors stay the same")
    func hundredUpgradesLeakNothing() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        let before = try Self.instances(of: supervisor)
        var counts: [Int] = []
        for index in 0..<100 {
            let (binary, from, version) =
                index % 2 == 0
                ? (Self.releaseSupervisorPath, "0.1.0-debug", "0.1.0")
                : (SupervisorHarness.supervisorPath, "0.1.0", "0.1.0-debug")
            let upgrade = try supervisor.cli("upgrade", ["--binary", binary], timeout: .seconds(30))
            #expect(upgrade.exitCode == 0, "upgrade \(index + 1): \(upgrade.stdout)\(upgrade.stderr)")
            if upgrade.exitCode != 0 { break }
            // Read what the supervisor told systemd (the test plays it), or its sd_notify would block.
            #expect(supervisor.waitForSystemd("STATUS=upgraded \(from) -> \(version)", timeout: .seconds(5)) != nil)
            // After each pair, back on the build it started with.
            if index % 2 == 1 { counts.append(Self.descriptorCount(of: supervisor.process.pid)) }
        }
        #expect(counts.count == 50)
        #expect(Set(counts).count == 1, "descriptors after each pair of upgrades: \(counts)")
        #expect(try Self.instances(of: supervisor).pids == before.pids)
        #expect(try supervisor.status().upgradeCount == 100)
    }

    @Test(
        "an upgrade replaces the lifeline with one of the new binary; a supervisor killed after it still has its instances stopped"
    )
    func upgradeReplacesLifeline() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        let pids = try supervisor.readyPIDs()
        let previous = try #require(Self.lifelinePID(of: supervisor))
        let upgrade = try supervisor.cli("upgrade", ["--binary", Self.releaseSupervisorPath], timeout: .seconds(30))
        #expect(upgrade.exitCode == 0, "\(upgrade.stdout)\(upgrade.stderr)")
        #expect(supervisor.waitForSystemd("STATUS=upgraded 0.1.0-debug -> 0.1.0", timeout: .seconds(5)) != nil)
        // The previous one exits once told to forget every group, and is reaped.
        #expect(eventually { !isAlive(previous) }, "\(supervisor.log)")
        let current = try #require(Self.lifelinePID(of: supervisor))
        #expect(current != previous)
        let binary = try FileManager.default.destinationOfSymbolicLink(atPath: "/proc/\(current)/exe")
        let supervisorBinary = try FileManager.default.destinationOfSymbolicLink(
            atPath: "/proc/\(supervisor.process.pid)/exe")
        #expect(binary == supervisorBinary, "the lifeline runs \(binary), the supervisor \(supervisorBinary)")
        #expect(pids.allSatisfy(isAlive), "the instances outlived the previous lifeline")
        supervisor.process.send(SIGKILL)
        #expect(supervisor.waitForExit(timeout: .seconds(5)) == .signaled(SIGKILL))
        #expect(eventually(timeout: .seconds(10)) { pids.allSatisfy { !isAlive($0) } && !isAlive(current) })
    }

    @Test("an upgrade keeps a drain going to its deadline, a STATUS= sent meanwhile, and systemd's STATUS= current")
    func upgradeKeepsDrainsAndNotify() throws {
        let directory = try TemporaryDirectory.make()
        // Sends STATUS= once the test creates the file `go`, from a child of the instance (a descendant may).
        let server = try writeScript(
            directory, "server",
            """
            trap '' TERM
            systemd-notify --ready
            while [ ! -e \(directory)/go.$SUPERVISOR_GENERATION ]; do sleep 0.02; done
            systemd-notify "STATUS=sent during the upgrade"
            while :; do sleep 1; done

            """)
        let supervisor = try SupervisorHarness(
            ["--instances", "1", "--drain-timeout", "3s", "--", server], directory: directory)
        try supervisor.waitUntilReady()
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 0, "\(reload.stderr)")
        let stoppedAt = ContinuousClock.now
        let draining = try #require(try supervisor.status().instances.first { $0.state == "stopping" }?.pid)

        let upgrade = try ChildProcess.spawnCLI(supervisor, ["upgrade"])
        #expect(eventually(timeout: .seconds(20)) { supervisor.log.contains("read the state; executing it in place") })
        _ = FileManager.default.createFile(atPath: "\(directory)/go.2", contents: nil)
        #expect(upgrade.waitForExit(timeout: .seconds(30)) == .exited(0), "\(upgrade.output)")
        #expect(upgrade.output.contains("upgraded 0.1.0-debug -> 0.1.0-debug"), "\(upgrade.output)")

        #expect(
            eventually(timeout: .seconds(5)) {
                (try? supervisor.status().instances.first { $0.generation == 2 }?.status) == "sent during the upgrade"
            }, "the STATUS= reached the supervisor: \(supervisor.log.suffix(3000))")
        // The drain still ends at its deadline: SIGKILL after 3 s, as before the upgrade.
        #expect(eventually(timeout: .seconds(10)) { !isAlive(draining) })
        let drained = ContinuousClock.now - stoppedAt
        #expect(drained >= .milliseconds(2500), "the drain ended after \(drained)")
        #expect(supervisor.log.contains("did not exit within"), "\(supervisor.log.suffix(3000))")
        #expect(supervisor.waitForSystemd("STATUS=upgraded 0.1.0-debug -> 0.1.0-debug", timeout: .seconds(5)) != nil)
        #expect(try supervisor.status().instances.count == 1)
    }

    @Test("an upgrade that cannot happen is refused with the reason, and the instances never notice")
    func upgradeRefusals() throws {
        let directory = try TemporaryDirectory.make()
        let supervisor = try SupervisorHarness(
            ["--instances", "2", "--", SupervisorHarness.demoServerPath, "--port", "0"], directory: directory)
        try supervisor.waitUntilReady()
        let before = try Self.instances(of: supervisor)
        let notExecutable = "\(directory)/not-executable"
        try "#!/bin/sh\n".write(toFile: notExecutable, atomically: true, encoding: .utf8)
        chmod(notExecutable, 0o644)
        let exitsAtStart = try writeScript(
            directory, "exits-at-start", "echo 'cannot start: no such thing' >&2\nexit 3\n")
        let cases: [(binary: String, reason: String)] = [
            ("\(directory)/missing", "\(directory)/missing cannot be used: No such file or directory"),
            (notExecutable, "is not executable"),
            (exitsAtStart, "exited with status 3 while reading the state: cannot start: no such thing"),
            (try Self.failingBinary(directory, .crashReadingState), "while reading the state"),
            (
                try Self.failingBinary(directory, .noFormat),
                "refused the state: the running supervisor (0.1.0-debug) hands over its state in format 1"
            ),
        ]
        for (binary, reason) in cases {
            let upgrade = try supervisor.cli("upgrade", ["--binary", binary])
            #expect(upgrade.exitCode == 1, "\(binary): \(upgrade.stdout)")
            #expect(upgrade.stderr.contains(reason), "\(binary): \(upgrade.stderr)")
            #expect(upgrade.stderr.contains("nothing changed") || upgrade.stderr.contains("upgrade refused"))
        }
        let crash = try supervisor.cli("upgrade", ["--binary", try Self.failingBinary(directory, .crashReadingState)])
        #expect(crash.stderr.contains("killed by SIG") || crash.stderr.contains("signal"), "\(crash.stderr)")

        // A binary that passes its check but cannot take over after the exec: the previous one comes back.
        let upgrade = try supervisor.cli("upgrade", ["--binary", try Self.failingBinary(directory, .resume)])
        #expect(upgrade.exitCode == 1, "\(upgrade.stdout)")
        #expect(upgrade.stderr.contains("could not take over (failpoint 'resume' is set"), "\(upgrade.stderr)")
        #expect(upgrade.stderr.contains("runs again from the same state"), "\(upgrade.stderr)")
        let report = try supervisor.status()
        #expect(report.supervisorPID == supervisor.process.pid)
        #expect(report.lastUpgrade?.failure?.contains("failpoint 'resume'") == true)

        #expect(try Self.instances(of: supervisor).pids == before.pids)
        #expect(isAlive(supervisor.process.pid))
        // Still the same supervisor in every respect: an upgrade and a reload work.
        let good = try supervisor.cli("upgrade")
        #expect(good.exitCode == 0, "\(good.stdout)\(good.stderr)")
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(try supervisor.status().generation == 2)
    }

    @Test(
        "upgrade --json prints one object with the outcome and both versions; what each generation runs survives the upgrade"
    )
    func upgradeJSON() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port, extra: ["--release", "v7"])
        #expect(eventually { (try? supervisor.status().generations?.first?.executableDigest) != nil })
        let before = try #require(try supervisor.status().generations)
        #expect(before.map(\.release) == ["v7"])
        let upgrade = try supervisor.cli("upgrade", ["--json", "--binary", Self.releaseSupervisorPath])
        #expect(upgrade.exitCode == 0, "\(upgrade.stdout)\(upgrade.stderr)")
        let lines = upgrade.stdout.split(separator: "\n")
        #expect(lines.count == 1, "\(upgrade.stdout)")
        let outcome = try JSONSerialization.jsonObject(with: Data((lines.first ?? "").utf8)) as? [String: Any]
        #expect(outcome?["result"] as? String == "completed")
        #expect(outcome?["fromVersion"] as? String == SupervisorVersion.current)
        #expect(outcome?["toVersion"] as? String == "0.1.0")
        #expect((outcome?["message"] as? String)?.hasPrefix("upgraded ") == true)
        #expect(try supervisor.status().generations == before)

        let refused = try supervisor.cli("upgrade", ["--json", "--binary", "/nonexistent/supervisor"])
        #expect(refused.exitCode == 1)
        let refusal = try JSONSerialization.jsonObject(with: Data(refused.stdout.utf8)) as? [String: Any]
        #expect(refusal?["result"] as? String == "refused", "\(refused.stdout)")
    }

    @Test("an upgrade during a rollout is refused with the reason; it works once the rollout ended")
    func upgradeDuringRollout() throws {
        let directory = try TemporaryDirectory.make()
        let slow = try writeScript(directory, "slow", "sleep 2\nexec \(SupervisorHarness.demoServerPath) --port 0\n")
        let supervisor = try SupervisorHarness(["--instances", "1", "--", slow], directory: directory)
        try supervisor.waitUntilReady(timeout: .seconds(30))
        let reload = try ChildProcess.spawnCLI(supervisor, ["reload"])
        #expect(eventually { (try? supervisor.status().rollout) != nil })
        let upgrade = try supervisor.cli("upgrade")
        #expect(upgrade.exitCode == 1)
        #expect(
            upgrade.stderr.contains("upgrade refused: a rollout to generation 2 is in progress"), "\(upgrade.stderr)")
        #expect(reload.waitForExit(timeout: .seconds(30)) == .exited(0), "\(reload.output)")
        #expect(try supervisor.cli("upgrade").exitCode == 0)
    }
}

extension ChildProcess {
    /// `supervisor COMMAND --name … --control-socket …` of `supervisor`, running in the background.
    static func spawnCLI(_ supervisor: SupervisorHarness, _ arguments: [String]) throws -> ChildProcess {
        try ChildProcess(
            [arguments[0], "--name", supervisor.name, "--control-socket", supervisor.controlSocket]
                + arguments.dropFirst(), executable: SupervisorHarness.supervisorPath)
    }
}
