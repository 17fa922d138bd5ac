import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension NotifyReceiver {
    /// Every message that arrives within `duration`.
    fileprivate func messages(during duration: Duration) -> [String] {
        let deadline = ContinuousClock.now + duration
        var messages: [String] = []
        while ContinuousClock.now < deadline, let message = receive(timeout: deadline - .now) {
            messages.append(message)
        }
        return messages
    }
}

extension [String] {
    fileprivate var watchdogPings: Int { count { $0.split(separator: "\n").contains("WATCHDOG=1") } }
}

extension DemoServerTests {
    @Test("With WATCHDOG_USEC=200000 it sends WATCHDOG=1 about every 100 ms once ready")
    func sendsWatchdogPings() throws {
        let port = try freePort()
        let notify = try NotifyReceiver()
        let server = try ChildProcess(
            ["--port", "\(port)"],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"]
        )
        try #require(notify.receive(containing: "READY=1", timeout: .seconds(10)) != nil, "\(server.output)")
        let pings = notify.messages(during: .seconds(1)).watchdogPings
        #expect((6...14).contains(pings), "\(pings) pings in a second; \(server.output)")
        #expect(server.output.contains("sending WATCHDOG=1 every 0.1 seconds"), "\(server.output)")
    }

    @Test("WATCHDOG_PID of its own pid enables the pings; of another process, none are sent")
    func watchdogPidDecides() throws {
        let port = try freePort()
        let notify = try NotifyReceiver()
        let other = try ChildProcess(
            ["--port", "\(port)"],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000", "WATCHDOG_PID": "1"]
        )
        try #require(notify.receive(containing: "READY=1", timeout: .seconds(10)) != nil, "\(other.output)")
        #expect(notify.messages(during: .seconds(1)).watchdogPings == 0, "\(other.output)")
        #expect(other.output.contains("WATCHDOG_PID names another process"), "\(other.output)")

        let ownPort = try freePort()
        let ownNotify = try NotifyReceiver()
        // WATCHDOG_PID must be the server's pid: the shell knows its own and exec keeps it.
        let own = try ChildProcess(
            ["-c", "WATCHDOG_PID=$$ exec \"$0\" --port \(ownPort)", ChildProcess.demoServerPath],
            environment: ["NOTIFY_SOCKET": ownNotify.path, "WATCHDOG_USEC": "200000"],
            executable: "/bin/sh"
        )
        try #require(ownNotify.receive(containing: "READY=1", timeout: .seconds(10)) != nil, "\(own.output)")
        #expect(ownNotify.messages(during: .seconds(1)).watchdogPings >= 5, "\(own.output)")
    }

    @Test("A malformed WATCHDOG_USEC makes it exit 1 naming the variable")
    func malformedWatchdogUsecIsAnError() throws {
        let server = try ChildProcess(["--port", "\(try freePort())"], environment: ["WATCHDOG_USEC": "soon"])
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(1))
        #expect(
            server.output.contains("WATCHDOG_USEC='soon'")
                && server.output.contains("must be a positive number of microseconds"), "\(server.output)")
    }

    @Test("--stop-watchdog-after stops the pings but it keeps serving, and still drains and exits 0")
    func stopWatchdogAfterKeepsServing() throws {
        let port = try freePort()
        let notify = try NotifyReceiver()
        let server = try ChildProcess(
            ["--port", "\(port)", "--stop-watchdog-after", "300"],
            environment: ["NOTIFY_SOCKET": notify.path, "WATCHDOG_USEC": "200000"]
        )
        try #require(notify.receive(containing: "READY=1", timeout: .seconds(10)) != nil, "\(server.output)")
        let early = notify.messages(during: .milliseconds(500)).watchdogPings
        #expect(early >= 2, "pings before the stop: \(early)")
        let late = notify.messages(during: .seconds(1)).watchdogPings
        #expect(late == 0, "\(late) pings after the stop; \(server.output)")
        #expect(server.output.contains("stopped sending WATCHDOG=1"), "\(server.output)")
        let connection = try RawHTTPConnection(port: port)
        let response = try connection.request()
        #expect(response.status == 200)
        #expect(response.pid == server.pid)
        #expect(try RawHTTPConnection(port: port).request().status == 200, "still accepting")

        server.send(SIGTERM)
        #expect(server.waitForOutput(containing: "draining:"), "\(server.output)")
        let last = try connection.request()
        #expect(last.status == 200)
        #expect(last.closesConnection)
        #expect(server.waitForExit(timeout: .seconds(10)) == .exited(0), "\(server.output)")
    }
}
