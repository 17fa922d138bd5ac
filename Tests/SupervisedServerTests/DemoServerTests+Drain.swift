import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DemoServerTests {
    @Test("SIGTERM: a request on an idle keep-alive connection within the grace gets a Connection: close answer")
    func requestWithinGraceIsAnsweredWithConnectionClose() throws {
        let port = try freePort()
        let server = try ChildProcess(["--port", "\(port)", "--drain-grace", "3000"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let connection = try RawHTTPConnection(port: port)
        #expect(try !connection.request().closesConnection)

        server.send(SIGTERM)
        try #require(server.waitForOutput(containing: "draining:"), "no drain: \(server.output)")
        let response = try connection.request()
        #expect(response.status == 200)
        #expect(response.pid == server.pid)
        #expect(response.closesConnection, "headers: \(response.headers)")
        #expect(connection.waitForPeer(timeout: .seconds(2)) == .closed, "the server closes after the response")
        connection.close()
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(0), "\(server.output)")
        #expect(server.output.contains("drained, exiting"))
    }

    @Test("SIGTERM: idle connections stay open for about the grace, then are closed (FIN, not reset)")
    func idleConnectionsAreClosedAfterTheGrace() throws {
        let port = try freePort()
        let grace = Duration.milliseconds(1500)
        let server = try ChildProcess(["--port", "\(port)", "--drain-grace", "1500"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let usedConnection = try RawHTTPConnection(port: port)
        #expect(try usedConnection.request().status == 200)
        let silentConnection = try RawHTTPConnection(port: port)
        // The server must have accepted the silent connection before the drain, or it might sit in the backlog.
        #expect(try RawHTTPConnection(port: port).request(headers: ["Connection: close"]).status == 200)

        server.send(SIGTERM)
        try #require(server.waitForOutput(containing: "draining:"), "no drain: \(server.output)")
        let drainStart = ContinuousClock.now
        #expect(usedConnection.waitForPeer(timeout: grace / 3) == .open, "closed before a third of the grace")
        #expect(silentConnection.waitForPeer(timeout: .zero) == .open, "closed before a third of the grace")
        #expect(usedConnection.waitForPeer(timeout: .seconds(5)) == .closed)
        #expect(silentConnection.waitForPeer(timeout: .seconds(1)) == .closed)
        let closedAfter = ContinuousClock.now - drainStart
        #expect(closedAfter > grace * 0.7, "closed after \(closedAfter), grace \(grace)")
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(0), "\(server.output)")
    }

    @Test("SIGTERM: the listener is closed at once, so new connections are refused")
    func newConnectionsAreRefusedWhileDraining() throws {
        let port = try freePort()
        let server = try ChildProcess(["--port", "\(port)", "--drain-grace", "3000"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let idle = try RawHTTPConnection(port: port)
        #expect(try idle.request().status == 200)

        server.send(SIGTERM)
        try #require(server.waitForOutput(containing: "draining:"), "no drain: \(server.output)")
        #expect(server.isRunning, "the idle connection keeps the drain going")
        #expect {
            _ = try RawHTTPConnection(port: port)
        } throws: { error in
            (error as? PosixError)?.errno == ECONNREFUSED
        }
        idle.close()
        #expect(server.waitForExit(timeout: .seconds(5)) == .exited(0), "the client's close ends the drain")
    }

    @Test("SIGTERM: a request whose body is still arriving is answered with Connection: close, whatever the grace")
    func requestInFlightIsAnswered() throws {
        let port = try freePort()
        let server = try ChildProcess(["--port", "\(port)", "--drain-grace", "100"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let connection = try RawHTTPConnection(port: port)
        try connection.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n01234")

        server.send(SIGTERM)
        try #require(server.waitForOutput(containing: "draining: 1 connection"), "\(server.output)")
        usleep(500_000)  // five times the grace: an idle connection would be closed by now
        try connection.send("56789")
        let response = try connection.readResponse()
        #expect(response.status == 200)
        #expect(response.closesConnection)
        #expect(connection.waitForPeer(timeout: .seconds(2)) == .closed)
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(0), "\(server.output)")
    }

    @Test("SIGTERM: the deadline closes a connection that never completes its request, and the exit is still 0")
    func deadlineClosesWhatIsLeft() throws {
        let port = try freePort()
        let server = try ChildProcess(["--port", "\(port)", "--drain-grace", "100", "--drain-deadline", "1"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let connection = try RawHTTPConnection(port: port)
        try connection.send("GET / HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Length: 10\r\n\r\n01234")
        usleep(100_000)

        let start = ContinuousClock.now
        server.send(SIGTERM)
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(0), "\(server.output)")
        let took = ContinuousClock.now - start
        #expect(took > .milliseconds(900) && took < .seconds(5), "took \(took)")
        #expect(server.output.contains("force-closed 1 connection"), "\(server.output)")
        #expect(connection.waitForPeer(timeout: .seconds(1)) != .open)
    }

    @Test("A request followed by the client's FIN (half-close) is answered, then the connection is closed")
    func requestBeforeClientHalfCloseIsAnswered() throws {
        let port = try freePort()
        let server = try ChildProcess(["--port", "\(port)"])
        try #require(server.waitUntilServing(port: port), "not serving: \(server.output)")
        let connection = try RawHTTPConnection(port: port)
        try connection.sendRequest()
        connection.shutdownOutput()
        // Connection: close only when the FIN was read before the response was written; the close follows anyway.
        #expect(try connection.readResponse().status == 200)
        #expect(connection.waitForPeer(timeout: .seconds(2)) == .closed)
    }
}
