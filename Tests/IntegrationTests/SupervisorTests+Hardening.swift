import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// Hostile input: files, notify floods, reused pids, descriptor limits, links in the runtime directory. Each case took
/// a supervisor down, or made it act on something not its own, before it was mended.
extension SupervisorTests {
    static func write(_ bytes: [UInt8], to path: String) throws {
        try Data(bytes).write(to: URL(fileURLWithPath: path))
    }

    static func demoConfig(port: Int, instances: Int = 2) -> String {
        """
        instances = \(instances)
        listen = ["127.0.0.1:\(port)"]
        command = ["\(SupervisorHarness.demoServerPath)", "--port", "\(port)"]

        """
    }

    /// The resident set of a process, in bytes.
    static func residentBytes(of pid: Int32) -> Int {
        let status = FileText.read("/proc/\(pid)/status") ?? ""
        let line = status.split(separator: "\n").first { $0.hasPrefix("VmRSS:") } ?? ""
        return (Int(line.split(separator: " ").dropFirst().first ?? "") ?? 0) * 1024
    }

    @Test(
        "a config file that made the TOML parser abort (a byte-order mark, then [=a]) fails the reload; the instances serve on"
    )
    func byteOrderMarkReload() throws {
        let port = try freePort()
        let directory = try TemporaryDirectory.make()
        let config = "\(directory)/app.toml"
        let good = Array(Self.demoConfig(port: port).utf8)
        try Self.write(good, to: config)
        let supervisor = try SupervisorHarness(["--config", config])
        try supervisor.waitUntilReady()
        let before = try supervisor.readyPIDs()

        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        try Self.write(bom + Array("[=a]\n".utf8) + good, to: config)
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("app.toml:1: not valid TOML: a table header needs a name"), "\(reload.stderr)")
        #expect(supervisor.waitForExit(timeout: .zero) == nil, "the supervisor died: \(supervisor.log)")
        #expect(try supervisor.readyPIDs() == before)
        #expect(pidsAnswering(port: port, expected: before) == before)
        let check = try CommandResult.run(SupervisorHarness.supervisorPath, ["check", "--config", config])
        #expect(check.exitCode == 1, "check: \(check.stderr)")
        #expect(check.stderr.contains("a table header needs a name"))

        // A byte-order mark before good TOML is only skipped.
        try Self.write(bom + good, to: config)
        let second = try supervisor.cli("reload")
        #expect(second.exitCode == 0, "\(second.stdout)\(second.stderr)")
    }

    @Test("parse-config, the child that parses a reload's file first: exit 0 when it parses, 1 with the error when not")
    func parseConfigChild() throws {
        let directory = try TemporaryDirectory.make()
        let good = "\(directory)/good.toml"
        let bad = "\(directory)/bad.toml"
        try Self.write(Array("instances = 2\n".utf8), to: good)
        try Self.write([0xEF, 0xBB, 0xBF] + Array("[=a]\n".utf8), to: bad)
        func parse(_ path: String) throws -> CommandResult {
            try CommandResult.run(
                "/bin/sh", ["-c", "exec \"$0\" parse-config app.toml <\"$1\"", SupervisorHarness.supervisorPath, path])
        }
        let parsed = try parse(good)
        #expect(parsed.exitCode == 0, "\(parsed.stdout)\(parsed.stderr)")
        let refused = try parse(bad)
        #expect(refused.exitCode == 1)
        #expect(refused.stdout.contains("app.toml:1: not valid TOML: a table header needs a name"), "\(refused.stdout)")
    }

    @Test("config paths that are not a small regular file are refused at once: a directory, a FIFO, /dev/zero, 2 MiB")
    func configFileKinds() throws {
        let directory = try TemporaryDirectory.make()
        let fifo = "\(directory)/fifo.toml"
        try #require(mkfifo(fifo, 0o600) == 0)
        let large = "\(directory)/large.toml"
        try Self.write(Array(repeating: UInt8(ascii: "#"), count: 2 << 20), to: large)
        let cases = [
            (directory, "is a directory, not a regular file"), (fifo, "is a FIFO, not a regular file"),
            ("/dev/zero", "is a device, not a regular file"), (large, "is larger than 1024 KiB"),
        ]
        for (path, message) in cases {
            let check = try CommandResult.run(
                SupervisorHarness.supervisorPath, ["check", "--config", path], timeout: .seconds(10))
            #expect(check.exitCode == 1, "\(path)")
            #expect(check.stderr.contains(message), "\(path): \(check.stderr)")
        }
    }

    @Test(
        "an instance flooding its notify socket with STATUS= is slowed: the supervisor stays under 64 MB and answers status within 1 s",
        .enabled(if: access("/usr/bin/python3", X_OK) == 0, "needs python3 for the flooding instance"))
    func notifyFlood() throws {
        let flood = """
            import os, socket
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.connect(os.environ["NOTIFY_SOCKET"])
            s.send(b"READY=1")
            payload = b"STATUS=" + b"x" * 3000
            while True:
                s.send(payload)
            """
        let supervisor = try SupervisorHarness([
            "--instances", "1", "--", "/usr/bin/python3", "-c", flood,
        ])
        try supervisor.waitUntilReady()
        var largest = 0
        var slowest = Duration.zero
        let end = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < end {
            let start = ContinuousClock.now
            let report = try supervisor.status()
            slowest = max(slowest, ContinuousClock.now - start)
            #expect(report.instances.first?.status?.hasPrefix("xxx") == true)
            largest = max(largest, Self.residentBytes(of: supervisor.process.pid))
            usleep(500_000)
        }
        #expect(largest > 0)
        #expect(largest < 64 << 20, "the supervisor grew to \(largest >> 20) MB")
        #expect(slowest < .seconds(1), "status took \(slowest)")
    }

    @Test(
        "a main process reaped by its own parent is never signalled again: the process that gets its number receives nothing",
        .enabled(if: SupervisorTests.isRoot, "needs root for a PID namespace and ns_last_pid"),
        .enabled(if: access("/usr/bin/python3", X_OK) == 0, "needs python3"),
        .enabled(if: access("/usr/bin/unshare", X_OK) == 0, "needs unshare"))
    func staleMainPID() throws {
        let directory = try TemporaryDirectory.make()
        // The instance's main process is its grandchild, and it announces it; on `go` the main process's parent
        // kills and reaps it (the supervisor sees no SIGCHLD: it is not the parent), then forks an unrelated process
        // that takes the same number. Only the first instance does, not its replacement.
        let instance = """
            import os, signal, socket, sys, time
            d = sys.argv[1]
            r, w = os.pipe()
            if os.fork() == 0:
                # The parent of the main process, in a session of its own: the supervisor's group kill, once it sees
                # the main process exit, does not end it before it has done its part.
                os.setsid()
                main = os.fork()
                if main == 0:
                    signal.pause()
                    os._exit(0)
                os.write(w, str(main).encode())
                while not os.path.exists(d + "/go"):
                    time.sleep(0.02)
                try:
                    os.close(os.open(d + "/claimed", os.O_CREAT | os.O_EXCL))
                except FileExistsError:
                    os._exit(0)
                os.kill(main, signal.SIGKILL)
                os.waitpid(main, 0)
                with open("/proc/sys/kernel/ns_last_pid", "w") as f:
                    f.write(str(main - 1))
                if os.fork() == 0:
                    os.setsid()
                    def record(number, frame):
                        with open(d + "/signals", "a") as f:
                            f.write(f"{number}\\n")
                    for number in (signal.SIGTERM, signal.SIGINT, signal.SIGHUP, signal.SIGQUIT, signal.SIGUSR1):
                        signal.signal(number, record)
                    host = [l.split()[1] for l in open("/proc/self/status") if l.startswith("NSpid:")][0]
                    with open(d + "/impostor.tmp", "w") as f:
                        f.write(f"{main} {os.getpid()} {host}")
                    os.rename(d + "/impostor.tmp", d + "/impostor")
                    while True:
                        signal.pause()
                os._exit(0)
            main = int(os.read(r, 32))
            s = socket.socket(socket.AF_UNIX, socket.SOCK_DGRAM)
            s.connect(os.environ["NOTIFY_SOCKET"])
            s.send(f"MAINPID={main}\\nREADY=1".encode())
            time.sleep(3600)
            """
        try Self.write(Array(instance.utf8), to: "\(directory)/instance.py")
        let supervisor = try SupervisorHarness(
            [
                "--instances", "1", "--drain-timeout", "2s", "--", "/usr/bin/python3", "\(directory)/instance.py",
                directory,
            ],
            launcher: ["/usr/bin/unshare", "--pid", "--fork", "--mount-proc", "--kill-child"])
        try supervisor.waitUntilReady()
        let announced = try #require(try supervisor.status().instances.first?.pid)
        // The supervisor (pid 1 of the namespace, unshare's child) is stopped while the number changes hands: its
        // threads and spawns take numbers too, and one of them could take the freed number first (CI saw it).
        let launcher = supervisor.process.pid
        let children = try String(contentsOfFile: "/proc/\(launcher)/task/\(launcher)/children", encoding: .utf8)
        let supervisorPID = try #require(children.split(separator: " ").first.flatMap { Int32($0) })
        #expect(kill(supervisorPID, SIGSTOP) == 0)
        defer { kill(supervisorPID, SIGCONT) }
        try Self.write([], to: "\(directory)/go")
        #expect(eventually { access("\(directory)/impostor", F_OK) == 0 }, "\(supervisor.log)")
        #expect(kill(supervisorPID, SIGCONT) == 0)
        let fields = try String(contentsOfFile: "\(directory)/impostor", encoding: .utf8).split(separator: " ")
        let main = try #require(Int32(fields[0]))
        let impostor = try #require(Int32(fields[1]))
        let impostorOnHost = try #require(Int32(fields[2]))
        defer { kill(impostorOnHost, SIGKILL) }
        #expect(main == announced)
        try #require(
            impostor == main, "the unrelated process got pid \(impostor), not \(main): the test proves nothing")

        // The supervisor noticed the main process exit through its pidfd and replaced the instance; a reload and a
        // drain to SIGKILL must not reach the number either.
        #expect(
            try eventually { try supervisor.status().instances.contains { $0.state == "ready" && $0.pid != main } },
            "\(supervisor.log)")
        #expect(try supervisor.cli("reload").exitCode == 0)
        usleep(500_000)
        #expect(access("\(directory)/signals", F_OK) != 0, "the unrelated process was signalled:\n\(supervisor.log)")
        #expect(kill(impostorOnHost, 0) == 0, "the unrelated process was killed:\n\(supervisor.log)")
        #expect(supervisor.log.contains("its main process (pid \(main)) has exited"), "\(supervisor.log)")
    }

    @Test(
        "with close_range refused (old kernels, seccomp filters), instances still inherit only stdio and their listeners"
    )
    func descriptorsWithoutCloseRange() throws {
        let port = try freePort()
        let health = try freePort()
        let supervisor = try SupervisorHarness(
            [
                "--instances", "1", "--listen", "127.0.0.1:\(port)", "--listen-mode", "shared",
                "--health", "127.0.0.1:\(health)", "--ready", "exec:true", "--", "/bin/sleep", "300",
            ],
            launcher: [Products.path(of: "no-close-range")])
        try supervisor.waitUntilReady()
        // A connection to the health endpoint is open, and the control connection of `reload`, while the new
        // instance starts.
        let idle = try RawHTTPConnection(port: health)
        defer { idle.close() }
        #expect(try supervisor.cli("reload").exitCode == 0)
        let pid = try #require(try supervisor.status().instances.first { $0.generation == 2 }?.pid)
        let inherited = Self.openDescriptors(of: pid)
        #expect(Set(inherited.keys) == [0, 1, 2, 3], "the instance inherited \(inherited)")
        #expect(inherited[3]?.hasPrefix("socket:") == true, "fd 3 should be the listener: \(inherited)")
    }

    @Test(
        "2000 idle connections to the health endpoint, under a 1024 descriptor limit: 64 are kept, the rest get 503, reload still works"
    )
    func healthConnectionFlood() throws {
        var limit = rlimit()
        getrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        try #require(limit.rlim_max >= 4096, "needs a hard descriptor limit of 4096 for the test's own connections")
        let saved = limit
        limit.rlim_cur = max(limit.rlim_cur, 4096)
        setrlimit(Int32(RLIMIT_NOFILE.rawValue), &limit)
        defer {
            var restore = saved
            setrlimit(Int32(RLIMIT_NOFILE.rawValue), &restore)
        }
        let port = try freePort()
        let health = try freePort()
        let supervisor = try SupervisorHarness(
            [
                "--instances", "2", "--listen", "127.0.0.1:\(port)", "--health", "127.0.0.1:\(health)", "--",
                SupervisorHarness.demoServerPath, "--port", String(port),
            ],
            launcher: ["/bin/sh", "-c", "ulimit -n 1024 && exec \"$@\"", "sh"])
        try supervisor.waitUntilReady()
        var connections: [RawHTTPConnection] = []
        defer { for connection in connections { connection.close() } }
        for _ in 0..<2000 { connections.append(try RawHTTPConnection(port: health)) }
        // Past the limit, connections are answered 503 and closed without a request.
        let refused = try RawHTTPConnection(port: health).readResponse(timeout: .seconds(5))
        #expect(refused.status == 503)
        #expect(refused.header("Retry-After") == "1")
        let descriptors = Self.openDescriptors(of: supervisor.process.pid).count
        #expect(descriptors < 300, "the supervisor holds \(descriptors) descriptors")

        // The reload goes through the control client in this process: Foundation's Process, which `cli` uses, once
        // crashed this test process (a memmove past a buffer in Process.run) while it held the 2000 connections.
        var reload: ControlResult?
        try ControlClient(path: supervisor.controlSocket, name: supervisor.name).send(ControlRequest(command: .reload))
        {
            if let result = $0.result { reload = result }
        }
        #expect(reload?.ok == true, "\(String(describing: reload))")
        #expect(supervisor.log.contains("health endpoint 127.0.0.1:\(health): refused"), "\(supervisor.log)")
        // Idle connections are closed after 5 s: the endpoint answers again.
        for connection in connections { connection.close() }
        connections = []
        #expect(eventually(timeout: .seconds(10)) { (try? Self.get(health, "/readyz").status) == 200 })
    }

    @Test("/status over HTTP leaves out the command's arguments, exec: probe commands and URL queries")
    func statusRedaction() throws {
        let port = try freePort()
        let health = try freePort()
        let supervisor = try SupervisorHarness([
            "--instances", "1", "--listen", "127.0.0.1:\(port)", "--health", "127.0.0.1:\(health)",
            "--ready", "exec:test -n secret-probe-token", "--",
            SupervisorHarness.demoServerPath, "--port", String(port), "--version-string", "secret-argument-token",
        ])
        try supervisor.waitUntilReady()
        let body = try Self.get(health, "/status").body
        #expect(!body.contains("secret-argument-token"), "\(body)")
        #expect(!body.contains("secret-probe-token"), "\(body)")
        #expect(body.contains("\"commandArgumentsHidden\" : 4"), "\(body)")
        #expect(body.contains("exec:(not shown)"), "\(body)")
        // The control socket, which only the supervisor's user may use, shows everything.
        #expect(try supervisor.status().command.contains("secret-argument-token"))
    }

    @Test("runtime paths: a symlinked lock file or notify directory, or a directory others may write, is refused")
    func runtimePathLinks() throws {
        func run(_ directory: String) throws -> CommandResult {
            try CommandResult.run(
                SupervisorHarness.supervisorPath,
                ["run", "--name", "links", "--control-socket", "\(directory)/links.sock", "--", "/bin/sleep", "300"],
                timeout: .seconds(10))
        }
        let victim = try TemporaryDirectory.make()
        try Self.write(Array("keep me\n".utf8), to: "\(victim)/file")

        let lockLink = try TemporaryDirectory.make()
        try #require(symlink("\(victim)/file", "\(lockLink)/links.sock.lock") == 0)
        let first = try run(lockLink)
        #expect(first.exitCode == 1)
        #expect(first.stderr.contains("links.sock.lock: it is a symbolic link"), "\(first.stderr)")
        #expect(try String(contentsOfFile: "\(victim)/file", encoding: .utf8) == "keep me\n")

        let notifyLink = try TemporaryDirectory.make()
        try #require(symlink(victim, "\(notifyLink)/links.notify") == 0)
        let second = try run(notifyLink)
        #expect(second.exitCode == 1)
        #expect(second.stderr.contains("links.notify is a symbolic link"), "\(second.stderr)")
        #expect(access("\(victim)/file", F_OK) == 0, "the link's target was emptied")

        let open = try TemporaryDirectory.make()
        chmod(open, 0o777)
        let third = try run(open)
        #expect(third.exitCode == 1)
        #expect(third.stderr.contains("may be written by other users (mode 777)"), "\(third.stderr)")
    }

    @Test("STATUS= and output lines are escaped, and an instance cannot log above error")
    func instanceTextEscaped() throws {
        let script = #"""
            printf '<0>panic\033[2J\n'
            systemd-notify --ready "--status=$(printf 'red\033[31m\033]0;title\007')"
            exec sleep 300
            """#
        // SUPERVISOR_NAME makes the supervisor write <N> priorities, as it does into the journal.
        let supervisor = try SupervisorHarness(
            ["--instances", "1", "--", "/bin/sh", "-c", script], environment: ["SUPERVISOR_NAME": "outer"])
        try supervisor.waitUntilReady()
        let expected = #"red\x1B[31m\x1B]0;title\x07"#
        #expect(try eventually { try supervisor.status().instances.first?.status == expected })
        #expect(eventually { supervisor.log.contains("] panic\\x1B[2J") }, "\(supervisor.log)")
        let line = supervisor.log.split(separator: "\n").first { $0.contains("] panic") } ?? ""
        #expect(line.hasPrefix("<3>"), "\(line)")
        #expect(!supervisor.log.contains("\u{1B}"))
    }

    @Test("a supervisor that never answers: the client gives up after --timeout, and by default after 10 s")
    func clientTimeout() throws {
        let directory = try TemporaryDirectory.make()
        let path = "\(directory)/mute.sock"
        let listener = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue), 0)
        defer { close(listener) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { $0.copyBytes(from: Array(path.utf8) + [0]) }
        let bound = withUnsafePointer(to: &address) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                bind(listener, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        try #require(bound == 0 && listen(listener, 8) == 0)
        let start = ContinuousClock.now
        let status = try CommandResult.run(
            SupervisorHarness.supervisorPath, ["status", "--control-socket", path, "--timeout", "1s"],
            timeout: .seconds(20))
        #expect(status.exitCode == 1)
        #expect(status.stderr.contains("did not answer within 1 s"), "\(status.stderr)")
        #expect(ContinuousClock.now - start < .seconds(5))
    }

    @Test(
        "--user naming the supervisor's own user, without root, runs the instances (nothing to switch)",
        .enabled(if: SupervisorTests.isRoot, "needs root to start the supervisor as nobody"),
        .enabled(if: access("/usr/bin/setpriv", X_OK) == 0, "needs setpriv"))
    func userIsSelf() throws {
        let directory = try TemporaryDirectory.make()
        chown(directory, 65534, 65534)
        let supervisor = try SupervisorHarness(
            [
                "--instances", "1", "--user", "nobody", "--ready", "exec:true", "--", "/bin/sleep", "300",
            ],
            directory: directory,
            launcher: ["/usr/bin/setpriv", "--reuid", "65534", "--regid", "65534", "--clear-groups"])
        // Its READY=1 cannot reach the test's notify socket, which only root may use: ask it instead.
        #expect(
            eventually { (try? supervisor.status().instances.first?.state) == "ready" }, "\(supervisor.log)")
    }
}
