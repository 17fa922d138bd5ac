import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension DemoServerTests {
    /// Clients send requests back to back while instances on one SO_REUSEPORT port are replaced: start a new one,
    /// wait for its READY=1, SIGTERM the oldest, wait for its exit.
    ///
    /// With root it runs in a private network namespace with `tcp_migrate_req=1` (the host's setting is left alone)
    /// and requires zero failures of both keep-alive and new-connection-per-request clients. Without, it runs on the
    /// host, where a listener's close resets the connections still in its accept queue (docs/architecture.md), and requires
    /// zero failures of the keep-alive clients only.
    @Test("No request is lost while instances on a shared port drain and are replaced under load")
    func noRequestIsLostDuringHandovers() throws {
        let network = PrivateNetwork.make()
        let port = network == nil ? try freePort() : 8080
        var instances: [(process: ChildProcess, notify: NotifyReceiver)] = []
        func startInstance() throws {
            let notify = try NotifyReceiver()
            let arguments = ["--port", "\(port)", "--drain-grace", "1000"]
            let environment = ["NOTIFY_SOCKET": notify.path]
            let process =
                try network?.startDemoServer(arguments, environment: environment)
                ?? ChildProcess(arguments, environment: environment)
            try #require(notify.receive(containing: "READY=1", timeout: .seconds(10)) != nil, "\(process.output)")
            instances.append((process, notify))
        }
        try startInstance()
        try startInstance()

        let load = LoadGenerator(port: port, network: network)
        load.start(3, .keepAlive)
        load.start(2, .newConnectionPerRequest)
        usleep(500_000)
        for _ in 0..<3 {
            try startInstance()
            let oldest = instances.removeFirst().process
            oldest.send(SIGTERM)
            #expect(oldest.waitForExit(timeout: .seconds(10)) == .exited(0), "\(oldest.output)")
            usleep(300_000)
        }
        let counts = load.stop()

        let keepAlive = counts[.keepAlive] ?? .init()
        let newConnection = counts[.newConnectionPerRequest] ?? .init()
        let note = "private network: \(network != nil); keep-alive: \(keepAlive); new connection: \(newConnection)"
        #expect(keepAlive.failed == 0, "\(note)")
        #expect(keepAlive.succeeded > 100, "\(note)")
        #expect(keepAlive.connectionCloseResponses >= 3, "drains answered with Connection: close; \(note)")
        let pids = Set(keepAlive.requestsByPid.keys).union(newConnection.requestsByPid.keys)
        #expect(pids.count >= 4, "served by the old and the new instances; \(note)")
        if network != nil {
            #expect(newConnection.failed == 0, "\(note)")
            #expect(newConnection.succeeded > 50, "\(note)")
        }
    }
}
