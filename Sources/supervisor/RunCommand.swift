import ArgumentParser
import Logging
import Metrics
import Prometheus
import SupervisorCore
import SupervisorHTTP
import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

struct RunCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "run",
        abstract: "Start N instances of COMMAND and supervise them until stopped.",
        discussion: """
            Each instance gets NOTIFY_SOCKET, SUPERVISOR_INSTANCE (its slot), SUPERVISOR_GENERATION and \
            SUPERVISOR_LISTEN, its own process group, and stdin from /dev/null; its output is logged with its \
            label. SIGHUP reloads; SIGTERM or SIGINT drains every instance and exits 0 (a second one sends SIGKILL).

            Example: supervisor run --instances 2 --listen 127.0.0.1:8080 -- ./demo-server --port 8080
            """
    )

    @OptionGroup var options: RunOptions

    @Flag(help: "Log debug messages too.")
    var verbose = false

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let verbose = verbose
        LoggingSystem.bootstrap { label in
            StandardErrorLogHandler(label: label, logLevel: verbose ? .debug : .info)
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let environment = SystemInfo.environment()
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor.prepare(
                source: options.source(environment: environment), environment: environment)
        } catch {
            throw ValidationFailure(error.message)
        }
        var endpoint: HealthEndpoint?
        if let address = supervisor.configuration.health {
            do {
                endpoint = try await HealthEndpoint.start(
                    address: address, observer: supervisor.observer, registry: registry)
            } catch {
                throw ValidationFailure("cannot serve the health endpoint on \(address): \(error)")
            }
        }
        let code = try await supervisor.run()
        await endpoint?.stop()
        if code != 0 { throw ExitCode(code) }
    }
}
