import ArgumentParser
import SupervisorCore
internal import SystemdSupport

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
        let environment = SystemInfo.environment()
        let source: ConfigurationSource
        do {
            source = try options.source(environment: environment)
        } catch {
            throw ValidationFailure(error.message)
        }
        let launch: SupervisorLaunch
        if let handover = environment[ServiceEnvironment.handoverState].flatMap({ Int32($0) }) {
            launch = try await SupervisorLaunch.resume(
                handover: handover, source: source, environment: environment,
                failure: environment[ServiceEnvironment.handoverFailure], verbose: verbose)
        } else {
            launch = try await SupervisorLaunch.start(source: source, environment: environment, verbose: verbose)
        }
        let code = try await launch.run()
        if code != 0 { throw ExitCode(code) }
    }
}
