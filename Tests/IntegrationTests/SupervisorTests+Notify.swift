import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

extension SupervisorTests {
    @Test("a shell script that uses systemd-notify --ready works unchanged, and its STATUS= shows in status")
    func systemdNotifyFromShell() throws {
        let directory = try TemporaryDirectory.make()
        let script = try writeScript(
            directory, "server.sh",
            """
            systemd-notify --ready --status="warm and serving"
            exec sleep 300
            """)
        let supervisor = try SupervisorHarness(["--instances", "1", "--", script], directory: directory)
        try supervisor.waitUntilReady(timeout: .seconds(20))
        let instance = try supervisor.status().instances.first
        #expect(instance?.state == "ready")
        #expect(instance?.status == "warm and serving")
    }

    @Test("a notify message from a process outside the instance is dropped and logged")
    func spoofedNotifyIsIgnored() throws {
        let directory = try TemporaryDirectory.make()
        // Publishes its notify socket, then never says READY=1 itself.
        let script = try writeScript(
            directory, "server.sh",
            """
            echo "$NOTIFY_SOCKET" > \(directory)/socket-path
            exec sleep 300
            """)
        let supervisor = try SupervisorHarness(
            ["--instances", "1", "--ready-timeout", "3s", "--", script], directory: directory)
        #expect(eventually { FileManager.default.fileExists(atPath: "\(directory)/socket-path") })
        let path = try String(contentsOfFile: "\(directory)/socket-path", encoding: .utf8)
            .trimmingCharacters(in: .whitespacesAndNewlines)
        // This test process is not part of the instance: READY=1 from here must not count.
        try sendDatagram("READY=1", to: path)

        #expect(supervisor.waitForExit(timeout: .seconds(10)) == .exited(1))
        #expect(supervisor.waitForSystemd("READY=1", timeout: .milliseconds(100)) == nil)
        #expect(supervisor.log.contains("dropped a notify message for instance #0"))
        #expect(supervisor.log.contains("its sender (pid \(getpid())"))
        #expect(supervisor.log.contains("is not part of the instance"))
        #expect(supervisor.log.contains("was not ready within 3 s"))
    }

    @Test("--ready listen: a program that does not speak sd_notify is ready once it listens on the port")
    func readyByListening() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness(
            [
                "--instances", "2", "--listen", "127.0.0.1:\(port)", "--ready", "listen", "--",
                SupervisorHarness.demoServerPath, "--port", String(port), "--never-ready", "--startup-delay", "500",
            ])
        try supervisor.waitUntilReady()
        let pids = try supervisor.readyPIDs()
        #expect(pids.count == 2)
        // Ready means serving: both answer at once.
        #expect(pidsAnswering(port: port, expected: pids, attempts: 100) == pids)
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 0, "\(reload.stderr)")
        #expect(try supervisor.readyPIDs(generation: 2).count == 2)
    }

    /// Sends one datagram to a path-bound Unix socket from this process.
    private func sendDatagram(_ text: String, to path: String) throws {
        let fd = socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let bytes = Array(text.utf8)
        let sent = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                sendto(fd, bytes, bytes.count, 0, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard sent == bytes.count else { throw HarnessError("sendto \(path) failed: errno \(errno)") }
    }
}

extension SupervisorTests {
    @Test("under systemd's watchdog (WATCHDOG_USEC) the supervisor pings from its loop; a stopped loop pings no more")
    func systemdWatchdog() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness(
            ["--instances", "1", "--", SupervisorHarness.demoServerPath, "--port", String(port)],
            environment: ["WATCHDOG_USEC": "400000"])
        try supervisor.waitUntilReady()
        // Every 200 ms: at least 4 pings in 1.5 s.
        var pings = 0
        let deadline = ContinuousClock.now + .milliseconds(1500)
        while ContinuousClock.now < deadline, supervisor.waitForSystemd("WATCHDOG=1", timeout: deadline - .now) != nil {
            pings += 1
        }
        #expect(pings >= 4, "\(pings) pings")
        #expect(supervisor.log.contains("systemd watchdog: sending WATCHDOG=1 every 0.2 s"))

        // A loop that does not turn sends nothing, which is what lets systemd restart a hung supervisor.
        kill(supervisor.process.pid, SIGSTOP)
        defer { kill(supervisor.process.pid, SIGCONT) }
        usleep(300_000)
        while supervisor.waitForSystemd("WATCHDOG=1", timeout: .milliseconds(50)) != nil {}
        #expect(supervisor.waitForSystemd("WATCHDOG=1", timeout: .seconds(1)) == nil)
        kill(supervisor.process.pid, SIGCONT)
        #expect(supervisor.waitForSystemd("WATCHDOG=1", timeout: .seconds(2)) != nil)
    }

    @Test("at stop the supervisor asks systemd for the shutdown delay plus the drain timeout (EXTEND_TIMEOUT_USEC)")
    func extendTimeoutAtStop() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness([
            "--instances", "1", "--drain-timeout", "7s", "--shutdown-delay", "500ms", "--",
            SupervisorHarness.demoServerPath, "--port", String(port),
        ])
        try supervisor.waitUntilReady()
        #expect(supervisor.waitForSystemd("EXTEND_TIMEOUT_USEC=12500000", timeout: .milliseconds(300)) == nil)
        supervisor.process.send(SIGTERM)
        // 0.5 s delay + 7 s drain + 5 s to kill, reap and exit.
        #expect(supervisor.waitForSystemd("EXTEND_TIMEOUT_USEC=12500000", timeout: .seconds(5)) != nil)
        // Once the delay is over, the drain itself gets its budget again.
        #expect(supervisor.waitForSystemd("EXTEND_TIMEOUT_USEC=12000000", timeout: .seconds(5)) != nil)
        #expect(supervisor.waitForExit() == .exited(0))
    }
}
