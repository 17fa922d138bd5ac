import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// Unix stream sockets and UDP sockets as listen addresses: bound by the supervisor, kept across reloads, lossless
/// like TCP (README.md, "Listener kinds"). The instances are the release build of the demo server, as in every mode
/// where processes share a socket.
extension SupervisorTests {
    /// The inode and mode of the file at `path`.
    static func fileStatus(_ path: String) -> (inode: UInt64, mode: UInt32)? {
        var status = stat()
        guard lstat(path, &status) == 0 else { return nil }
        return (UInt64(status.st_ino), UInt32(status.st_mode))
    }

    static func startUnix(
        _ path: String,
        instances: Int = 2,
        extra: [String] = [],
        directory: String? = nil,
        serverArguments: [String] = []
    ) throws -> SupervisorHarness {
        let supervisor = try SupervisorHarness(
            ["--instances", String(instances), "--listen", "unix:\(path)", "--listen-mode", "shared"] + extra
                + ["--", SupervisorHarness.releaseDemoServerPath] + serverArguments, directory: directory)
        try supervisor.waitUntilReady()
        return supervisor
    }

    @Test(
        "unix: 100 reloads under 32 clients over the socket lose no request; the socket file stays the same and goes at stop"
    )
    func unixSocketLossless() throws {
        let directory = try TemporaryDirectory.make()
        let path = "\(directory)/app.sock"
        let supervisor = try Self.startUnix(path, directory: directory)
        let before = try #require(Self.fileStatus(path))
        #expect(before.mode & S_IFMT == S_IFSOCK)
        #expect(before.mode & 0o777 == 0o660, "socket-mode defaults to 0660")
        #expect(try supervisor.status().listen == ["unix:\(path)"])
        // The instances get the socket in LISTEN_FDS, and its path in SUPERVISOR_LISTEN.
        let pid = try #require(try supervisor.readyPIDs().first)
        #expect(Self.listenEnvironment(pid: pid)["LISTEN_FDS"] == "1")
        #expect(try Self.environment(of: pid)["SUPERVISOR_LISTEN"] == "unix:\(path)")

        let load = LoadGenerator(unixPath: path)
        load.start(16, .keepAlive)
        load.start(16, .newConnectionPerRequest)
        usleep(300_000)
        supervisor.reloadRepeatedly(100)
        let (keepAlive, newConnection, note) = Self.stopExpectingNoFailures(load, "unix shared")
        let servers = Set(keepAlive.requestsByPid.keys).union(newConnection.requestsByPid.keys)
        #expect(servers.count >= 100, "\(note)")
        #expect(try supervisor.status().generation == 101)
        let after = try #require(Self.fileStatus(path))
        #expect(after.inode == before.inode, "the path names the same socket file after 100 reloads")
        #expect(!supervisor.log.contains("no longer names"), "\(supervisor.log.suffix(3000))")

        supervisor.process.send(SIGTERM)
        #expect(supervisor.waitForExit() == .exited(0))
        #expect(Self.fileStatus(path) == nil, "the supervisor removes its socket file at stop")
        let leftovers = try FileManager.default.contentsOfDirectory(atPath: directory).filter { $0.hasPrefix(".~") }
        #expect(leftovers.isEmpty, "no temporary socket file is left: \(leftovers)")
    }

    @Test("unix: an upgrade in place keeps the socket file; the upgraded supervisor still removes it at stop")
    func unixSocketAcrossUpgrade() throws {
        let directory = try TemporaryDirectory.make()
        let path = "\(directory)/app.sock"
        let supervisor = try Self.startUnix(path, instances: 1, directory: directory)
        let inode = try #require(Self.fileStatus(path)).inode
        let upgrade = try supervisor.cli(
            "upgrade", ["--binary", SupervisorHarness.supervisorPath], timeout: .seconds(30))
        #expect(upgrade.exitCode == 0, "\(upgrade.stdout)\(upgrade.stderr)")
        #expect(Self.fileStatus(path)?.inode == inode)
        #expect(try RawHTTPConnection(unixPath: path).request(timeout: .seconds(5)).status == 200)
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(!supervisor.log.contains("no longer names"))
        supervisor.process.send(SIGTERM)
        #expect(supervisor.waitForExit() == .exited(0))
        #expect(Self.fileStatus(path) == nil, "the handover told the new binary the file is its own")
    }

    @Test(
        "unix: a stale socket file is replaced; a removed path is reported at reload and not recreated by anyone else")
    func unixSocketStaleAndRemoved() throws {
        let directory = try TemporaryDirectory.make()
        let path = "\(directory)/app.sock"
        // What a crashed server leaves: a socket file nobody accepts on.
        let stale = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0)
        try Self.bindUnix(stale, path)
        close(stale)
        let staleInode = try #require(Self.fileStatus(path)).inode
        let supervisor = try Self.startUnix(path, instances: 1, extra: ["--socket-mode", "0600"], directory: directory)
        let bound = try #require(Self.fileStatus(path))
        #expect(bound.inode != staleInode)
        #expect(bound.mode & 0o777 == 0o600)
        let response = try RawHTTPConnection(unixPath: path).request(timeout: .seconds(5))
        #expect(response.status == 200)

        unlink(path)
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 0, "\(reload.stderr)")
        #expect(
            eventually {
                supervisor.log.contains("unix:\(path) no longer names the supervisor's socket: it was removed")
            },
            "\(supervisor.log.suffix(3000))")
        // Something else at the path is left alone at stop.
        try "not ours".write(toFile: path, atomically: false, encoding: .utf8)
        supervisor.process.send(SIGTERM)
        #expect(supervisor.waitForExit() == .exited(0))
        #expect(try String(contentsOfFile: path, encoding: .utf8) == "not ours")
    }

    static func bindUnix(_ fd: CInt, _ path: String) throws {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: Array(path.utf8) + [0])
        }
        _ = try withUnsafePointer(to: &address) { pointer in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                try posixCall("bind") { bind(fd, generic, socklen_t(MemoryLayout<sockaddr_un>.size)) }
            }
        }
    }

    @Test("unix: bad paths and modes are refused before anything starts, each with its reason and fix")
    func unixSocketBadInput() throws {
        let directory = try TemporaryDirectory.make()
        func run(_ listen: String, _ extra: [String] = []) throws -> CommandResult {
            try CommandResult.run(
                SupervisorHarness.supervisorPath,
                ["run", "--name", "bad", "--control-socket", "\(directory)/bad.sock", "--listen", listen] + extra
                    + ["--", "/bin/sleep", "30"], timeout: .seconds(30))
        }
        let shared = ["--listen-mode", "shared"]
        let missing = try run("unix:\(directory)/nowhere/app.sock", shared)
        #expect(missing.exitCode != 0)
        #expect(
            missing.stderr.contains("the directory \(directory)/nowhere does not exist; create it"), "\(missing.stderr)"
        )

        let long = "unix:/" + String(repeating: "d", count: 120) + "/app.sock"
        let tooLong = try run(long, shared)
        #expect(tooLong.exitCode != 0)
        #expect(tooLong.stderr.contains("a Unix socket's path can have at most 107"), "\(tooLong.stderr)")

        for mode in ["reuseport", "app"] {
            let refused = try run("unix:\(directory)/app.sock", ["--listen-mode", mode])
            #expect(refused.exitCode != 0)
            #expect(refused.stderr.contains("needs listen-mode shared, not \(mode)"), "\(refused.stderr)")
        }

        let relative = try run("unix:app.sock", shared)
        #expect(relative.stderr.contains("give an absolute path"), "\(relative.stderr)")

        let badMode = try run("unix:\(directory)/app.sock", shared + ["--socket-mode", "rw"])
        #expect(badMode.stderr.contains("socket-mode 'rw' is not a file mode"), "\(badMode.stderr)")

        try "x".write(toFile: "\(directory)/file.sock", atomically: false, encoding: .utf8)
        let notSocket = try run("unix:\(directory)/file.sock", shared)
        #expect(notSocket.stderr.contains("exists and is not a socket; remove it"), "\(notSocket.stderr)")

        // A live socket of another process (this test's): refused, naming the process; the path is left alone.
        let live = socket(AF_UNIX, CInt(SOCK_STREAM.rawValue), 0)
        defer { close(live) }
        try Self.bindUnix(live, "\(directory)/live.sock")
        listen(live, 16)
        let inode = Self.fileStatus("\(directory)/live.sock")?.inode
        let held = try run("unix:\(directory)/live.sock", shared)
        #expect(held.exitCode != 0)
        #expect(
            held.stderr.contains("a running process (pid \(getpid()), ")
                && held.stderr.contains("accepts connections on \(directory)/live.sock"), "\(held.stderr)")
        #expect(Self.fileStatus("\(directory)/live.sock")?.inode == inode)
    }

    @Test("unix: the health endpoint serves on a Unix socket and removes it at stop")
    func healthOnUnixSocket() throws {
        let directory = try TemporaryDirectory.make()
        let port = try freePort()
        let health = "\(directory)/health.sock"
        let supervisor = try Self.startInMode(
            "shared", instances: 1, port: port, extra: ["--health", "unix:\(health)"])
        let ready = try RawHTTPConnection(unixPath: health).request(path: "/readyz", timeout: .seconds(5))
        #expect(ready.status == 200)
        let status = try RawHTTPConnection(unixPath: health).request(path: "/status", timeout: .seconds(5))
        #expect(status.status == 200)
        #expect(Self.fileStatus(health).map { $0.mode & 0o777 } == 0o660)
        supervisor.process.send(SIGTERM)
        #expect(supervisor.waitForExit() == .exited(0))
        #expect(Self.fileStatus(health) == nil)
    }

    @Test(
        "udp: 20,000 datagrams a second through 100 reloads, every one answered",
        arguments: ["reuseport", "shared"])
    func udpLossless(mode: String) throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness(
            [
                "--instances", "2", "--listen", "udp:127.0.0.1:\(port)", "--listen-mode", mode, "--",
                SupervisorHarness.releaseDemoServerPath, "--udp-echo",
            ])
        try supervisor.waitUntilReady()
        #expect(try supervisor.status().lossless)
        let load = try DatagramLoad(port: port, rate: 20_000)
        load.start()
        usleep(300_000)
        supervisor.reloadRepeatedly(100)
        usleep(300_000)
        let counts = load.stop()
        print("udp \(mode): \(counts)")
        #expect(counts.lost == 0, "udp \(mode): \(counts)")
        #expect(counts.unexpected == 0, "udp \(mode): \(counts)")
        #expect(counts.sent > 100_000, "udp \(mode): \(counts)")
        #expect(counts.answersByPid.count >= 100, "answered by many generations: \(counts)")
    }

    @Test("udp in app mode: a warning says what a reload loses, status says not lossless, and the loss is counted")
    func udpAppModeLoses() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness(
            [
                "--instances", "2", "--listen", "udp:127.0.0.1:\(port)", "--", SupervisorHarness.releaseDemoServerPath,
                "--udp-echo",
            ])
        try supervisor.waitUntilReady()
        #expect(supervisor.log.contains("each instance binds its own UDP socket"))
        #expect(try supervisor.status().lossless == false)
        let load = try DatagramLoad(port: port, rate: 20_000)
        load.start()
        usleep(300_000)
        supervisor.reloadRepeatedly(20)
        usleep(300_000)
        let counts = load.stop()
        // Not asserted beyond the load running: what app mode loses is measured (bench/udp), not promised.
        print("udp app: \(counts)")
        #expect(counts.answered > 0, "\(counts)")
    }
}

extension SupervisorTests {
    static let hasNginxAndWrk = access("/usr/sbin/nginx", X_OK) == 0 && access("/usr/bin/wrk", X_OK) == 0

    /// `Non-2xx or 3xx responses` and the `Socket errors` of wrk's report, added up, and the requests it counted.
    static func wrkFailures(_ report: String) -> (failed: Int, requests: Int) {
        var failed = 0
        var requests = 0
        for line in report.split(separator: "\n") {
            let text = line.trimmingCharacters(in: .whitespaces)
            if text.hasPrefix("Non-2xx or 3xx responses:") {
                failed += Int(text.split(separator: " ").last ?? "") ?? 1
            } else if text.hasPrefix("Socket errors:") {
                // Socket errors: connect 0, read 0, write 0, timeout 0
                for part in text.dropFirst("Socket errors:".count).split(separator: ",") {
                    failed += Int(part.split(separator: " ").last ?? "") ?? 1
                }
            } else if text.contains(" requests in ") {
                requests = Int(text.split(separator: " ").first ?? "") ?? 0
            }
        }
        return (failed, requests)
    }

    @Test(
        "unix behind nginx: nginx from Debian proxies to the supervisor's Unix socket; 20 reloads under wrk fail no request",
        .enabled(
            if: hasNginxAndWrk && isRoot, "needs nginx (nginx-light), wrk and root (nginx's workers run as nobody)"))
    func unixSocketBehindNginx() throws {
        let directory = try TemporaryDirectory.make()
        // nginx's workers run as nobody:nogroup; the socket's group lets them connect, the directory lets them in.
        chmod(directory, 0o755)
        let path = "\(directory)/app.sock"
        let supervisor = try Self.startUnix(path, extra: ["--socket-group", "nogroup"], directory: directory)
        let port = try freePort()
        let config = """
            daemon off;
            master_process on;
            worker_processes 2;
            user nobody nogroup;
            pid \(directory)/nginx.pid;
            error_log \(directory)/nginx-error.log warn;
            events { worker_connections 1024; }
            http {
                access_log off;
                server {
                    listen 127.0.0.1:\(port);
                    location / { proxy_pass http://unix:\(path):; }
                }
            }
            """
        try config.write(toFile: "\(directory)/nginx.conf", atomically: true, encoding: .utf8)
        let nginx = try ChildProcess(["-c", "\(directory)/nginx.conf", "-p", directory], executable: "/usr/sbin/nginx")
        defer {
            nginx.send(SIGQUIT)
            _ = nginx.waitForExit(timeout: .seconds(10))
        }
        #expect(
            eventually {
                (try? RawHTTPConnection(port: port).request(headers: ["Connection: close"]))?.status == 200
            }, "nginx did not answer: \(nginx.output)")

        let wrk = try ChildProcess(
            ["-t2", "-c32", "-d8s", "http://127.0.0.1:\(port)/"], executable: "/usr/bin/wrk")
        usleep(500_000)
        supervisor.reloadRepeatedly(20)
        let ended = wrk.waitForExit(timeout: .seconds(30))
        #expect(ended == .exited(0), "\(wrk.output)")
        let (failed, requests) = Self.wrkFailures(wrk.output)
        print("nginx -> unix socket, 20 reloads: \(requests) requests, \(failed) failed")
        #expect(
            failed == 0,
            "\(wrk.output)\n\((try? String(contentsOfFile: "\(directory)/nginx-error.log", encoding: .utf8)) ?? "")")
        #expect(requests > 1000, "\(wrk.output)")
        #expect(try supervisor.status().generation == 21)
    }
}

extension SupervisorTests {
    @Test(
        "unix: a socket systemd passes for the path (ListenStream=/PATH) is served as it is, and left to systemd at stop"
    )
    func unixSocketActivation() throws {
        let directory = try TemporaryDirectory.make()
        let path = "\(directory)/app.sock"
        let supervisor = try SupervisorHarness(
            [
                "--instances", "2", "--listen", "unix:\(path)", "--listen-mode", "shared", "--",
                SupervisorHarness.releaseDemoServerPath,
            ],
            directory: directory,
            launcher: ["/usr/bin/systemd-socket-activate", "--listen=\(path)", "--setenv=NOTIFY_SOCKET"])
        // systemd-socket-activate binds the path and starts the supervisor on the first connection.
        #expect(eventually { (try? RawHTTPConnection(unixPath: path)) != nil })
        let inode = try #require(Self.fileStatus(path)).inode
        let first = try RawHTTPConnection(unixPath: path).request(headers: ["Connection: close"], timeout: .seconds(30))
        #expect(first.status == 200)
        try supervisor.waitUntilReady()
        #expect(
            supervisor.log.contains("serving unix:\(path) (listen0) on the socket systemd passed"), "\(supervisor.log)")
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(try RawHTTPConnection(unixPath: path).request(timeout: .seconds(5)).status == 200)
        #expect(Self.fileStatus(path)?.inode == inode, "the supervisor did not bind the path again")
        supervisor.process.send(SIGTERM)
        #expect(supervisor.waitForExit() == .exited(0))
        #expect(Self.fileStatus(path)?.inode == inode, "a socket systemd passed is systemd's to remove")
    }
}
