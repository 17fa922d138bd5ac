import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's HTTP endpoint over real HTTP: status codes and bodies in steady state, during a rollout, after a
/// rollback and at stop; `/metrics` as Prometheus text whose counters move.
extension SupervisorTests {
    /// `GET path` on the health port.
    static func get(_ port: Int, _ path: String, method: String = "GET") throws -> RawHTTPResponse {
        try RawHTTPConnection(port: port).request(
            method: method, path: path, headers: ["Connection: close"], timeout: .seconds(5))
    }

    /// The samples of a Prometheus text exposition, by series (`name{labels}`); fails on any line that is not a
    /// comment or `series value`.
    static func prometheusSamples(_ text: String) throws -> [String: Double] {
        var samples: [String: Double] = [:]
        for line in text.split(separator: "\n") where !line.hasPrefix("#") {
            guard let space = line.lastIndex(of: " "), let value = Double(line[line.index(after: space)...]) else {
                throw HarnessError("not a Prometheus sample line: \(line)")
            }
            let series = String(line[..<space])
            guard
                series.range(
                    of: #"^[a-zA-Z_:][a-zA-Z0-9_:]*(\{([a-zA-Z_][a-zA-Z0-9_]*="[^"]*",?)*\})?$"#,
                    options: .regularExpression) != nil
            else { throw HarnessError("not a Prometheus series: \(series)") }
            samples[series] = value
        }
        return samples
    }

    static func metrics(_ port: Int) throws -> [String: Double] {
        let response = try get(port, "/metrics")
        guard response.status == 200, response.header("Content-Type")?.hasPrefix("text/plain; version=0.0.4") == true
        else { throw HarnessError("/metrics answered \(response.status): \(response.body)") }
        return try prometheusSamples(response.body)
    }

    @Test("health endpoint in steady state: /healthz, /readyz, /status, /metrics, 404 and 405")
    func healthEndpointSteadyState() throws {
        let port = try freePort()
        let health = try freePort()
        let supervisor = try Self.startDemo(port: port, extra: ["--health", "127.0.0.1:\(health)"])
        let healthz = try Self.get(health, "/healthz")
        #expect(healthz.status == 200)
        #expect(healthz.body == "alive: event loop answering, 2 instances ready\n")
        let readyz = try Self.get(health, "/readyz")
        #expect(readyz.status == 200)
        #expect(readyz.body == "ready: 2 instances ready (min-ready 1), generation 1\n")

        let status = try Self.get(health, "/status")
        #expect(status.status == 200)
        #expect(status.header("Content-Type") == "application/json")
        let report = try JSONDecoder().decode(StatusReport.self, from: Data(status.body.utf8))
        #expect(report.version == SupervisorVersion.current)
        #expect(report.supervisorPID == supervisor.process.pid)
        #expect(report.generation == 1)
        #expect(report.listen == ["127.0.0.1:\(port)"])
        #expect(report.instances.count == 2)
        #expect(report.lastResult?.result == "started")

        let samples = try Self.metrics(health)
        #expect(samples["supervisor_generation"] == 1)
        #expect(samples[#"supervisor_instances{state="ready"}"#] == 2)
        #expect(samples[#"supervisor_reloads_total{result="completed"}"#] == 0)
        #expect(samples["supervisor_time_to_ready_seconds_count"] == 2)

        #expect(try Self.get(health, "/nope").status == 404)
        let post = try Self.get(health, "/status", method: "POST")
        #expect(post.status == 405)
        #expect(post.header("Allow") == "GET, HEAD")
    }

    @Test("health endpoint during a rollout and after a rollback: /readyz stays 200, /status and /metrics tell")
    func healthEndpointAcrossRollouts() throws {
        let port = try freePort()
        let health = try freePort()
        let (supervisor, config) = try Self.startFromConfig(
            port: port, extraTOML: "health = \"127.0.0.1:\(health)\"")
        try Self.writeConfig(
            config, port: port, extraTOML: "health = \"127.0.0.1:\(health)\"",
            serverArguments: ["--startup-delay", "1500"])
        let reload = try ChildProcess(
            ["reload", "--control-socket", supervisor.controlSocket], executable: SupervisorHarness.supervisorPath)
        #expect(eventually { (try? supervisor.status().rollout) != nil })
        let during = try Self.get(health, "/readyz")
        #expect(during.status == 200, "the old generation serves during the rollout")
        let status = try JSONDecoder().decode(StatusReport.self, from: Data(try Self.get(health, "/status").body.utf8))
        #expect(status.rollout?.to == 2)
        #expect(reload.waitForExit(timeout: .seconds(20)) == .exited(0))
        var samples = try Self.metrics(health)
        #expect(samples[#"supervisor_reloads_total{result="completed"}"#] == 1)
        #expect(samples["supervisor_rollout_duration_seconds_count"] == 1)
        #expect(samples["supervisor_generation"] == 2)

        try Self.writeConfig(
            config, port: port, extraTOML: "health = \"127.0.0.1:\(health)\"", serverArguments: ["--fail-start"])
        #expect(try supervisor.cli("reload").exitCode == 1)
        let after = try Self.get(health, "/readyz")
        #expect(after.status == 200, "a rolled-back host keeps serving: \(after.body)")
        let last = try JSONDecoder().decode(StatusReport.self, from: Data(try Self.get(health, "/status").body.utf8))
            .lastResult
        #expect(last?.result == "rolled_back")
        #expect(last?.message.contains("rolled back to generation 2") == true)
        samples = try Self.metrics(health)
        #expect(samples[#"supervisor_reloads_total{result="rolled_back"}"#] == 1)
        #expect(samples["supervisor_rollout_duration_seconds_count"] == 2)
    }

    @Test("metrics count restarts and forced kills")
    func metricsCountRestartsAndKills() throws {
        let port = try freePort()
        let health = try freePort()
        let supervisor = try Self.startDemo(
            port: port, extra: ["--health", "127.0.0.1:\(health)", "--drain-timeout", "500ms"],
            serverArguments: ["--ignore-sigterm"])
        let victim = try #require(try supervisor.status().instances.first?.pid)
        kill(victim, SIGKILL)
        #expect(try eventually { try Self.metrics(health)["supervisor_instance_restarts_total"] == 1 })
        #expect(try eventually { try supervisor.readyPIDs().count == 2 })
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(try eventually(timeout: .seconds(5)) { try Self.metrics(health)["supervisor_forced_kills_total"] == 2 })
        #expect(try Self.metrics(health)["supervisor_drain_duration_seconds_count"] ?? 0 >= 2)
    }

    @Test("at stop /readyz turns 503 first and the instances keep serving for the shutdown delay")
    func shutdownDelay() throws {
        let port = try freePort()
        let health = try freePort()
        let supervisor = try Self.startDemo(
            port: port, extra: ["--health", "127.0.0.1:\(health)", "--shutdown-delay", "1500ms"])
        let pids = try supervisor.readyPIDs()
        supervisor.process.send(SIGTERM)
        #expect(eventually { (try? Self.get(health, "/readyz"))?.status == 503 })
        #expect(try Self.get(health, "/readyz").body == "not ready: shutting down\n")
        // Still serving while load balancers move away.
        #expect(pids.allSatisfy(isAlive))
        #expect(try RawHTTPConnection(port: port).request(headers: ["Connection: close"]).status == 200)
        #expect(supervisor.waitForExit(timeout: .seconds(10)) == .exited(0))
        #expect(supervisor.log.contains("stopping in 1.5 s: /readyz answers 503 meanwhile"))
    }

    @Test("/healthz and /readyz answer 503 while no instance is ready")
    func healthWhileNothingIsReady() throws {
        let port = try freePort()
        let health = try freePort()
        let supervisor = try SupervisorHarness(
            [
                "--instances", "1", "--listen", "127.0.0.1:\(port)", "--health", "127.0.0.1:\(health)", "--",
                SupervisorHarness.demoServerPath, "--port", String(port), "--never-ready",
            ])
        #expect(eventually { (try? Self.get(health, "/healthz")) != nil })
        let healthz = try Self.get(health, "/healthz")
        #expect(healthz.status == 503)
        #expect(healthz.body == "not alive: no instance is ready\n")
        let readyz = try Self.get(health, "/readyz")
        #expect(readyz.status == 503)
        #expect(readyz.body.hasPrefix("not ready: 0 instances ready, fewer than min-ready 1"))
        withExtendedLifetime(supervisor) {}
    }

    @Test("the health port is the supervisor's alone: a port in use is refused with its address")
    func healthPortInUse() throws {
        let occupied = try TCPListeningSocket(port: 0)
        let directory = try TemporaryDirectory.make()
        let result = try CommandResult.run(
            SupervisorHarness.supervisorPath,
            [
                "run", "--control-socket", "\(directory)/s.sock", "--health", "127.0.0.1:\(occupied.port)", "--",
                "/bin/sh", "-c", "systemd-notify --ready; exec sleep 300",
            ])
        #expect(result.exitCode == 1)
        #expect(result.stderr.contains("cannot serve the health endpoint on 127.0.0.1:\(occupied.port)"))
        withExtendedLifetime(occupied) {}
    }

    @Test("slow requests are cut off")
    func slowRequestsAreCutOff() throws {
        let port = try freePort()
        let health = try freePort()
        let supervisor = try Self.startDemo(port: port, extra: ["--health", "127.0.0.1:\(health)"])
        let slow = try RawHTTPConnection(port: health)
        try slow.send("GET /status HTTP/1.1\r\nHost: x\r\n")
        // Half a request head, then silence: the endpoint closes it instead of waiting forever.
        #expect(slow.waitForPeer(timeout: .seconds(10)) != .open)
        // It still answers others.
        #expect(try Self.get(health, "/readyz").status == 200)
        withExtendedLifetime(supervisor) {}
    }
}
