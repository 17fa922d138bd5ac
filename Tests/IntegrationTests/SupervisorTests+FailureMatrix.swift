import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// The failure matrix: what the supervisor does when a release or an instance misbehaves, and when reloads and stops
/// arrive at awkward moments. Cases where serving could be hurt run under load in a private network namespace with
/// `tcp_migrate_req=1` (root only) and count every failed request; a case that makes loss unavoidable says so.
extension SupervisorTests {
    // MARK: - Helpers

    /// Writes a config for two instances of `command` (by default the release demo server on 127.0.0.1:`port`).
    static func writeMatrixConfig(
        _ path: String,
        port: Int,
        command: [String]? = nil,
        serverArguments: [String] = [],
        extraTOML: String = ""
    ) throws {
        let words = command ?? [SupervisorHarness.releaseDemoServerPath, "--port", String(port)] + serverArguments
        let text = """
            instances = 2
            listen = ["127.0.0.1:\(port)"]
            command = [\(words.map { "\"\($0)\"" }.joined(separator: ", "))]
            \(extraTOML)
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    /// A config-driven supervisor of the release demo server on 127.0.0.1:8080 in a private network with
    /// `tcp_migrate_req=1`, ready, with wrk-like load (3 keep-alive and 3 new-connection clients) running.
    static func startUnderLoad(
        extraTOML: String = ""
    ) throws -> (supervisor: SupervisorHarness, config: String, load: LoadGenerator, network: PrivateNetwork) {
        let network = try #require(PrivateNetwork.make(tcpMigrateRequests: true))
        let directory = try TemporaryDirectory.make()
        let config = "\(directory)/app.toml"
        try writeMatrixConfig(config, port: 8080, extraTOML: extraTOML)
        let supervisor = try SupervisorHarness(["--config", config], directory: directory, network: network)
        try supervisor.waitUntilReady()
        let load = LoadGenerator(port: 8080, network: network)
        load.start(3, .keepAlive)
        load.start(3, .newConnectionPerRequest)
        // Let every client get going before anything happens.
        usleep(300_000)
        return (supervisor, config, load, network)
    }

    /// Stops the load and checks that no request failed and that enough were made to mean something.
    static func expectNoFailedRequest(_ load: LoadGenerator, sourceLocation: SourceLocation = #_sourceLocation) {
        let counts = load.stop()
        let keepAlive = counts[.keepAlive] ?? .init()
        let newConnection = counts[.newConnectionPerRequest] ?? .init()
        #expect(keepAlive.failed == 0, "\(keepAlive)", sourceLocation: sourceLocation)
        #expect(newConnection.failed == 0, "\(newConnection)", sourceLocation: sourceLocation)
        #expect(keepAlive.succeeded > 100 && newConnection.succeeded > 50, sourceLocation: sourceLocation)
    }

    /// Processes, anywhere on the machine, started by the supervisor named `name` or by its instances: they carry
    /// `SUPERVISOR_NAME=name` in their environment, whatever became of their parents and process groups.
    static func processesOfSupervisor(named name: String) -> [Int32] {
        let marker = Array("SUPERVISOR_NAME=\(name)".utf8)
        return FileText.directoryEntries("/proc").compactMap(Int32.init).filter { pid in
            guard isAlive(pid), let environ = try? FileText.readBytes("/proc/\(pid)/environ") else { return false }
            return environ.split(separator: 0).contains { Array($0) == marker }
        }
    }

    /// The pid written in `path` by a test script, once it is there.
    static func pid(writtenTo path: String) -> Int32? {
        var pid: Int32?
        _ = eventually {
            pid = (try? String(contentsOfFile: path, encoding: .utf8)).flatMap {
                Int32($0.trimmingCharacters(in: .whitespacesAndNewlines))
            }
            return pid != nil
        }
        return pid
    }

    // MARK: - Releases that fail

    @Test(
        "matrix, under load: a release that exits at start is rolled back and not one request fails",
        .enabled(if: SupervisorTests.isRoot, "needs root for a network namespace with tcp_migrate_req=1"))
    func matrixExitAtStartUnderLoad() throws {
        let (supervisor, config, load, _) = try Self.startUnderLoad()
        let before = try supervisor.readyPIDs()
        try Self.writeMatrixConfig(config, port: 8080, serverArguments: ["--fail-start"])
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("exited with status 2 before it was ready; rolled back to generation 1"))
        #expect(try supervisor.readyPIDs() == before)
        Self.expectNoFailedRequest(load)
    }

    @Test(
        "matrix, under load: a release that never becomes ready is stopped after ready-timeout and not one request fails",
        .enabled(if: SupervisorTests.isRoot, "needs root for a network namespace with tcp_migrate_req=1"))
    func matrixNeverReadyUnderLoad() throws {
        let timeout = "ready-timeout = \"1s\""
        let (supervisor, config, load, _) = try Self.startUnderLoad(extraTOML: timeout)
        let before = try supervisor.readyPIDs()
        // It binds the port and serves (app mode: the kernel sends it connections too), but never says READY=1: it
        // must be drained when it is stopped, like any instance.
        try Self.writeMatrixConfig(config, port: 8080, serverArguments: ["--never-ready"], extraTOML: timeout)
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("was not ready within 1 s; rolled back to generation 1"))
        #expect(try supervisor.readyPIDs() == before)
        #expect(try eventually { try supervisor.status().instances.count == 2 })
        Self.expectNoFailedRequest(load)
    }

    @Test(
        "matrix: a release that is ready and crashes a second later completes its rollout (no --bake), the old generation is stopped, and the crashed slot is restarted; requests in flight on the crashed process are lost, unavoidably"
    )
    func matrixCrashAfterReady() throws {
        let port = try freePort()
        let directory = try TemporaryDirectory.make()
        // Generation 2 of each slot dies of SIGKILL one second after it started, once; its restart runs for good.
        let script = try writeScript(
            directory, "server.sh",
            """
            if [ "$SUPERVISOR_GENERATION" = 2 ] && [ ! -e \(directory)/crashed-$SUPERVISOR_INSTANCE ]; then
                touch \(directory)/crashed-$SUPERVISOR_INSTANCE
                (sleep 1; kill -KILL $$) &
            fi
            exec \(SupervisorHarness.demoServerPath) --port \(port)
            """)
        let config = "\(directory)/app.toml"
        try Self.writeMatrixConfig(config, port: port, command: [script])
        let supervisor = try SupervisorHarness(["--config", config], directory: directory)
        try supervisor.waitUntilReady()
        let first = try supervisor.readyPIDs()

        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 0, "\(reload.stderr)")
        #expect(reload.stdout.contains("generation 2 is serving: 2/2 instances ready"))
        let crashing = try supervisor.readyPIDs(generation: 2)
        #expect(crashing.count == 2)
        #expect(eventually { first.allSatisfy { !isAlive($0) } })

        // Each slot's instance dies, and the slot gets a new instance of generation 2 (not of generation 1).
        #expect(
            try eventually(timeout: .seconds(10)) {
                let report = try supervisor.status()
                let ready = report.instances.filter { $0.state == "ready" }
                return ready.count == 2 && ready.allSatisfy { $0.generation == 2 && !crashing.contains($0.pid!) }
            })
        let report = try supervisor.status()
        #expect(report.generation == 2)
        #expect(report.instances.allSatisfy { $0.restarts == 1 })
        #expect(report.lastResult?.result == "completed")
        #expect(supervisor.log.contains("was killed by SIGKILL; restarting slot #0 in 0.1 s"))
        #expect(first.allSatisfy { !isAlive($0) })
        let serving = try supervisor.readyPIDs()
        #expect(pidsAnswering(port: port, expected: serving) == serving)
    }

    // MARK: - Instances that do not stop

    @Test(
        "matrix: an instance that hangs in its TERM handler is killed with its process group after the drain timeout, and the rollout does not wait for it"
    )
    func matrixHangsDuringDrain() throws {
        let directory = try TemporaryDirectory.make()
        // On SIGTERM it starts to "drain" and never finishes: the handler sleeps for good, in a child process.
        let script = try writeScript(
            directory, "server.sh",
            """
            trap 'echo draining forever; sleep 100000' TERM
            systemd-notify --ready
            while :; do sleep 0.1; done
            """)
        let supervisor = try SupervisorHarness(
            ["--instances", "2", "--drain-timeout", "2s", "--", script], directory: directory)
        try supervisor.waitUntilReady()
        let old = try supervisor.readyPIDs()

        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 0, "\(reload.stderr)")
        #expect(reload.stdout.contains("generation 2 is serving: 2/2 instances ready"))
        // The rollout is over, and the old instances still drain: they show in status as stopping.
        let draining = try supervisor.status().instances.filter { $0.generation == 1 }
        #expect(Set(draining.compactMap(\.pid)) == old)
        #expect(draining.allSatisfy { $0.state == "stopping" })
        #expect(eventually { supervisor.log.contains("draining forever") })
        let hung = ProcessTable.current().processes.values.filter { old.contains($0.parentPID) }.map(\.pid)
        #expect(!hung.isEmpty)

        #expect(eventually(timeout: .seconds(6)) { (old + hung).allSatisfy { !isAlive($0) } })
        // "did not exit within 2 s of SIGTERM…: SIGKILL", or "has N connections still open after 2 s of SIGTERM:
        // SIGKILL" when it held connections.
        #expect(
            eventually {
                supervisor.log.split(separator: "\n").contains {
                    $0.contains("2 s of SIGTERM") && $0.hasSuffix(": SIGKILL")
                }
            })
        #expect(try eventually { try supervisor.status().instances.count == 2 })
    }

    @Test(
        "matrix: old generations that ignore SIGTERM keep draining through later reloads; status shows them all, their number is not bounded, their time is (drain-timeout)"
    )
    func matrixReloadsWhileOldGenerationsDrain() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(
            port: port, extra: ["--drain-timeout", "5s"], serverArguments: ["--ignore-sigterm"])
        for generation in 2...4 {
            let reload = try supervisor.cli("reload")
            #expect(reload.exitCode == 0, "\(reload.stderr)")
            #expect(reload.stdout.contains("generation \(generation) is serving: 2/2 instances ready"))
        }
        // Nothing caps the number of draining instances: two per reload, until their drain timeout.
        let report = try supervisor.status()
        let stopping = report.instances.filter { $0.state == "stopping" }
        #expect(stopping.count == 6)
        #expect(Set(stopping.map(\.generation)) == [1, 2, 3])
        #expect(report.instances.filter { $0.state == "ready" }.allSatisfy { $0.generation == 4 })
        #expect(stopping.compactMap(\.pid).allSatisfy(isAlive))
        // The drain timeout ends each of them.
        #expect(
            try eventually(timeout: .seconds(10)) {
                try supervisor.status().instances.map(\.generation) == [4, 4]
            })
        #expect(stopping.compactMap(\.pid).allSatisfy { !isAlive($0) })
    }

    // MARK: - Instances that misbehave while serving

    @Test(
        "matrix: an instance that floods stdout does not stall the supervisor: status answers, reload works, memory stays bounded"
    )
    func matrixStdoutFlood() throws {
        let port = try freePort()
        let directory = try TemporaryDirectory.make()
        // Serves HTTP while a child writes long lines into the instance's stdout as fast as it can.
        let line = String(repeating: "flood ", count: 100)
        let script = try writeScript(
            directory, "server.sh",
            """
            yes '\(line)' &
            exec \(SupervisorHarness.demoServerPath) --port \(port)
            """)
        // The supervisor's log goes to /dev/null: at this rate a file would fill the disk. New instances send READY=1
        // within a second, and so must be seen ready within 3 s however fast the others write: reading their output
        // must not keep the notify sockets waiting.
        let supervisor = try SupervisorHarness(
            ["--instances", "2", "--listen", "127.0.0.1:\(port)", "--ready-timeout", "3s", "--", script],
            directory: directory,
            launcher: ["/bin/sh", "-c", "exec \"$@\" 2>/dev/null", "sh"])
        try supervisor.waitUntilReady()
        let supervisorPID = supervisor.process.pid
        let rssAtStart = try #require(Self.residentKilobytes(of: supervisorPID))

        // The flood goes on: the writers are not blocked on a full pipe, so the supervisor keeps reading. (Each
        // shell forks its writer before it execs the server, but on a busy machine the fork may not have exec'd
        // `yes` yet when the server is ready: look again for a moment.)
        func findWriters() -> [Int32] {
            let table = ProcessTable.current()
            return table.processes.values.filter {
                $0.command == "yes" && table.isDescendant($0.pid, of: supervisorPID)
            }
            .map(\.pid)
        }
        var writers = findWriters()
        for _ in 0..<50 where writers.count < 2 {
            usleep(100_000)
            writers = findWriters()
        }
        #expect(writers.count == 2)
        let written = writers.compactMap(Self.bytesWritten(by:)).reduce(0, +)
        usleep(1_000_000)
        #expect(writers.compactMap(Self.bytesWritten(by:)).reduce(0, +) > written + 1_000_000)

        for _ in 0..<5 {
            let status = try supervisor.cli("status", ["--json"], timeout: .seconds(5))
            #expect(status.exitCode == 0)
        }
        let reload = try supervisor.cli("reload", timeout: .seconds(30))
        #expect(reload.exitCode == 0, "\(reload.stdout)\(reload.stderr)")
        #expect(try supervisor.readyPIDs(generation: 2).count == 2)
        let serving = try supervisor.readyPIDs()
        #expect(pidsAnswering(port: port, expected: serving) == serving)
        let rssAtEnd = try #require(Self.residentKilobytes(of: supervisorPID))
        #expect(rssAtEnd < rssAtStart + 30_000, "VmRSS \(rssAtStart) kB at start, \(rssAtEnd) kB after the flood")
    }

    /// `VmRSS` of a process, in kB.
    static func residentKilobytes(of pid: Int32) -> Int? {
        let status = FileText.read("/proc/\(pid)/status") ?? ""
        guard let line = status.split(separator: "\n").first(where: { $0.hasPrefix("VmRSS:") }) else { return nil }
        return Int(line.split(separator: " ", omittingEmptySubsequences: true).dropFirst().first ?? "")
    }

    /// Bytes a process has written (`wchar` of `/proc/PID/io`).
    static func bytesWritten(by pid: Int32) -> Int? {
        let io = FileText.read("/proc/\(pid)/io") ?? ""
        guard let line = io.split(separator: "\n").first(where: { $0.hasPrefix("wchar:") }) else { return nil }
        return Int(line.split(separator: " ").last ?? "")
    }

    @Test(
        "matrix: a release that forks a daemon and exits without MAINPID= counts as exited before ready: it is rolled back and its process group is killed"
    )
    func matrixDaemonizesWithoutMainPID() throws {
        let port = try freePort()
        let directory = try TemporaryDirectory.make()
        let config = "\(directory)/app.toml"
        try Self.writeMatrixConfig(config, port: port)
        let supervisor = try SupervisorHarness(["--config", config], directory: directory)
        try supervisor.waitUntilReady()
        let before = try supervisor.readyPIDs()
        // The classic double fork of a daemon, in shell: a child that serves on, and a parent that exits 0.
        let daemon = try writeScript(
            directory, "daemon.sh",
            """
            sleep 300 &
            echo $! > \(directory)/daemon-$SUPERVISOR_INSTANCE
            exit 0
            """)
        try Self.writeMatrixConfig(config, port: port, command: [daemon])
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("exited with status 0 before it was ready; rolled back to generation 1"))
        #expect(try supervisor.readyPIDs() == before)
        // The children it left behind in its process group went with it. The first instance to exit fails the release,
        // and the other may be stopped before its script forked: at least one left a child.
        let children = [0, 1].compactMap { Self.pid(writtenTo: "\(directory)/daemon-\($0)") }
        #expect(!children.isEmpty)
        #expect(eventually { children.allSatisfy { !isAlive($0) } }, "left behind: \(children.filter(isAlive))")
        #expect(pidsAnswering(port: port, expected: before) == before)
    }

    @Test(
        "matrix: a daemon that leaves the instance's session (setsid) is still stopped with the supervisor")
    func matrixEscapedDaemonIsStopped() throws {
        let directory = try TemporaryDirectory.make()
        let script = try writeScript(
            directory, "server.sh",
            """
            setsid sleep 300 &
            echo $! > \(directory)/escaped
            systemd-notify --ready
            exec sleep 300
            """)
        let supervisor = try SupervisorHarness(["--instances", "1", "--", script], directory: directory)
        try supervisor.waitUntilReady()
        let escaped = try #require(Self.pid(writtenTo: "\(directory)/escaped"))
        defer { kill(escaped, SIGKILL) }
        // Only once it has left the instance's session (setsid) is it out of reach of the group kill.
        #expect(
            eventually {
                ProcessStat.read(pid: escaped).map { $0.session == escaped && $0.command == "sleep" } ?? false
            })
        supervisor.process.send(SIGTERM)
        #expect(supervisor.waitForExit(timeout: .seconds(10)) == .exited(0))
        #expect(eventually { !isAlive(escaped) })
        #expect(Self.processesOfSupervisor(named: supervisor.name).isEmpty)
        #expect(supervisor.log.contains("stopping processes that instances left behind outside their process groups"))
    }

    // MARK: - Reloads and stops at awkward moments

    @Test("matrix: 50 concurrent reloads all exit 0, each caller is told the outcome, and they share a few rollouts")
    func matrixFiftyConcurrentReloads() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port, serverArguments: ["--startup-delay", "500"])
        let callers = try (0..<50).map { _ in
            try ChildProcess(
                ["reload", "--control-socket", supervisor.controlSocket], executable: SupervisorHarness.supervisorPath)
        }
        for caller in callers {
            #expect(caller.waitForExit(timeout: .seconds(60)) == .exited(0), "\(caller.output)")
            let output = caller.output
            #expect(
                output.range(of: #"generation \d+ is serving: 2/2 instances ready"#, options: .regularExpression) != nil
            )
        }
        let report = try supervisor.status()
        let generation = try #require(report.generation)
        // Every rollout takes half a second, and every reload asked for during one joins the next one.
        #expect(generation >= 2 && generation <= 8, "\(generation - 1) rollouts for 50 reloads")
        #expect(report.queuedReloads == 0 && report.rollout == nil)
        #expect(try supervisor.readyPIDs().count == 2)
        #expect(supervisor.log.components(separatedBy: "rolling out generation").count - 1 == generation - 1)
    }

    @Test("matrix: reloads asked for during a rollout wait, are told so, and are served together by one more rollout")
    func matrixReloadDuringRollout() throws {
        let port = try freePort()
        let directory = try TemporaryDirectory.make()
        let config = "\(directory)/app.toml"
        try Self.writeMatrixConfig(
            config, port: port, command: [SupervisorHarness.demoServerPath, "--port", "\(port)"])
        let supervisor = try SupervisorHarness(["--config", config], directory: directory)
        try supervisor.waitUntilReady()
        try Self.writeMatrixConfig(
            config, port: port,
            command: [SupervisorHarness.demoServerPath, "--port", "\(port)", "--startup-delay", "1500"])
        let first = try ChildProcess(
            ["reload", "--control-socket", supervisor.controlSocket], executable: SupervisorHarness.supervisorPath)
        #expect(try eventually { try supervisor.status().rollout?.to == 2 })
        let later = try (0..<2).map { _ in
            try ChildProcess(
                ["reload", "--control-socket", supervisor.controlSocket], executable: SupervisorHarness.supervisorPath)
        }
        #expect(try eventually { try supervisor.status().queuedReloads == 2 })
        #expect(try supervisor.status().rollout?.to == 2)

        #expect(first.waitForExit(timeout: .seconds(30)) == .exited(0), "\(first.output)")
        #expect(first.output.contains("generation 2 is serving"))
        for reload in later {
            #expect(reload.waitForExit(timeout: .seconds(30)) == .exited(0), "\(reload.output)")
            #expect(
                reload.output.contains(
                    "a rollout to generation 2 is in progress; this reload starts a new rollout when it ends"))
            #expect(reload.output.contains("generation 3 is serving: 2/2 instances ready"))
        }
        #expect(try supervisor.status().generation == 3)
    }

    @Test("matrix: a reload during shutdown is refused at once with a clear message and a non-zero exit")
    func matrixReloadDuringShutdown() throws {
        let port = try freePort()
        // The instance ignores SIGTERM, so the stop lasts until the drain timeout (or a second SIGTERM).
        let supervisor = try Self.startDemo(
            instances: 1, port: port, extra: ["--drain-timeout", "30s"], serverArguments: ["--ignore-sigterm"])
        let pids = try supervisor.readyPIDs()
        supervisor.process.send(SIGTERM)
        #expect(try eventually { try supervisor.status().state == "stopping" })
        let reload = try supervisor.cli("reload", timeout: .seconds(5))
        #expect(reload.exitCode != 0)
        #expect(reload.stderr.contains("reload refused: the supervisor is stopping"), "\(reload.stderr)")
        // Nothing new was started for it.
        #expect(try supervisor.status().instances.compactMap(\.pid) == Array(pids))
        supervisor.process.send(SIGTERM)
        #expect(supervisor.waitForExit(timeout: .seconds(10)) == .exited(0))
    }

    @Test(
        "matrix: a reload during the shutdown delay is refused at once and starts no instance; the stop goes on"
    )
    func matrixReloadDuringShutdownDelay() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(instances: 1, port: port, extra: ["--shutdown-delay", "3s"])
        let pids = try supervisor.readyPIDs()
        supervisor.process.send(SIGTERM)
        #expect(try eventually { try supervisor.status().state == "shutting-down" })
        let reload = try supervisor.cli("reload", timeout: .seconds(10))
        #expect(reload.exitCode != 0)
        #expect(reload.stderr.contains("reload refused: the supervisor is stopping"), "\(reload.stderr)")
        #expect(try supervisor.status().instances.compactMap(\.pid) == Array(pids))
        #expect(supervisor.waitForExit(timeout: .seconds(10)) == .exited(0))
    }

    @Test(
        "matrix: SIGTERM during a rollout stops the old and the new generation, tells the reload caller, exits 0, and leaves no process behind"
    )
    func matrixSigtermDuringRollout() throws {
        let port = try freePort()
        let directory = try TemporaryDirectory.make()
        let config = "\(directory)/app.toml"
        let server = [SupervisorHarness.demoServerPath, "--port", "\(port)"]
        try Self.writeMatrixConfig(config, port: port, command: server)
        let supervisor = try SupervisorHarness(["--config", config], directory: directory)
        try supervisor.waitUntilReady()
        try Self.writeMatrixConfig(config, port: port, command: server + ["--startup-delay", "3000"])
        let reload = try ChildProcess(
            ["reload", "--control-socket", supervisor.controlSocket], executable: SupervisorHarness.supervisorPath)
        #expect(
            try eventually {
                try supervisor.status().instances.filter { $0.generation == 2 && $0.pid != nil }.count == 2
            })
        let everything = Self.processesOfSupervisor(named: supervisor.name)
        // Two instances of each generation, and the lifeline.
        #expect(everything.count == 5)

        supervisor.process.send(SIGTERM)
        #expect(supervisor.waitForExit(timeout: .seconds(15)) == .exited(0))
        #expect(reload.waitForExit(timeout: .seconds(5)) == .exited(1))
        #expect(reload.output.contains("rollout to generation 2 interrupted: the supervisor is stopping"))
        #expect(everything.allSatisfy { !isAlive($0) }, "left behind: \(everything.filter(isAlive))")
        #expect(Self.processesOfSupervisor(named: supervisor.name).isEmpty)
    }
}
