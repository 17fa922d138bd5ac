import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// Readiness and liveness probes beyond sd_notify: http, exec, the sd_notify watchdog.
extension SupervisorTests {
    @Test("--ready http: each instance is ready when its own admin port answers 2xx; a never-ready release rolls back")
    func readyByHTTP() throws {
        let port = try freePort()
        let admin = try freePort()
        let directory = try TemporaryDirectory.make()
        let config = "\(directory)/app.toml"
        let probe =
            "ready = \"http:http://127.0.0.1:{port}/health\"\nadmin-port-base = \(admin)\nready-timeout = \"2s\""
        try Self.writeConfig(config, port: port, extraTOML: probe, serverArguments: ["--startup-delay", "300"])
        let supervisor = try SupervisorHarness(["--config", config], directory: directory)
        try supervisor.waitUntilReady()
        let report = try supervisor.status()
        #expect(report.readiness == "http:http://127.0.0.1:{port}/health")
        for instance in report.instances {
            let pid = try #require(instance.pid)
            let environ = try Self.environment(of: pid)
            #expect(environ["SUPERVISOR_ADMIN_PORT"] == String(admin + instance.slot))
            #expect(
                instance.probe?.contains("ready probe: GET http://127.0.0.1:\(admin + instance.slot)/health: 200")
                    == true)
        }
        // While the old instance of a slot holds its admin port, the new one gets the slot's second port.
        #expect(try supervisor.cli("reload").exitCode == 0)
        for instance in try supervisor.status().instances {
            let pid = try #require(instance.pid)
            let environ = try Self.environment(of: pid)
            #expect(instance.generation == 2)
            #expect(environ["SUPERVISOR_ADMIN_PORT"] == String(admin + 2 + instance.slot))
        }
        let before = try supervisor.readyPIDs()
        try Self.writeConfig(config, port: port, extraTOML: probe, serverArguments: ["--never-ready"])
        let reload = try supervisor.cli("reload")
        #expect(reload.exitCode == 1)
        #expect(reload.stderr.contains("was not ready within 2 s; rolled back to generation 2"))
        #expect(try supervisor.readyPIDs() == before)
    }

    @Test("an http probe on the port every instance shares is refused, saying why")
    func probeOnServicePortIsRefused() throws {
        let result = try CommandResult.run(
            SupervisorHarness.supervisorPath,
            ["check", "--listen", "127.0.0.1:8080", "--ready", "http:http://127.0.0.1:8080/health", "--", "/bin/true"])
        #expect(result.exitCode == 1)
        #expect(
            result.stderr.contains("is the same URL for every instance, so it cannot tell one instance from another"))
        let templated = try CommandResult.run(
            SupervisorHarness.supervisorPath,
            [
                "check", "--instances", "2", "--listen", "127.0.0.1:8080", "--admin-port-base", "8079",
                "--ready", "http:http://127.0.0.1:{port}/health", "--", "/bin/true",
            ])
        #expect(templated.exitCode == 1)
        #expect(templated.stderr.contains("targets the service port 8080, which every instance shares"))
        let missingBase = try CommandResult.run(
            SupervisorHarness.supervisorPath,
            ["check", "--ready", "http:http://127.0.0.1:{port}/health", "--", "/bin/true"])
        #expect(missingBase.stderr.contains("uses {port}, which needs --admin-port-base"))
    }

    @Test("--ready exec: ready when the command exits 0, run with the instance's environment and SUPERVISOR_PID")
    func readyByExec() throws {
        let directory = try TemporaryDirectory.make()
        // No sd_notify at all: it only leaves a file behind after a while.
        let script = try writeScript(
            directory, "server.sh",
            """
            sleep 0.4
            echo $$ > \(directory)/ready-$SUPERVISOR_INSTANCE
            exec sleep 300
            """)
        let probe = "exec:test \"$(cat \(directory)/ready-$SUPERVISOR_INSTANCE)\" = \"$SUPERVISOR_PID\""
        let supervisor = try SupervisorHarness(
            ["--instances", "2", "--ready", probe, "--", script], directory: directory)
        try supervisor.waitUntilReady(timeout: .seconds(20))
        let report = try supervisor.status()
        #expect(report.instances.allSatisfy { $0.state == "ready" })
        #expect(report.instances.allSatisfy { $0.probe == "ready probe: exec probe exited with status 0" })
    }

    @Test("watchdog: WATCHDOG_USEC and WATCHDOG_PID are set; an instance that keeps pinging stays")
    func watchdogKeptAlive() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port, extra: ["--watchdog-sec", "600ms"])
        let before = try supervisor.readyPIDs()
        for pid in before {
            let environ = try Self.environment(of: pid)
            #expect(environ["WATCHDOG_USEC"] == "600000")
            #expect(environ["WATCHDOG_PID"] == String(pid))
        }
        usleep(2_000_000)
        #expect(try supervisor.readyPIDs() == before)
        #expect(try supervisor.status().instances.allSatisfy { $0.restarts == 0 && $0.unhealthy == nil })
        #expect(try supervisor.status().instances.allSatisfy { $0.probe?.hasPrefix("WATCHDOG=1 ") == true })
    }

    @Test(
        "watchdog: a hung instance (no more WATCHDOG=1) is replaced under load without a failed request",
        .enabled(if: SupervisorTests.isRoot, "needs root for a network namespace with tcp_migrate_req=1"))
    func hungInstanceIsReplacedUnderLoad() throws {
        let network = try #require(PrivateNetwork.make(tcpMigrateRequests: true))
        let supervisor = try SupervisorHarness(
            [
                "--instances", "2", "--listen", "127.0.0.1:8080", "--watchdog-sec", "500ms", "--",
                SupervisorHarness.releaseDemoServerPath, "--port", "8080", "--stop-watchdog-after", "1500",
            ],
            network: network)
        try supervisor.waitUntilReady()
        let first = try supervisor.readyPIDs()
        let load = LoadGenerator(port: 8080, network: network)
        load.start(3, .keepAlive)
        load.start(3, .newConnectionPerRequest)
        // Each instance stops pinging 1.5 s after it starts: it is replaced, and so is its replacement, and so on.
        #expect(
            try eventually(timeout: .seconds(15)) {
                try supervisor.status().instances.filter { $0.state == "ready" }.allSatisfy { !first.contains($0.pid!) }
                    && first.allSatisfy { !isAlive($0) }
            })
        let counts = load.stop()
        let keepAlive = counts[.keepAlive] ?? .init()
        let newConnection = counts[.newConnectionPerRequest] ?? .init()
        #expect(keepAlive.failed == 0, "\(keepAlive)")
        #expect(newConnection.failed == 0, "\(newConnection)")
        #expect(keepAlive.succeeded > 100 && newConnection.succeeded > 50)
        #expect(supervisor.log.contains("sent no WATCHDOG=1 for"))
        #expect(supervisor.log.contains("it keeps serving until its replacement is ready"))
        #expect(try supervisor.status().instances.contains { $0.restarts >= 1 })
    }

    @Test("WATCHDOG=trigger gets the instance replaced")
    func watchdogTrigger() throws {
        let directory = try TemporaryDirectory.make()
        let script = try writeScript(
            directory, "server.sh",
            """
            systemd-notify --ready
            if [ ! -e \(directory)/triggered ]; then
                touch \(directory)/triggered
                sleep 0.3
                systemd-notify WATCHDOG=trigger
            fi
            exec sleep 300
            """)
        let supervisor = try SupervisorHarness(["--instances", "1", "--", script], directory: directory)
        try supervisor.waitUntilReady()
        let first = try #require(try supervisor.readyPIDs().first)
        #expect(try eventually { try supervisor.readyPIDs().count == 1 && !supervisor.readyPIDs().contains(first) })
        #expect(supervisor.log.contains("asked to be treated as hung (WATCHDOG=trigger)"))
        #expect(eventually { !isAlive(first) })
    }

    @Test("--liveness http: an instance failing its probe threshold times in a row is replaced; healthy ones stay")
    func livenessProbe() throws {
        let port = try freePort()
        let admin = try freePort()
        let directory = try TemporaryDirectory.make()
        let config = "\(directory)/app.toml"
        let probes = """
            admin-port-base = \(admin)
            liveness = "http:http://127.0.0.1:{port}/health"
            liveness-interval = "200ms"
            liveness-threshold = 2
            """
        try Self.writeConfig(config, port: port, extraTOML: probes, serverArguments: [])
        let supervisor = try SupervisorHarness(["--config", config], directory: directory)
        try supervisor.waitUntilReady()
        usleep(1_000_000)
        let healthy = try supervisor.status()
        #expect(healthy.instances.allSatisfy { $0.restarts == 0 })
        #expect(healthy.instances.allSatisfy { $0.probe?.contains("liveness: GET http://127.0.0.1:") == true })

        try Self.writeConfig(config, port: port, extraTOML: probes, serverArguments: ["--unhealthy-after", "800"])
        #expect(try supervisor.cli("reload").exitCode == 0)
        let sick = try supervisor.readyPIDs(generation: 2)
        #expect(
            try eventually(timeout: .seconds(10)) {
                try sick.allSatisfy { !isAlive($0) } && supervisor.readyPIDs(generation: 2).count == 2
            })
        #expect(supervisor.log.contains("failed its liveness probe 2 times in a row"))
    }
}
