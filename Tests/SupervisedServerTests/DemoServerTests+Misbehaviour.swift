import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DemoServerTests {
    @Test("--fail-start prints why on stderr and exits 2 without listening")
    func failStartExitsTwo() throws {
        let port = try freePort()
        let server = try ChildProcess(["--port", "\(port)", "--fail-start"])
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(2))
        #expect(server.output.contains("failing at start as asked (--fail-start)"), "\(server.output)")
        #expect(!server.output.contains("listening on"))
    }

    @Test("--ignore-sigterm logs the SIGTERM and keeps serving")
    func ignoreSigtermKeepsServing() throws {
        let port = try freePort()
        let server = try ChildProcess(["--port", "\(port)", "--ignore-sigterm"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let connection = try RawHTTPConnection(port: port)
        #expect(try connection.request().status == 200)

        server.send(SIGTERM)
        #expect(server.waitForOutput(containing: "ignored"), "\(server.output)")
        usleep(300_000)
        #expect(server.isRunning)
        let response = try connection.request()
        #expect(response.status == 200)
        #expect(!response.closesConnection, "not draining")
        #expect(try RawHTTPConnection(port: port).request().status == 200, "still accepting")

        server.send(SIGKILL)
        #expect(server.waitForExit(timeout: .seconds(5)) == .signaled(SIGKILL))
    }

    @Test("--startup-delay delays binding")
    func startupDelayDelaysBinding() throws {
        let port = try freePort()
        let start = ContinuousClock.now
        let server = try ChildProcess(["--port", "\(port)", "--startup-delay", "700"])
        usleep(300_000)
        #expect(throws: PosixError.self) { _ = try RawHTTPConnection(port: port) }
        #expect(server.waitUntilServing(port: port), "\(server.output)")
        #expect(ContinuousClock.now - start > .milliseconds(650))
    }
}
