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
            """
    )

    @Option(help: ArgumentHelp("TCP port to listen on (0: any free port).", valueName: "port"))
    var port: Int?

    @Option(help: ArgumentHelp("Address to bind with --port; IPv6 without brackets.", valueName: "address"))
    var host = "127.0.0.1"

    @Option(help: ArgumentHelp("Version shown in the response line.", valueName: "text"))
    var versionString = "dev"

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

    func validate() throws {
        if let port, !(0...65535).contains(port) {
            throw ValidationError("--port \(port) is not in 0...65535")
        }
        guard drainGrace >= 0 else { throw ValidationError("--drain-grace must not be negative") }
        guard drainDeadline > 0 else { throw ValidationError("--drain-deadline must be positive") }
        guard startupDelay >= 0 else { throw ValidationError("--startup-delay must not be negative") }
    }

    func run() async throws {
        let log = DemoLog()
        // Trap first, so that a SIGTERM during start-up drains (or is ignored) instead of killing the process.
        let signals = await UnixSignalsSequence(trapping: .sigterm, .sigint)
        if startupDelay > 0 {
            try await Task.sleep(for: .milliseconds(startupDelay))
        }
        if failStart {
            log.error("failing at start as asked (--fail-start)")
            throw ExitCode(2)
        }
        let server = try await startServer(log: log)
        let reporter = ServiceStatusReporter()
        if neverReady {
            log.info("not sending READY=1, as asked (--never-ready)")
        } else {
            reporter.reportListening(on: server.localAddresses)
        }
        await waitForStopSignal(signals, log: log)
        if noDrain {
            log.info("exiting without draining, as asked (--no-drain)")
            Glibc.exit(0)
        }
        let outcome = await server.drain { progress in
            reporter.report(progress)
            if case .finished = progress { return }
            log.info("\(progress)")
        }
        if outcome.isComplete {
            log.info("drained, exiting")
        } else {
            log.warning("\(outcome), exiting")
        }
        SystemdNotifier().flush()
    }

    private func startServer(log: DemoLog) async throws -> SupervisedHTTPServer {
        let sources = try listenSources()
        let configuration = SupervisedHTTPServer.Configuration(
            idleGrace: .milliseconds(drainGrace),
            drainDeadline: .seconds(drainDeadline)
        )
        let server: SupervisedHTTPServer
        do {
            server = try await SupervisedHTTPServer.start(
                listeningOn: sources,
                configuration: configuration,
                responder: DemoResponder(versionString: versionString).responder
            )
        } catch {
            log.error("\(error)")
            throw ExitCode.failure
        }
        for address in server.localAddresses {
            log.info("listening on \(ListenAddress(address).map(\.description) ?? "\(address)")")
        }
        return server
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
