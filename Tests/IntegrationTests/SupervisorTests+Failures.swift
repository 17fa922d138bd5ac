import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

extension SupervisorTests {
    /// A supervisor driven by a config file, so a test can change the command and reload.
    static func startFromConfig(port: Int, extraTOML: String = "", serverArguments: [String] = []) throws -> (
        SupervisorHarness, String
    ) {
        let directory = try TemporaryDirectory.make()
        let config = "\(directory)/app.toml"
        try writeConfig(config, port: port, extraTOML: extraTOML, serverArguments: serverArguments)
        let supervisor = try SupervisorHarness(["--config", config], directory: directory)
        try supervisor.waitUntilReady()
        return (supervisor, config)
    }

    static func writeConfig(_ path: String, port: Int, extraTOML: String = "", serverArguments: [String]) throws {
        let command = ([SupervisorHarness.demoServerPath, "--port", String(port)] + serverArguments)
            .map { "\"\($0)\"" }.joined(separator: ", ")
        let text = """
            instances = 2
            listen = ["127.0.0.1:\(port)"]
            command = [\(command)]
            \(extraTOML)
            """
        try text.write(toFile: path, atomically: true, encoding: .utf8)
    }

    @Test("a new release that exits at start is rolled back; the old pids keep serving, and reload says why")
    func rollbackOnFailStart() throws {
        let port = try freePort()
        let (supervisor, config) = try Self.startFromConfig(port: port)
        let before = try supervisor.readyPIDs()
        try Self.writeConfig(config, port: port, serverArguments: ["--fail-start"])

        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("exited with status 2 before it was ready; rolled back to generation 1"))
        #expect(reload.stderr.contains("failing at start as asked (--fail-start)"))

        let report = try supervisor.status()
        #expect(report.generation == 1)
        #expect(try supervisor.readyPIDs() == before)
        #expect(report.lastResult?.succeeded == false)
        #expect(pidsAnswering(port: port, expected: before) == before)
    }

    @Test("a new release that never becomes ready is rolled back after the ready timeout; the old pids keep serving")
    func rollbackOnNeverReady() throws {
        let port = try freePort()
        let (supervisor, config) = try Self.startFromConfig(port: port, extraTOML: "ready-timeout = \"1s\"")
        let before = try supervisor.readyPIDs()
        try Self.writeConfig(
            config, port: port, extraTOML: "ready-timeout = \"1s\"", serverArguments: ["--never-ready"])

        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("was not ready within 1 s; rolled back to generation 1"))
        #expect(try supervisor.readyPIDs() == before)
        #expect(pidsAnswering(port: port, expected: before) == before)
        // The never-ready instances are gone, not left running.
        #expect(try eventually { try supervisor.status().instances.count == 2 })
    }

    @Test("a reload whose configuration is invalid fails at once and changes nothing")
    func reloadWithBrokenConfig() throws {
        let port = try freePort()
        let (supervisor, config) = try Self.startFromConfig(port: port)
        let before = try supervisor.readyPIDs()
        try "instances = 2\ncommand = [\"/nonexistent/server\"]\n".write(
            toFile: config, atomically: true, encoding: .utf8)
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("reload failed: command not found: /nonexistent/server"))
        #expect(try supervisor.readyPIDs() == before)
    }

    @Test("an instance that ignores SIGTERM gets SIGKILL after the drain timeout")
    func ignoredSigtermIsKilled() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(
            port: port, extra: ["--drain-timeout", "1s"], serverArguments: ["--ignore-sigterm"])
        let before = try supervisor.readyPIDs()
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 0)
        // Right after the rollout the old instances still run: they ignored SIGTERM.
        #expect(before.allSatisfy(isAlive))
        #expect(eventually(timeout: .seconds(5)) { before.allSatisfy { !isAlive($0) } })
        // The supervisor logs the reaping a moment after the processes are gone.
        #expect(eventually { supervisor.log.contains("did not exit within 1 s of SIGTERM") })
        #expect(eventually { supervisor.log.contains("was killed by SIGKILL after draining for") })
    }

    @Test("an instance that is killed is restarted in its slot; the other instance is untouched")
    func killedInstanceRestarts() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        let report = try supervisor.status()
        let victim = report.instances.first { $0.slot == 0 }!
        let bystander = report.instances.first { $0.slot == 1 }!
        kill(victim.pid!, SIGKILL)
        #expect(
            try eventually {
                let now = try supervisor.status()
                return now.instances.contains { $0.slot == 0 && $0.state == "ready" && $0.pid != victim.pid }
            })
        let now = try supervisor.status()
        #expect(now.instances.first { $0.slot == 0 && $0.pid != victim.pid }?.restarts == 1)
        #expect(now.instances.first { $0.slot == 1 }?.pid == bystander.pid)
        #expect(supervisor.log.contains("was killed by SIGKILL; restarting slot #0 in 0.1 s"))
    }

    @Test("SIGTERM to the supervisor drains every instance, reaps their children too, and exits 0")
    func sigtermLeavesNothingBehind() throws {
        let directory = try TemporaryDirectory.make()
        // An instance with a child of its own that outlives it unless someone kills it.
        let script = try writeScript(
            directory, "server.sh",
            """
            sleep 300 &
            echo "helper $!"
            trap 'exit 0' TERM
            systemd-notify --ready
            while :; do sleep 0.1; done
            """)
        let supervisor = try SupervisorHarness(["--instances", "2", "--", script], directory: directory)
        try supervisor.waitUntilReady()
        let tree = ProcessTable.current().tree(of: supervisor.process.pid).subtracting([supervisor.process.pid])
        #expect(tree.count >= 4)  // two shells, two sleeps (and maybe a loop sleep)

        supervisor.process.send(SIGTERM)
        #expect(supervisor.waitForExit(timeout: .seconds(10)) == .exited(0))
        #expect(supervisor.waitForSystemd("STOPPING=1", timeout: .seconds(1)) != nil)
        #expect(tree.allSatisfy { !isAlive($0) }, "left behind: \(tree.filter(isAlive))")
    }
}

extension SupervisorTests {
    @Test("--bake: the old generation serves beside the new one until the bake ends; a crash meanwhile rolls back")
    func bake() throws {
        let port = try freePort()
        let directory = try TemporaryDirectory.make()
        let config = "\(directory)/app.toml"
        try Self.writeConfig(config, port: port, extraTOML: "bake = \"1500ms\"", serverArguments: [])
        let supervisor = try SupervisorHarness(["--config", config], directory: directory)
        try supervisor.waitUntilReady()
        let first = try supervisor.readyPIDs()

        let reload = try ChildProcess(
            ["reload", "--name", supervisor.name, "--control-socket", supervisor.controlSocket],
            executable: SupervisorHarness.supervisorPath)
        #expect(try eventually { try supervisor.readyPIDs(generation: 2).count == 2 })
        // Baking: both generations serve, and the reload has not finished.
        #expect(first.allSatisfy { isAlive($0) })
        #expect(try supervisor.status().instances.filter { $0.state == "ready" }.count == 4)
        #expect(reload.waitForExit(timeout: .seconds(10)) == .exited(0), "\(reload.output)")
        #expect(eventually { first.allSatisfy { !isAlive($0) } })
        #expect(supervisor.log.contains("baking for 1.5 s while generation 1 keeps serving"))

        // A release that crashes 500 ms after it is ready fails within the bake: rolled back, generation 2 untouched.
        let second = try supervisor.readyPIDs()
        try Self.writeConfig(config, port: port, extraTOML: "bake = \"3s\"", serverArguments: ["--crash-after", "500"])
        let failed = try supervisor.cli("reload")
        #expect(failed.exitCode == 1)
        #expect(failed.stderr.contains("exited with status 3; rolled back to generation 2"), "\(failed.stderr)")
        #expect(try supervisor.readyPIDs() == second)
    }
}

extension SupervisorTests {
    /// The pid of the supervisor's `supervisor lifeline` child.
    static func lifelinePID(of supervisor: SupervisorHarness) -> Int32? {
        ProcessTable.current().tree(of: supervisor.process.pid).first { pid in
            let arguments = (try? FileText.readBytes("/proc/\(pid)/cmdline")) ?? []
            return arguments.split(separator: 0).map { String(decoding: $0, as: UTF8.self) }.suffix(1) == ["lifeline"]
        }
    }

    @Test("the supervisor killed with SIGKILL: its lifeline stops the instances (stop signal, then drain, then exit)")
    func supervisorKilled() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        let pids = try supervisor.readyPIDs()
        let lifeline = try #require(Self.lifelinePID(of: supervisor))
        supervisor.process.send(SIGKILL)
        #expect(supervisor.waitForExit(timeout: .seconds(5)) == .signaled(SIGKILL))
        #expect(eventually(timeout: .seconds(10)) { pids.allSatisfy { !isAlive($0) } && !isAlive(lifeline) })
        #expect(supervisor.log.contains("lifeline: the supervisor is gone without stopping its instances"))
    }

    @Test(
        "the supervisor killed with SIGKILL: an instance that ignores the stop signal gets SIGKILL at the drain timeout"
    )
    func supervisorKilledStubbornInstance() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(
            instances: 1, port: port, extra: ["--drain-timeout", "1s"], serverArguments: ["--ignore-sigterm"])
        let pids = try supervisor.readyPIDs()
        supervisor.process.send(SIGKILL)
        _ = supervisor.waitForExit(timeout: .seconds(5))
        usleep(500_000)
        #expect(pids.allSatisfy { isAlive($0) }, "still draining half-way through the drain timeout")
        #expect(eventually(timeout: .seconds(5)) { pids.allSatisfy { !isAlive($0) } })
        #expect(supervisor.log.contains("did not exit within 1.0 seconds; sending SIGKILL"))
    }

    @Test("a clean stop ends the lifeline too, and a lifeline that dies is started again")
    func lifelineLifecycle() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        let first = try #require(Self.lifelinePID(of: supervisor))
        kill(first, SIGKILL)
        #expect(eventually { Self.lifelinePID(of: supervisor).map { $0 != first } ?? false })
        #expect(supervisor.log.contains("the lifeline was killed by SIGKILL; starting it again"))
        let second = try #require(Self.lifelinePID(of: supervisor))
        #expect(try supervisor.cli("stop").exitCode == 0)
        #expect(supervisor.waitForExit() == .exited(0))
        #expect(eventually { !isAlive(second) })
    }
}

extension SupervisorTests {
    @Test(
        "out of file descriptors: the reload is rolled back with the reason and the fix; the old generation serves on")
    func fileDescriptorLimit() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        let before = try supervisor.readyPIDs()
        let pid = supervisor.process.pid
        let open = try FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/fd").count
        // Room for the reload's own control connection, not for a new instance's pipe or notify socket.
        let soft = FileText.read("/proc/\(pid)/limits")?.split(separator: "\n")
            .first { $0.hasPrefix("Max open files") }?.split(separator: " ", omittingEmptySubsequences: true)[3]
        let limit = try #require(soft.map(String.init))
        let lowered = try CommandResult.run("/usr/bin/prlimit", ["--pid", String(pid), "--nofile=\(open + 1):"])
        #expect(lowered.exitCode == 0, "\(lowered.stderr)")
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("Too many open files"), "\(reload.stderr)")
        #expect(reload.stderr.contains("raise it (LimitNOFILE= in the unit, ulimit -n)"))
        #expect(reload.stderr.contains("rolled back to generation 1"))
        #expect(pidsAnswering(port: port, expected: before) == before)

        let restored = try CommandResult.run("/usr/bin/prlimit", ["--pid", String(pid), "--nofile=\(limit):"])
        #expect(restored.exitCode == 0, "\(restored.stderr)")
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(try supervisor.readyPIDs().isDisjoint(with: before))
    }
}

extension SupervisorTests {
    static let pidsCgroups = "/sys/fs/cgroup/pids"

    @Test(
        "no more processes (pids cgroup full): the reload is rolled back with the reason; the old generation serves on",
        .enabled(
            if: SupervisorTests.isRoot && access(SupervisorTests.pidsCgroups, W_OK) == 0,
            "needs root and a writable cgroup v1 pids hierarchy"))
    func processLimit() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        let before = try supervisor.readyPIDs()
        let group = "\(Self.pidsCgroups)/supervisor-test-\(getpid())"
        #expect(mkdir(group, 0o755) == 0)
        defer {
            // The supervisor and what it started while in the group (the second reload's instances, its lifeline
            // if restarted) go back to the root, so the group is empty and can go.
            let members = (try? String(contentsOfFile: "\(group)/cgroup.procs", encoding: .utf8)) ?? ""
            for pid in members.split(separator: "\n") {
                try? String(pid).write(toFile: "\(Self.pidsCgroups)/cgroup.procs", atomically: false, encoding: .utf8)
            }
            #expect(rmdir(group) == 0, "cgroup \(group) left behind: \(String(cString: strerror(errno)))")
        }
        // Only the supervisor moves; its instances stay where they are. It may not grow by one more process.
        try String(supervisor.process.pid).write(toFile: "\(group)/cgroup.procs", atomically: false, encoding: .utf8)
        let current = try String(contentsOfFile: "\(group)/pids.current", encoding: .utf8)
        try current.write(toFile: "\(group)/pids.max", atomically: false, encoding: .utf8)

        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("failed: Resource temporarily unavailable"), "\(reload.stderr)")
        #expect(reload.stderr.contains("a process limit is reached (TasksMax= in the unit, ulimit -u)"))
        #expect(reload.stderr.contains("rolled back to generation 1"))
        #expect(pidsAnswering(port: port, expected: before) == before)

        try "max".write(toFile: "\(group)/pids.max", atomically: false, encoding: .utf8)
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(try supervisor.readyPIDs().isDisjoint(with: before))
    }

    @Test(
        "the runtime directory's file system full: the reload is rolled back with the reason; the old generation serves on",
        .enabled(if: SupervisorTests.isRoot, "needs root to mount a small tmpfs"))
    func runtimeDirectoryFull() throws {
        let directory = try TemporaryDirectory.make()
        // A file system with room for 64 files: the control socket, its lock, the notify directory and sockets.
        #expect(mount("tmpfs", directory, "tmpfs", 0, "size=64k,nr_inodes=64,mode=0755") == 0)
        defer { umount2(directory, Int32(MNT_DETACH)) }
        let port = try freePort()
        let supervisor = try SupervisorHarness(
            ["--instances", "2", "--", SupervisorHarness.demoServerPath, "--port", String(port)],
            directory: directory)
        try supervisor.waitUntilReady()
        let before = try supervisor.readyPIDs()
        var fillers: [String] = []
        for index in 0..<64 {
            let path = "\(directory)/filler-\(index)"
            let fd = open(path, O_CREAT | O_WRONLY, 0o600)
            if fd < 0 { break }
            close(fd)
            fillers.append(path)
        }
        #expect(!fillers.isEmpty)

        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("cannot create its notify socket"), "\(reload.stderr)")
        #expect(reload.stderr.contains("the file system is full"))
        #expect(reload.stderr.contains("rolled back to generation 1"))
        #expect(pidsAnswering(port: port, expected: before) == before)

        for path in fillers { unlink(path) }
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(try supervisor.readyPIDs().isDisjoint(with: before))
        #expect(try supervisor.cli("stop").exitCode == 0)
        _ = supervisor.waitForExit()
    }
}

extension SupervisorTests {
    @Test("old generations that drain slowly are bounded: past --max-draining a reload is refused, and status says why")
    func drainingGenerationsAreBounded() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(
            instances: 1, port: port, extra: ["--drain-timeout", "60s", "--max-draining", "2"],
            serverArguments: ["--ignore-sigterm"])
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(try supervisor.cli("reload").exitCode == 0)
        let refused = try supervisor.cli("reload")
        #expect(refused.exitCode == 1)
        #expect(
            refused.stderr.contains(
                "reload refused: 2 earlier generations are still draining (generation 1, generation 2)"),
            "\(refused.stderr)")
        let report = try supervisor.status()
        #expect(report.drainingGenerations == [1, 2])
        #expect(report.generation == 3)
        let table = try supervisor.cli("status")
        #expect(table.stdout.contains("draining: generation 1, 2 (a reload is refused at 2)"), "\(table.stdout)")
    }
}
