import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// What a drain waits for: the live connections of each instance, counted from `/proc` and the kernel, in `status`,
/// `/status`, `/metrics`, and in the progress of a reload that waits for its drains.
extension SupervisorTests {
    /// One release demo-server instance in reuseport mode that keeps idle connections open `grace` ms once draining.
    static func startHoldingConnections(
        grace: Int,
        port: Int,
        extra: [String] = []
    ) throws -> SupervisorHarness {
        try startInMode(
            "reuseport", instances: 1, port: port,
            extra: extra, command: [SupervisorHarness.releaseDemoServerPath, "--drain-grace", String(grace)])
    }

    @Test("a keep-alive connection is counted for its instance in status, /status and supervisor_connections")
    func connectionsAreCounted() throws {
        let port = try freePort()
        let health = try freePort()
        let supervisor = try Self.startHoldingConnections(
            grace: 1000, port: port, extra: ["--health", "127.0.0.1:\(health)"])
        #expect(try supervisor.status().instances.first?.connections == 0)
        let held = try (0..<3).map { _ in try RawHTTPConnection(port: port) }
        for connection in held { #expect(try connection.request(timeout: .seconds(5)).status == 200) }

        #expect(try supervisor.status().instances.first?.connections == 3)
        let table = try supervisor.cli("status")
        #expect(table.stdout.contains("CONNS"))
        let body = try Self.get(health, "/status").body
        let report = try JSONDecoder().decode(StatusReport.self, from: Data(body.utf8))
        #expect(report.instances.first?.connections == 3, "the health port's own connection is not counted")
        let samples = try Self.metrics(health)
        #expect(samples["supervisor_connections{role=\"serving\"}"] == 3)
        #expect(samples["supervisor_connections{role=\"draining\"}"] == 0)
        held[0].close()
        #expect(eventually { (try? supervisor.status().instances.first?.connections) == 2 })
    }

    /// How many connection counts the supervisor logged (at debug level).
    private static func censusLines(in log: String) -> Int {
        log.components(separatedBy: "connection census: ").count - 1
    }

    @Test("a drain that ends before the census is due is never counted: no count of every instance a second later")
    func shortDrainIsNotCounted() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(port: port, extra: ["--verbose"])
        let before = try supervisor.readyPIDs()
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(eventually(timeout: .seconds(5)) { before.allSatisfy { !isAlive($0) } })
        // `status` counts on request (readyPIDs above did), so the log's counts so far are not the drain's. The
        // drain census was scheduled for a second after the drain began, and comes due with nothing draining.
        let counts = Self.censusLines(in: supervisor.log)
        Thread.sleep(forTimeInterval: 1.5)
        #expect(Self.censusLines(in: supervisor.log) == counts, "\(supervisor.log)")
    }

    @Test("reload --wait-drained shows a held keep-alive connection on the draining instance, then its drain")
    func drainProgressCountsHeldConnection() throws {
        let port = try freePort()
        let supervisor = try Self.startHoldingConnections(grace: 2500, port: port)
        let old = try #require(try supervisor.readyPIDs().first)
        let held = try RawHTTPConnection(port: port)
        #expect(try held.request(timeout: .seconds(5)).status == 200)

        let reload = try supervisor.cli("reload", ["--wait-drained"])
        #expect(reload.exitCode == 0, "\(reload.stderr)")
        #expect(reload.stdout.contains("(pid \(old), generation 1) draining: 1 connection open"), "\(reload.stdout)")
        #expect(reload.stdout.contains("(pid \(old), generation 1) drained in"))
        #expect(reload.stdout.contains("1 earlier instance drained in 2."), "the grace held it: \(reload.stdout)")
        #expect(!isAlive(old), "the reload returned only once the old instance had exited")
        #expect(supervisor.log.contains("(pid \(old), generation 1) draining: 1 connection open"))
    }

    @Test("at the drain timeout the log says how many connections SIGKILL cuts")
    func drainTimeoutNamesHeldConnections() throws {
        let port = try freePort()
        let supervisor = try Self.startHoldingConnections(grace: 10_000, port: port, extra: ["--drain-timeout", "1s"])
        let old = try #require(try supervisor.readyPIDs().first)
        let held = try (0..<2).map { _ in try RawHTTPConnection(port: port) }
        for connection in held { #expect(try connection.request(timeout: .seconds(5)).status == 200) }
        let reload = try supervisor.cli("reload", ["--wait-drained"])
        #expect(reload.exitCode == 0)
        let line = "(pid \(old), generation 1) has 2 connections still open after 1 s of SIGTERM: SIGKILL"
        #expect(reload.stdout.contains(line), "\(reload.stdout)")
        #expect(
            reload.stdout.contains("1 of 1 earlier instance got SIGKILL at the drain timeout, holding 2 connections"))
        #expect(supervisor.log.contains(line))
    }
}
