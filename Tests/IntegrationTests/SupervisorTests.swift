import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// End-to-end tests with real processes, sockets and signals. One at a time: they share the machine's two cores,
/// and timing-sensitive steps (drain timeouts) must not starve.
@Suite("supervisor, end to end", .serialized, .timeLimit(.minutes(2)))
struct SupervisorTests {
    /// `supervisor run` with two demo-server instances on a free port.
    static func startDemo(
        instances: Int = 2,
        port: Int,
        extra: [String] = [],
        serverArguments: [String] = []
    ) throws -> SupervisorHarness {
        let supervisor = try SupervisorHarness(
            ["--instances", String(instances), "--listen", "127.0.0.1:\(port)"] + extra
                + ["--", SupervisorHarness.demoServerPath, "--port", String(port)] + serverArguments)
        try supervisor.waitUntilReady()
        return supervisor
    }

    @Test("run starts N instances; all become ready and all answer on the shared port")
    func startsAllInstances() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        let report = try supervisor.status()
        #expect(report.generation == 1)
        #expect(report.instances.count == 2)
        #expect(report.instances.allSatisfy { $0.state == "ready" && $0.generation == 1 })
        #expect(Set(report.instances.map(\.slot)) == [0, 1])
        let pids = Set(report.instances.compactMap(\.pid))
        #expect(pids.count == 2)
        #expect(pidsAnswering(port: port, expected: pids) == pids)
        // The table form names every column.
        let table = try supervisor.cli("status")
        #expect(table.exitCode == 0)
        #expect(table.stdout.contains("SLOT  PID"))
        #expect(table.stdout.contains("READY SINCE"))
    }

    @Test("reload replaces every pid, increments the generation, and tells systemd RELOADING=1 then READY=1")
    func reloadReplacesEveryPID() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        let before = try supervisor.readyPIDs()

        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 0, "\(reload.stderr)")
        #expect(reload.stdout.contains("rolling out generation 2"))
        #expect(reload.stdout.contains("generation 2 is serving: 2/2 instances ready"))

        let report = try supervisor.status()
        #expect(report.generation == 2)
        let after = try supervisor.readyPIDs(generation: 2)
        #expect(after.count == 2)
        #expect(after.isDisjoint(with: before))
        #expect(eventually { before.allSatisfy { !isAlive($0) } })
        let reloading = supervisor.waitForSystemd("RELOADING=1", timeout: .seconds(5))
        #expect(reloading?.contains("MONOTONIC_USEC=") == true)
        #expect(supervisor.waitForSystemd("READY=1", timeout: .seconds(5)) != nil)
        let response = try RawHTTPConnection(port: port).request(headers: ["Connection: close"])
        #expect(response.body.contains("generation=2"))
    }

    @Test("SIGHUP reloads like `supervisor reload`")
    func sighupReloads() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        supervisor.process.send(SIGHUP)
        #expect(try eventually { try supervisor.readyPIDs(generation: 2).count == 2 })
    }

    @Test("reloads asked for during a rollout are coalesced, and every caller learns the outcome")
    func concurrentReloads() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port, serverArguments: ["--startup-delay", "300"])
        let results = try (0..<3).map { _ in
            try ChildProcess(
                ["reload", "--control-socket", supervisor.controlSocket], executable: SupervisorHarness.supervisorPath)
        }
        for reload in results {
            #expect(reload.waitForExit(timeout: .seconds(30)) == .exited(0), "\(reload.output)")
            #expect(reload.output.contains("is serving: 2/2 instances ready"))
        }
        let generation = try supervisor.status().generation ?? 0
        #expect(generation >= 2 && generation <= 3)
    }

    @Test("supervisor stop drains everything and the supervisor exits 0")
    func stopCommand() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port)
        let pids = try supervisor.readyPIDs()
        let stop = try supervisor.cli("stop")
        #expect(stop.exitCode == 0)
        #expect(stop.stdout.contains("stopped"))
        #expect(supervisor.waitForExit() == .exited(0))
        #expect(
            supervisor.systemdMessages.joined().contains("STOPPING=1")
                || supervisor.waitForSystemd("STOPPING=1", timeout: .seconds(1)) != nil)
        #expect(pids.allSatisfy { !isAlive($0) })
    }
}
