import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// The three listen modes do what README.md's "Listen modes" says, and a reload under load loses nothing in any of
/// them.
///
/// Processes share listening sockets here, so the instances are the release build of the demo server (a debug
/// build of SwiftNIO asserts when another process took the connection a readable event announced).
extension SupervisorTests {
    static var isRoot: Bool { geteuid() == 0 }

    /// `socket:[INODE]` of a process's descriptor.
    static func socketIdentity(pid: Int32, fd: Int32) -> String? {
        FileText.readLink("/proc/\(pid)/fd/\(fd)")
    }

    /// The `LISTEN_*` variables a process started with.
    static func listenEnvironment(pid: Int32) -> [String: String] {
        ((try? environment(of: pid)) ?? [:]).filter { $0.key.hasPrefix("LISTEN_") }
    }

    static func startInMode(
        _ mode: String,
        instances: Int = 2,
        port: Int,
        network: PrivateNetwork? = nil,
        extra: [String] = [],
        command: [String]? = nil
    ) throws -> SupervisorHarness {
        let supervisor = try SupervisorHarness(
            ["--instances", String(instances), "--listen", "127.0.0.1:\(port)", "--listen-mode", mode] + extra
                + ["--"] + (command ?? [SupervisorHarness.releaseDemoServerPath, "--port", String(port)]),
            network: network)
        try supervisor.waitUntilReady()
        return supervisor
    }

    @Test("reuseport: each instance gets its slot's socket as fd 3, and the replacement gets the very same socket")
    func reuseportHandsTheSameSocketOn() throws {
        let port = try freePort()
        let supervisor = try Self.startInMode("reuseport", port: port)
        let before = try supervisor.status().instances
        var socketBySlot: [Int: String] = [:]
        for instance in before {
            let pid = try #require(instance.pid)
            socketBySlot[instance.slot] = Self.socketIdentity(pid: pid, fd: 3)
            let environment = Self.listenEnvironment(pid: pid)
            #expect(environment["LISTEN_FDS"] == "1")
            #expect(environment["LISTEN_PID"] == String(pid))
            #expect(environment["LISTEN_FDNAMES"] == "listen0")
        }
        #expect(Set(socketBySlot.values).count == 2, "one socket per slot: \(socketBySlot)")
        #expect(socketBySlot.values.allSatisfy { $0.hasPrefix("socket:[") })

        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 0, "\(reload.stderr)")
        let after = try supervisor.status().instances.filter { $0.generation == 2 }
        #expect(after.count == 2)
        for instance in after {
            let pid = try #require(instance.pid)
            #expect(Self.socketIdentity(pid: pid, fd: 3) == socketBySlot[instance.slot], "slot #\(instance.slot)")
            #expect(Self.listenEnvironment(pid: pid)["LISTEN_PID"] == String(pid))
        }
        #expect(pidsAnswering(port: port, expected: Set(after.compactMap(\.pid))).count == 2)
    }

    @Test("shared: every instance of every generation gets the same socket")
    func sharedHandsOneSocketToAll() throws {
        let port = try freePort()
        let supervisor = try Self.startInMode("shared", instances: 3, port: port)
        let first = try supervisor.status().instances.compactMap(\.pid).map { Self.socketIdentity(pid: $0, fd: 3) }
        #expect(first.count == 3)
        #expect(Set(first).count == 1, "\(first)")
        #expect(first.first??.hasPrefix("socket:[") == true)

        #expect(try supervisor.cli("reload").exitCode == 0)
        let second = try supervisor.status().instances.filter { $0.generation == 2 }.compactMap(\.pid)
            .map { Self.socketIdentity(pid: $0, fd: 3) }
        #expect(second.count == 3)
        #expect(Set(second) == Set(first))
    }

    @Test("reuseport: scaling down closes the extra slots' sockets once their instances are gone")
    func reuseportScaleDownReleasesSockets() throws {
        let port = try freePort()
        let directory = try TemporaryDirectory.make()
        let config = "\(directory)/app.toml"
        func write(instances: Int) throws {
            try """
            instances = \(instances)
            listen = ["127.0.0.1:\(port)"]
            listen-mode = "reuseport"
            command = ["\(SupervisorHarness.releaseDemoServerPath)", "--port", "\(port)"]
            """.write(toFile: config, atomically: true, encoding: .utf8)
        }
        try write(instances: 3)
        let supervisor = try SupervisorHarness(["--config", config], directory: directory)
        try supervisor.waitUntilReady()
        let listening = { () -> Int in
            let ours = ListeningSocket.socketInodes(ofProcess: supervisor.process.pid)
            return ListeningSocket.current().filter { $0.port == UInt16(port) && ours.contains($0.inode) }.count
        }
        #expect(listening() == 3)
        try write(instances: 1)
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(eventually { listening() == 1 })
        #expect(try supervisor.status().instances.filter { $0.state == "ready" }.count == 1)
    }

    @Test(
        "app: the supervisor sets net.ipv4.tcp_migrate_req=1 in its network namespace and reports lossless",
        .enabled(if: SupervisorTests.isRoot, "needs root to create a network namespace"))
    func appModeEnablesMigration() throws {
        let network = try #require(PrivateNetwork.make(tcpMigrateRequests: false))
        #expect(network.tcpMigrateRequests == "0")
        let supervisor = try Self.startInMode("app", port: 8080, network: network, extra: ["--kernel-migrate", "auto"])
        #expect(network.tcpMigrateRequests == "1")
        #expect(supervisor.log.contains("set net.ipv4.tcp_migrate_req=1 (it was 0)"))
        let report = try supervisor.status()
        #expect(report.lossless)
        #expect(report.listenMode == "app")
    }

    @Test(
        "app: where tcp_migrate_req cannot be set, the supervisor warns with the sysctl line and reports not lossless",
        .enabled(if: SupervisorTests.isRoot, "needs root to create a network namespace"))
    func appModeWarnsWithoutMigration() throws {
        let network = try #require(PrivateNetwork.make(tcpMigrateRequests: false, readOnlySysctl: true))
        let supervisor = try Self.startInMode("app", port: 8080, network: network, extra: ["--kernel-migrate", "auto"])
        #expect(network.tcpMigrateRequests == "0")
        #expect(supervisor.log.contains("net.ipv4.tcp_migrate_req is 0 and cannot be set here"))
        #expect(supervisor.log.contains("Add 'net.ipv4.tcp_migrate_req = 1' to /etc/sysctl.d/"))
        let report = try supervisor.status()
        #expect(!report.lossless)
        #expect(report.losslessReason == "tcp_migrate_req=0")
        #expect(try supervisor.cli("status").stdout.contains("lossless: no (tcp_migrate_req=0)"))
        // --kernel-migrate on refuses to start instead.
        let strict = try SupervisorHarness(
            ["--listen", "127.0.0.1:8081", "--kernel-migrate", "on", "--", SupervisorHarness.releaseDemoServerPath],
            network: network)
        #expect(strict.waitForExit(timeout: .seconds(10)) == .exited(1))
        #expect(strict.log.contains("kernel-migrate = on, but net.ipv4.tcp_migrate_req cannot be set to 1"))
    }

    @Test(
        "no request is lost over 10 reloads under load, keep-alive and new-connection, in each listen mode",
        .enabled(if: SupervisorTests.isRoot, "needs root for a network namespace with tcp_migrate_req=1"),
        arguments: ["app", "reuseport", "shared"])
    func losslessReloadsUnderLoad(mode: String) throws {
        // A namespace of its own: app mode needs tcp_migrate_req=1, and the host's is not the test's to change.
        let network = try #require(PrivateNetwork.make(tcpMigrateRequests: false))
        let supervisor = try Self.startInMode(mode, port: 8080, network: network, extra: ["--kernel-migrate", "auto"])
        #expect(try supervisor.status().lossless)
        let load = LoadGenerator(port: 8080, network: network)
        load.start(3, .keepAlive)
        load.start(3, .newConnectionPerRequest)
        usleep(300_000)
        supervisor.reloadRepeatedly(10)
        let (keepAlive, newConnection, note) = Self.stopExpectingNoFailures(load, mode)
        // Served by many generations: the load really ran across the reloads.
        let servers = Set(keepAlive.requestsByPid.keys).union(newConnection.requestsByPid.keys)
        #expect(servers.count >= 10, "\(note)")
        #expect(try supervisor.status().generation == 11)
    }
}

extension SupervisorTests {
    /// Stops `load` after a last 0.3 s and expects no failed request and enough succeeded ones of both styles;
    /// returns the counts, and a note that shows them.
    static func stopExpectingNoFailures(
        _ load: LoadGenerator,
        _ mode: String
    ) -> (keepAlive: LoadGenerator.Counts, newConnection: LoadGenerator.Counts, note: String) {
        usleep(300_000)
        let counts = load.stop()
        let keepAlive = counts[.keepAlive] ?? .init()
        let newConnection = counts[.newConnectionPerRequest] ?? .init()
        let note = "\(mode): keep-alive \(keepAlive), new connection \(newConnection)"
        #expect(keepAlive.failed == 0, "\(note)")
        #expect(newConnection.failed == 0, "\(note)")
        #expect(keepAlive.succeeded > 500, "\(note)")
        #expect(newConnection.succeeded > 100, "\(note)")
        return (keepAlive, newConnection, note)
    }

    /// The port a socket descriptor of a process is bound to.
    static func boundPort(pid: Int32, fd: Int32) -> UInt16? {
        guard let link = socketIdentity(pid: pid, fd: fd), link.hasPrefix("socket:["),
            let inode = UInt64(link.dropFirst(8).dropLast())
        else { return nil }
        return ListeningSocket.current().first { $0.inode == inode }?.port
    }

    @Test(
        "several addresses: in reuseport and shared mode they arrive as fd 3, 4 in order, named; in app mode in SUPERVISOR_LISTEN",
        arguments: ["reuseport", "shared", "app"])
    func severalAddresses(mode: String) throws {
        let web = try freePort()
        let admin = try freePort()
        let supervisor = try SupervisorHarness(
            [
                "--instances", "2", "--listen", "web=127.0.0.1:\(web)", "--listen", "admin=127.0.0.1:\(admin)",
                "--listen-mode", mode, "--", SupervisorHarness.releaseDemoServerPath,
            ]
                + (mode == "app" ? ["--port", String(web)] : []))
        try supervisor.waitUntilReady()
        for instance in try supervisor.status().instances {
            let pid = try #require(instance.pid)
            let environment = Self.listenEnvironment(pid: pid)
            #expect(try Self.environment(of: pid)["SUPERVISOR_LISTEN"] == "127.0.0.1:\(web),127.0.0.1:\(admin)")
            if mode == "app" {
                #expect(environment["LISTEN_FDS"] == nil)
                continue
            }
            #expect(environment["LISTEN_FDS"] == "2")
            #expect(environment["LISTEN_FDNAMES"] == "web:admin")
            #expect(Self.boundPort(pid: pid, fd: 3) == UInt16(web))
            #expect(Self.boundPort(pid: pid, fd: 4) == UInt16(admin))
        }
        let pids = try supervisor.readyPIDs()
        let ports = mode == "app" ? [web] : [web, admin]  // The demo server serves on every socket it is given.
        for port in ports {
            let answering = pidsAnswering(port: port, expected: pids)
            if mode == "shared" {
                // One accept queue for all: the kernel wakes whichever instance waits (often the same one when
                // requests come one at a time), so only "served, and by these instances" holds.
                #expect(!answering.isEmpty && answering.isSubset(of: pids), "port \(port): \(answering)")
            } else {
                #expect(answering == pids, "port \(port)")
            }
        }
    }

    @Test(
        "shared: a socket from systemd socket activation serves the --listen entry of the same name; the connection that activated it is answered"
    )
    func socketActivation() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness(
            [
                "--instances", "2", "--listen", "web=127.0.0.1:\(port)", "--listen-mode", "shared", "--",
                SupervisorHarness.releaseDemoServerPath,
            ],
            launcher: [
                "/usr/bin/systemd-socket-activate", "--listen=127.0.0.1:\(port)", "--fdname=web",
                "--setenv=NOTIFY_SOCKET",
            ])
        // systemd-socket-activate starts the supervisor on the first connection, which waits in the socket's queue.
        #expect(eventually { (try? RawHTTPConnection(port: port)) != nil })
        let first = try RawHTTPConnection(port: port).request(headers: ["Connection: close"], timeout: .seconds(30))
        #expect(first.status == 200)
        try supervisor.waitUntilReady()
        #expect(supervisor.log.contains("on the socket systemd passed as 'web'"))
        let activated = Self.socketIdentity(pid: supervisor.process.pid, fd: 3)
        #expect(activated?.hasPrefix("socket:[") == true)
        for pid in try supervisor.readyPIDs() {
            #expect(Self.socketIdentity(pid: pid, fd: 3) == activated)
        }
        #expect(try supervisor.cli("reload").exitCode == 0)
        for pid in try supervisor.readyPIDs(generation: 2) {
            #expect(Self.socketIdentity(pid: pid, fd: 3) == activated)
        }
    }
}
