import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DemoServerTests {
    /// `GET /health` on the admin port, on a connection of its own.
    private func health(port: Int) throws -> RawHTTPResponse {
        try RawHTTPConnection(port: port).request(path: "/health", headers: ["Connection: close"])
    }

    /// Waits until the admin port answers `/health` with `status`; returns the last response, if any.
    private func waitForHealth(port: Int, status: Int, timeout: Duration = .seconds(10)) -> RawHTTPResponse? {
        let deadline = ContinuousClock.now + timeout
        var last: RawHTTPResponse?
        while ContinuousClock.now < deadline {
            last = try? health(port: port)
            if last?.status == status { return last }
            usleep(20_000)
        }
        return last
    }

    @Test("--admin-port: GET /health answers 200 with the pid; other paths 404")
    func adminPortAnswersHealth() throws {
        let port = try freePort()
        let adminPort = try freePort()
        let server = try ChildProcess(
            ["--port", "\(port)", "--admin-port", "\(adminPort)"],
            environment: ["SUPERVISOR_GENERATION": "3", "SUPERVISOR_INSTANCE": "1"]
        )
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let response = try #require(waitForHealth(port: adminPort, status: 200), "\(server.output)")
        #expect(response.status == 200)
        #expect(response.body == "ok pid=\(server.pid) generation=3 instance=1\n")
        #expect(response.pid == server.pid)
        #expect(try RawHTTPConnection(port: adminPort).request(path: "/").status == 404)
        #expect(try RawHTTPConnection(port: port).request(path: "/health").status == 404, "not on the main port")
    }

    @Test("SUPERVISOR_ADMIN_PORT opens the admin port like --admin-port")
    func adminPortFromTheEnvironment() throws {
        let port = try freePort()
        let adminPort = try freePort()
        let server = try ChildProcess(["--port", "\(port)"], environment: ["SUPERVISOR_ADMIN_PORT": "\(adminPort)"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        #expect(waitForHealth(port: adminPort, status: 200)?.pid == server.pid, "\(server.output)")
    }

    @Test("The admin port is exclusive: a second instance with the same admin port exits 1, the first serves on")
    func adminPortIsExclusive() throws {
        let port = try freePort()
        let adminPort = try freePort()
        let first = try ChildProcess(["--port", "\(port)", "--admin-port", "\(adminPort)"])
        try #require(first.waitUntilServing(port: port), "not serving: \(first.output)")
        try #require(waitForHealth(port: adminPort, status: 200) != nil, "\(first.output)")

        let second = try ChildProcess(["--port", "\(port)", "--admin-port", "\(adminPort)"])
        #expect(second.waitForExit(timeout: .seconds(10)) == .exited(1), "\(second.output)")
        #expect(second.output.contains("cannot listen on 127.0.0.1:\(adminPort)"), "\(second.output)")
        #expect(try health(port: adminPort).pid == first.pid)
        for _ in 0..<10 {
            #expect(try RawHTTPConnection(port: port).request(headers: ["Connection: close"]).pid == first.pid)
        }
    }

    @Test("--unhealthy-after turns /health to 503 while the main port still serves")
    func unhealthyAfterTurnsHealthTo503() throws {
        let port = try freePort()
        let adminPort = try freePort()
        let start = ContinuousClock.now
        let server = try ChildProcess([
            "--port", "\(port)", "--admin-port", "\(adminPort)", "--unhealthy-after", "1500",
        ])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        #expect(waitForHealth(port: adminPort, status: 200) != nil, "healthy first; \(server.output)")
        #expect(ContinuousClock.now - start < .milliseconds(1400), "checked before the switch")

        let unhealthy = try #require(waitForHealth(port: adminPort, status: 503), "\(server.output)")
        #expect(unhealthy.status == 503)
        #expect(unhealthy.body.hasPrefix("unhealthy pid=\(server.pid) "))
        #expect(server.output.contains("--unhealthy-after"), "\(server.output)")
        let main = try RawHTTPConnection(port: port).request()
        #expect(main.status == 200)
        #expect(main.pid == server.pid)
    }

    @Test("--never-ready: /health answers 503 not ready, while the main port serves")
    func neverReadyHealthIs503() throws {
        let port = try freePort()
        let adminPort = try freePort()
        let server = try ChildProcess(["--port", "\(port)", "--admin-port", "\(adminPort)", "--never-ready"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let response = try #require(waitForHealth(port: adminPort, status: 503), "\(server.output)")
        #expect(response.body.hasPrefix("not ready pid=\(server.pid) "))
        usleep(500_000)
        #expect(try health(port: adminPort).status == 503, "still not ready")
    }

    @Test("--startup-delay delays the admin port too, and it never comes up before the main port")
    func adminPortComesUpWithTheMainPort() throws {
        let port = try freePort()
        let adminPort = try freePort()
        let server = try ChildProcess(
            ["--port", "\(port)", "--admin-port", "\(adminPort)", "--startup-delay", "700"]
        )
        usleep(300_000)
        #expect(throws: PosixError.self) { _ = try RawHTTPConnection(port: adminPort) }
        // Whenever /health answers, the main port already serves.
        let deadline = ContinuousClock.now + .seconds(10)
        var healthy = false
        while !healthy, ContinuousClock.now < deadline {
            healthy = (try? health(port: adminPort).status) == 200
            if healthy {
                #expect(try RawHTTPConnection(port: port).request().pid == server.pid)
            } else {
                usleep(5_000)
            }
        }
        #expect(healthy, "\(server.output)")
    }

    @Test("SIGTERM: the admin port closes with the drain and the process exits 0")
    func adminPortClosesWithTheDrain() throws {
        let port = try freePort()
        let adminPort = try freePort()
        let server = try ChildProcess(["--port", "\(port)", "--admin-port", "\(adminPort)", "--drain-grace", "2000"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        try #require(waitForHealth(port: adminPort, status: 200) != nil, "\(server.output)")
        let idle = try RawHTTPConnection(port: port)
        #expect(try idle.request().status == 200)

        server.send(SIGTERM)
        try #require(server.waitForOutput(containing: "draining:"), "\(server.output)")
        #expect(server.isRunning, "the idle main connection keeps the drain going")
        #expect {
            _ = try RawHTTPConnection(port: adminPort)
        } throws: { error in
            (error as? PosixError)?.errno == ECONNREFUSED
        }
        idle.close()
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(0), "\(server.output)")
    }
}
