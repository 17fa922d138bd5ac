import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DemoServerTests {
    @Test("Two instances bind the same port (SO_REUSEPORT) and both get new connections")
    func twoInstancesShareThePort() throws {
        let port = try freePort()
        let first = try ChildProcess(["--port", "\(port)"])
        let second = try ChildProcess(["--port", "\(port)"])
        try #require(first.waitUntilServing(port: port), "first not serving: \(first.output)")
        try #require(second.waitUntilServing(port: port), "second not serving: \(second.output)")
        var pids: [Int32: Int] = [:]
        for _ in 0..<50 {
            let response = try RawHTTPConnection(port: port).request(headers: ["Connection: close"])
            pids[response.pid ?? -1, default: 0] += 1
        }
        #expect(Set(pids.keys) == [first.pid, second.pid], "answered by \(pids)")
    }

    @Test("With LISTEN_FDS it serves on the inherited socket, which outlives it")
    func servesOnAnInheritedSocket() throws {
        let socket = try TCPListeningSocket(port: 0)
        // LISTEN_PID must be the server's pid: the shell knows its own and exec keeps it.
        let server = try ChildProcess(
            ["-c", "LISTEN_PID=$$ exec \"$0\" --version-string inherited", ChildProcess.demoServerPath],
            environment: ["LISTEN_FDS": "1", "LISTEN_FDNAMES": "web"],
            executable: "/bin/sh",
            descriptorsToPass: [socket.descriptor]
        )
        try #require(server.waitUntilServing(port: socket.port), "not serving: \(server.output)")
        let response = try RawHTTPConnection(port: socket.port).request()
        #expect(response.body.hasSuffix("version=inherited\n"))
        #expect(server.output.contains("listening on 127.0.0.1:\(socket.port)"), "\(server.output)")

        server.send(SIGTERM)
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(0), "\(server.output)")
        // The test's descriptor keeps the socket listening: a connection is queued, not refused.
        #expect(throws: Never.self) { _ = try RawHTTPConnection(port: socket.port) }
    }

    @Test("LISTEN_FDS meant for another process (LISTEN_PID) is ignored")
    func listenFdsForAnotherProcessIsIgnored() throws {
        let port = try freePort()
        let server = try ChildProcess(
            [],
            environment: ["LISTEN_FDS": "1", "LISTEN_PID": "1", "SUPERVISOR_LISTEN": "127.0.0.1:\(port)"]
        )
        #expect(server.waitUntilServing(port: port), "\(server.output)")
    }

    @Test("READY=1 with the address once listening; STOPPING=1 and draining status on SIGTERM")
    func notifiesReadinessAndStopping() throws {
        let port = try freePort()
        let notify = try NotifyReceiver()
        let server = try ChildProcess(["--port", "\(port)"], environment: ["NOTIFY_SOCKET": notify.path])
        let ready = notify.receive(containing: "READY=1", timeout: .seconds(10))
        #expect(ready?.contains("STATUS=listening on 127.0.0.1:\(port)") == true, "got \(ready ?? "nothing")")
        let connection = try RawHTTPConnection(port: port)
        #expect(try connection.request().status == 200, "serving once ready")

        server.send(SIGTERM)
        let stopping = notify.receive(containing: "STOPPING=1", timeout: .seconds(5))
        #expect(stopping?.contains("STATUS=draining: 1 connection") == true, "got \(stopping ?? "nothing")")
        connection.close()
        #expect(notify.receive(containing: "STATUS=drained", timeout: .seconds(5)) != nil)
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(0))
    }

    @Test("--never-ready serves but never sends READY=1")
    func neverReadyServesWithoutReady() throws {
        let port = try freePort()
        let notify = try NotifyReceiver()
        let server = try ChildProcess(
            ["--port", "\(port)", "--never-ready"],
            environment: ["NOTIFY_SOCKET": notify.path]
        )
        #expect(server.waitUntilServing(port: port), "\(server.output)")
        #expect(notify.receive(containing: "READY=1", timeout: .seconds(1)) == nil)
    }
}
