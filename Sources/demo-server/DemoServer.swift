import ArgumentParser
import SupervisedServer
import SystemdSupport
import UnixSignals

#if canImport(Glibc)
import Glibc
#endif

/// The reference instance for the supervisor: an HTTP/1.1 server that binds with SO_REUSEPORT (or adopts inherited
/// sockets), says READY=1, and drains without losing requests on SIGTERM. Some options make it misbehave on purpose,
/// for tests of the supervisor.
@main
struct DemoServer: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "demo-server",
        abstract: "A demo HTTP/1.1 server that drains without losing requests.",
        discussion: """
            GET / answers 200 with one line: pid=PID generation=$SUPERVISOR_GENERATION \
            instance=$SUPERVISOR_INSTANCE version=VERSION. It serves on the sockets of LISTEN_FDS when they are \
            meant for it, else on --port, else on the first address of SUPERVISOR_LISTEN. Sends READY=1 over \
            NOTIFY_SOCKET once listening. \
            SIGTERM or SIGINT starts the drain: stop accepting, answer requests in flight and those arriving within \
            the grace with Connection: close, close idle connections after the grace; exit 0 when none is left.

            With --admin-port (or SUPERVISOR_ADMIN_PORT) it also listens on 127.0.0.1:PORT, bound exclusively \
            (without SO_REUSEPORT), once the main port listens: GET /health answers 200 "ok pid=PID generation=G \
            instance=I" while healthy, 503 before it is ready (for ever with --never-ready), when unhealthy \
            (--unhealthy-after) and while draining; the admin port drains and closes with the main one. \
            With WATCHDOG_USEC (and WATCHDOG_PID unset or its own pid) it sends WATCHDOG=1 every half of that \
            interval from the moment it serves.
            """
    )

    @Option(help: ArgumentHelp("TCP port to listen on (0: any free port).", valueName: "port"))
    var port: Int?

    @Option(help: ArgumentHelp("Address to bind with --port; IPv6 without brackets.", valueName: "address"))
    var host = "127.0.0.1"

    @Flag(
        help: """
            Also answer each datagram on the UDP sockets (of LISTEN_FDS, or the udp: addresses of \
            SUPERVISOR_LISTEN) with "pid=PID " and the datagram.
            """)
    var udpEcho = false

    @Option(help: ArgumentHelp("Version shown in the response line.", valueName: "text"))
    var versionString = "dev"

    @Option(
        help: ArgumentHelp(
            "Pad the answer of GET / to at least this many bytes (large answers are caught mid-way when the server "
                + "dies).",
            valueName: "bytes"))
    var bodyBytes = 0

    @Option(help: ArgumentHelp("How long idle connections stay open once draining, in milliseconds.", valueName: "ms"))
    var drainGrace = 1000

    @Option(
        help: ArgumentHelp(
            "After this many seconds of draining, close what is still open (the exit status stays 0).",
            valueName: "seconds"
        )
    )
    var drainDeadline = 25.0

    @Flag(help: "Misbehave: print an error and exit with status 2 before listening.")
    var failStart = false

    @Flag(help: "Misbehave: listen and serve, but never send READY=1.")
    var neverReady = false

    @Flag(help: "Misbehave: log SIGTERM and keep serving (SIGINT still drains).")
    var ignoreSigterm = false

    @Flag(
        help: """
            Misbehave: on SIGTERM exit at once, closing the listener and every connection without draining (the \
            naive handover that benchmarks compare against).
            """)
    var noDrain = false

    @Option(help: ArgumentHelp("Sleep this many milliseconds before binding.", valueName: "ms"))
    var startupDelay = 0

    @Option(
        help: ArgumentHelp(
            "Also serve GET /health on 127.0.0.1:PORT, bound exclusively (default: $SUPERVISOR_ADMIN_PORT, else none).",
            valueName: "port"
        )
    )
    var adminPort: Int?

    @Option(
        help: ArgumentHelp(
            "Misbehave: /health answers 503 this many milliseconds after the server became ready; it keeps serving.",
            valueName: "ms"
        )
    )
    var unhealthyAfter: Int?

    @Option(
        help: ArgumentHelp(
            "Misbehave: stop sending WATCHDOG=1 this many milliseconds after the first one; it keeps serving.",
            valueName: "ms"
        )
    )
    var stopWatchdogAfter: Int?

    @Option(
        help: ArgumentHelp(
            "Misbehave: exit with status 3, without draining, this many milliseconds after becoming ready.",
            valueName: "ms"
        )
    )
    var crashAfter: Int?

    @Option(
        help: ArgumentHelp(
            "Answer 408 and close when a request takes longer than this to arrive, in seconds (0: no limit).",
            valueName: "seconds"
        )
    )
    var requestTimeout = 30.0

    @Option(
        help: ArgumentHelp(
            "Close a keep-alive connection idle for this long while not draining, in seconds (0: never).",
            valueName: "seconds"
        )
    )
    var idleTimeout = 60.0

    func validate() throws {
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port \(port) is not in 0...65535")
        }
        guard (0...(256 << 20)).contains(bodyBytes) else {
            throw ValidationError("--body-bytes must be in 0...268435456")
        }
        guard drainGrace >= 0 else { throw ValidationError("--drain-grace must not be negative") }
        guard drainDeadline > 0 else { throw ValidationError("--drain-deadline must be positive") }
        guard startupDelay >= 0 else { throw ValidationError("--startup-delay must not be negative") }
        if let adminPort, !(0...65535).contains(adminPort) {
            throw ValidationError("--admin-port \(adminPort) is not in 0...65535")
        }
        if let unhealthyAfter, unhealthyAfter < 0 {
            throw ValidationError("--unhealthy-after must not be negative")
        }
        if let crashAfter, crashAfter < 0 {
            throw ValidationError("--crash-after must not be negative")
        }
        if let stopWatchdogAfter, stopWatchdogAfter < 0 {
            throw ValidationError("--stop-watchdog-after must not be negative")
        }
        guard requestTimeout >= 0 else { throw ValidationError("--request-timeout must not be negative") }
        guard idleTimeout >= 0 else { throw ValidationError("--idle-timeout must not be negative") }
    }

    func run() async throws {
        let log = DemoLog()
        // Trap first, so that a SIGTERM during start-up drains (or is ignored) instead of killing the process.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        // Read the environment before the delay, so a malformed variable fails at once.
        let adminListenPort = try adminPortToUse()
        let watchdog = try watchdogFromEnvironment(log: log)
        if startupDelay > 0 {
            try await Task.sleep(for: .milliseconds(startupDelay))
        }
        if failStart {
            log.error("failing at start as asked (--fail-start)")
            throw ExitCode(2)
        }
        let sources = try listenSources()
        let server = try await startServer(on: sources.stream, log: log)
        let echo = try await startEcho(on: sources.datagram, stopping: server, log: log)
        let health = DemoHealth()
        // After the main port: a probe of the admin port must mean "the main port serves".
        let admin: SupervisedHTTPServer?
        if let adminListenPort {
            do {
                admin = try await startAdminServer(port: adminListenPort, health: health, log: log)
            } catch {
                log.error("admin port: \(error)")
                await echo?.drain()
                await server?.drain()
                throw ExitCode.failure
            }
        } else {
            admin = nil
        }
        let reporter = ServiceStatusReporter()
        if neverReady {
            log.info("not sending READY=1, as asked (--never-ready)")
        } else {
            health.set(.healthy)
            reporter.reportListening(on: server?.localAddresses ?? [], datagram: echo?.localAddresses ?? [])
            scheduleUnhealthy(health, log: log)
            scheduleCrash(log: log)
        }
        if let watchdog {
            startWatchdog(watchdog, log: log)
        }
        await waitForStopSignal(signals, log: log)
        health.set(.draining)
        if noDrain {
            log.info("exiting without draining, as asked (--no-drain)")
            Glibc.exit(0)
        }
        async let adminDrained = admin?.drain()
        async let echoDrained: Void? = echo?.drain()
        let outcome = await server?.drain { progress in
            reporter.report(progress)
            if case .finished = progress { return }
            log.info("\(progress)")
        }
        _ = await adminDrained
        _ = await echoDrained
        guard let outcome else {
            log.info("stopped answering datagrams, exiting")
            SystemdNotifier().flush()
            return
        }
        if outcome.isComplete {
            log.info("drained, exiting")
        } else {
            log.warning("\(outcome), exiting")
        }
        SystemdNotifier().flush()
    }

    private func startServer(on sources: [ListenSource], log: DemoLog) async throws -> SupervisedHTTPServer? {
        guard !sources.isEmpty else { return nil }
        let configuration = SupervisedHTTPServer.Configuration(
            idleGrace: .milliseconds(drainGrace),
            drainDeadline: .seconds(drainDeadline),
            requestTimeout: Self.limit(seconds: requestTimeout),
            idleTimeout: Self.limit(seconds: idleTimeout)
        )
        let server: SupervisedHTTPServer
        do {
            server = try await SupervisedHTTPServer.start(
                listeningOn: sources,
                configuration: configuration,
                responder: DemoResponder(versionString: versionString, bodyBytes: bodyBytes).responder
            )
        } catch {
            log.error("\(error)")
            throw ExitCode.failure
        }
        for address in server.localAddresses {
            log.info("listening on \(ServiceStatusReporter.name(of: address, datagram: false))")
        }
        return server
    }

    /// The UDP echo (`--udp-echo`); when it cannot start, the HTTP server drains (it may have accepted connections
    /// already) and the process exits 1.
    private func startEcho(
        on sources: [UDPEcho.Source],
        stopping server: SupervisedHTTPServer?,
        log: DemoLog
    ) async throws -> UDPEcho? {
        guard !sources.isEmpty else {
            if udpEcho { log.info("--udp-echo: no UDP socket to answer on") }
            return nil
        }
        do {
            let echo = try await UDPEcho.start(on: sources)
            for address in echo.localAddresses {
                log.info("answering datagrams on \(ServiceStatusReporter.name(of: address, datagram: true))")
            }
            return echo
        } catch {
            log.error("\(error)")
            await server?.drain()
            throw ExitCode.failure
        }
    }

    private func waitForStopSignal(_ signals: UnixSignalsSequence, log: DemoLog) async {
        for await signal in signals {
            if signal == .sigterm && ignoreSigterm {
                log.info("received SIGTERM and ignored it, as asked (--ignore-sigterm)")
                continue
            }
            log.info("received \(signal), draining")
            return
        }
    }
}
