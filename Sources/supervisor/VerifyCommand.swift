import ArgumentParser
import FoundationEssentials
import SupervisorCore
import SupervisorVerify
import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

struct VerifyCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "verify",
        abstract: "Tell whether reloads of COMMAND lose requests, and why.",
        discussion: """
            Runs COMMAND under a private supervisor with the given run options (its own name and control socket; \
            with no --listen in the flags or the config file, a free port on 127.0.0.1 is chosen, and {port} in \
            COMMAND's arguments becomes that port). Drives HTTP/1.1 load at it from this process, first keeping \
            connections alive, then with a new connection per request; under each, reloads --reloads times, each \
            reload waiting until the old instances have exited. Then prints the requests and failed requests per \
            connection style and kind of failure, how each reload went, and for every kind of failure seen its \
            cause and the fix. Exits 0 only when no request failed and every reload succeeded.

            Example: supervisor verify --instances 2 --listen-mode reuseport --ready listen -- ./server
            """
    )

    @OptionGroup var options: RunOptions

    @Option(help: "Reloads under each connection style.")
    var reloads = 20

    @Option(help: "Connections open at once (clients sending requests back to back).")
    var connections = 32

    @Option(help: "Threads of the load generator.")
    var threads = 2

    @Option(help: ArgumentHelp("Load before the first reload, per connection style.", valueName: "duration"))
    var warmup = "2s"

    @Option(help: ArgumentHelp("A request with no complete answer within this long fails.", valueName: "duration"))
    var requestTimeout = "5s"

    @Option(help: ArgumentHelp("The path requested.", valueName: "path"))
    var path = "/"

    @Option(
        help: ArgumentHelp(
            "Connection styles, in order: keep-alive (reuse connections) and new-connection (Connection: close on "
                + "every request).",
            valueName: "list"))
    var styles = "keep-alive,new-connection"

    @Flag(help: "Print the report as JSON (progress goes to standard error).")
    var json = false

    @Flag(help: "Show the supervisor's and the instances' log lines as they come, instead of keeping them in a file.")
    var verbose = false

    func validate() throws {
        guard reloads >= 0 else { throw ValidationError("--reloads must not be negative") }
        guard connections >= 1 else { throw ValidationError("--connections must be at least 1") }
        guard (1...64).contains(threads) else { throw ValidationError("--threads must be in 1...64") }
        for style in styleList where !VerificationPlan.knownStyles.contains(style) {
            throw ValidationError(
                "--styles: '\(style)' is not a connection style; use "
                    + VerificationPlan.knownStyles.joined(separator: ", ")
            )
        }
        guard path.hasPrefix("/") else { throw ValidationError("--path must start with /") }
    }

    private var styleList: [String] { styles.split(separator: ",").map { String($0) } }

    func run() async throws {
        signal(SIGPIPE, SIG_IGN)
        let environment = SystemInfo.environment()
        let workDirectory = try Self.makeWorkDirectory(environment: environment)
        let (source, configuration) = try privateSource(in: workDirectory, environment: environment)
        guard let address = configuration.listen.first(where: { $0.kind != .udp }) else {
            throw ValidationFailure(
                "verify sends HTTP load, over TCP or a Unix socket, and no listen address is either: give --listen "
                    + "ADDR:PORT or unix:/PATH")
        }
        let plan = try plan(for: configuration, address: address)

        // The supervisor runs in this process; its log and the instances' output go to a file unless --verbose.
        let logPath = "\(workDirectory)/supervisor.log"
        let terminal = verbose ? 2 : try Self.redirectStandardError(to: logPath)
        defer { if !verbose { dup2(terminal, 2) } }
        let json = json
        let progress: @Sendable (String) -> Void = { line in
            if json { writeAll(terminal, line + "\n") } else { printLine(line) }
        }
        let report = try await Self.verify(
            plan, source: source, environment: environment, verbose: verbose, log: verbose ? nil : logPath,
            controlSocket: configuration.controlSocket ?? "", name: configuration.name, progress: progress)
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            printLine(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            printLine("")
            printLine(report.text)
        }
        if !report.passed { throw ExitCode(1) }
    }

    private static func verify(
        _ plan: VerificationPlan,
        source: ConfigurationSource,
        environment: [String: String],
        verbose: Bool,
        log: String?,
        controlSocket: String,
        name: String,
        progress: @escaping @Sendable (String) -> Void
    ) async throws -> VerificationReport {
        let launch = try await SupervisorLaunch.start(source: source, environment: environment, verbose: verbose)
        let command = launch.supervisor.configuration.command.joined(separator: " ")
        progress(
            "verify: \(launch.supervisor.configuration.instances) instances of \(command), load to "
                + "http://\(plan.target)\(plan.path) from "
                + "\(plan.connections) connections")
        let control = ControlClient(path: controlSocket, name: name)
        // The verification drives the supervisor from a task of its own and stops it at the end; the supervisor
        // runs here until then (or until it gives up on its first generation).
        let verifying = Task {
            let report = await Verification.run(plan, control: control, progress: progress)
            _ = try? await Verification.send(ControlRequest(command: .stop), to: control)
            return report
        }
        let code = try await launch.run()
        // The supervisor stopped: when the verification did not stop it (its first generation failed, or a signal
        // stopped it), the verification ends now.
        verifying.cancel()
        var report = await verifying.value
        if report.server == nil, let result = launch.supervisor.exitResult, !result.ok || code != 0 {
            let output = result.output.map { "; last output: " + $0.suffix(3).joined(separator: " | ") } ?? ""
            report.problems = ["the server did not start: \(result.message)\(output)"]
        }
        report.log = log
        return report
    }

    /// The run options with a private name and control socket, and a chosen port when none is configured.
    private func privateSource(
        in directory: String,
        environment: [String: String]
    ) throws -> (ConfigurationSource, Configuration) {
        var layer: ConfigurationLayer
        do {
            layer = try options.layer()
        } catch {
            throw ValidationFailure(error.message)
        }
        layer[Settings.name] = "verify-\(getpid())"
        layer[Settings.controlSocket] = "\(directory)/control.sock"
        func load(_ layer: ConfigurationLayer) throws(ConfigurationError) -> (ConfigurationSource, Configuration) {
            let source = ConfigurationSource(
                file: options.config, flags: layer, defaultInstances: SystemInfo.processorCount(),
                searchPath: environment["PATH"])
            return (source, try source.load())
        }
        if layer[Settings.listen] == nil, let loaded = try? load(layer), !loaded.1.listen.isEmpty { return loaded }
        if layer[Settings.listen] == nil {
            let port = try Self.freePort()
            layer[Settings.listen] = [try! ListenAddress(parsing: "127.0.0.1:\(port)")]
            layer[Settings.command] = layer[Settings.command]?.map { $0.replacing("{port}", with: String(port)) }
        }
        do {
            return try load(layer)
        } catch {
            throw ValidationFailure(error.message)
        }
    }

    private func plan(for configuration: Configuration, address: ListenAddress) throws -> VerificationPlan {
        let host: String
        switch address.host {
        case "0.0.0.0", "": host = "127.0.0.1"
        case "::": host = "::1"
        default: host = address.host
        }
        var plan = VerificationPlan(
            host: host, port: Int(address.port), path: path, styles: styleList, connections: connections,
            threads: threads, warmup: try Self.duration(warmup, "--warmup"),
            reloads: reloads, requestTimeout: try Self.duration(requestTimeout, "--request-timeout"),
            settle: .milliseconds(500), stopSignal: configuration.stopSignal.description,
            drainTimeout: configuration.drainTimeout, startTimeout: configuration.readyTimeout + .seconds(10))
        if address.kind == .unix { plan.unixPath = address.path }
        return plan
    }

    private static func duration(_ text: String, _ option: String) throws -> Duration {
        do {
            return try Duration.parse(text, for: option)
        } catch {
            throw ValidationFailure(error.message)
        }
    }

    /// A port nothing listens on now, on 127.0.0.1.
    private static func freePort() throws -> UInt16 {
        let fd = socket(AF_INET, Int32(SOCK_STREAM.rawValue), 0)
        guard fd >= 0 else {
            throw ValidationFailure("cannot find a free port: \(SystemCallError.last("socket"))")
        }
        defer { close(fd) }
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_addr.s_addr = inet_addr("127.0.0.1")
        var length = socklen_t(MemoryLayout<sockaddr_in>.size)
        let bound = withUnsafeMutablePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                bind(fd, generic, length) == 0 && getsockname(fd, generic, &length) == 0
            }
        }
        guard bound else { throw ValidationFailure("cannot find a free port: \(SystemCallError.last("bind"))") }
        return UInt16(bigEndian: address.sin_port)
    }

    private static func makeWorkDirectory(environment: [String: String]) throws -> String {
        var template = Array("\(environment["TMPDIR"] ?? "/tmp")/supervisor-verify-XXXXXX".utf8CString)
        guard let made = template.withUnsafeMutableBufferPointer({ mkdtemp($0.baseAddress!) }) else {
            throw ValidationFailure("cannot make a work directory: \(SystemCallError.last("mkdtemp"))")
        }
        return String(cString: made)
    }

    /// Points fd 2 at `path`; returns a descriptor of what fd 2 was, for this command's own messages.
    private static func redirectStandardError(to path: String) throws -> Int32 {
        let log = open(path, O_WRONLY | O_CREAT | O_TRUNC | O_CLOEXEC, 0o600)
        guard log >= 0 else { throw ValidationFailure("cannot write \(path): \(SystemCallError.reason(errno))") }
        defer { close(log) }
        let terminal = fcntl(2, F_DUPFD_CLOEXEC, 3)
        guard terminal >= 0, dup2(log, 2) >= 0 else {
            throw ValidationFailure("cannot redirect the log to \(path): \(SystemCallError.reason(errno))")
        }
        return terminal
    }
}
