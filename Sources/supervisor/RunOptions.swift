import ArgumentParser
import SupervisorCore

/// The settings of `run` and `check`; each is also a key of the config file, and a flag wins over the file.
struct RunOptions: ParsableArguments {
    @Option(
        help: ArgumentHelp(
            "A TOML config file whose keys are these options' names; reload reads it again.", valueName: "path"))
    var config: String?

    @Option(
        help: ArgumentHelp("The name that tells supervisors apart; it names the control socket. (default: default)"))
    var name: String?

    @Option(help: ArgumentHelp("How many instances to run. (default: the number of CPUs)", valueName: "count"))
    var instances: Int?

    @Option(
        help: ArgumentHelp(
            "An address the instances serve on, exported to them as SUPERVISOR_LISTEN; repeatable. NAME= names "
                + "the socket (LISTEN_FDNAMES).",
            valueName: "[name=]address:port"))
    var listen: [String] = []

    @Option(
        name: .customLong("listen-mode"),
        help: ArgumentHelp(
            "Who binds the port: app (each instance, with SO_REUSEPORT), reuseport (the supervisor, one socket per "
                + "slot, passed as fd 3), shared (the supervisor, one socket for all). (default: app)",
            valueName: "mode"))
    var listenMode: String?

    @Option(
        name: .customLong("kernel-migrate"),
        help: ArgumentHelp(
            "Set net.ipv4.tcp_migrate_req=1 so a closing listener's queued connections move to another instance: "
                + "auto (where permitted, else warn), on (or refuse to start), off. (default: auto)",
            valueName: "choice"))
    var kernelMigrate: String?

    @Option(help: ArgumentHelp("Accept-queue length of the sockets the supervisor binds. (default: 1024)"))
    var backlog: Int?

    @Option(
        help: ArgumentHelp(
            "How readiness is known: notify (READY=1) or listen (the port is listening). (default: notify)",
            valueName: "mode"))
    var ready: String?

    @Option(
        name: .customLong("ready-timeout"),
        help: ArgumentHelp("How long a new instance may take to become ready. (default: 60s)", valueName: "duration"))
    var readyTimeout: String?

    @Option(
        name: .customLong("stop-signal"),
        help: ArgumentHelp("The signal that asks an instance to drain and exit. (default: TERM)", valueName: "signal"))
    var stopSignal: String?

    @Option(
        name: .customLong("drain-timeout"),
        help: ArgumentHelp("How long an instance may drain before SIGKILL. (default: 30s)", valueName: "duration"))
    var drainTimeout: String?

    @Option(
        name: .customLong("max-surge"),
        help: ArgumentHelp(
            "How many replacements may start at once during a reload. (default: all)", valueName: "count"))
    var maxSurge: Int?

    @Option(
        name: .customLong("control-socket"),
        help: ArgumentHelp(
            "The control socket's path. (default: $RUNTIME_DIRECTORY/NAME.sock, /run/supervisor/NAME.sock as root, else $XDG_RUNTIME_DIR/supervisor/NAME.sock)",
            valueName: "path"))
    var controlSocket: String?

    @Option(
        name: .customLong("env"),
        help: ArgumentHelp("An environment variable added for the instances; repeatable.", valueName: "name=value"))
    var environment: [String] = []

    @Argument(parsing: .postTerminator, help: ArgumentHelp("The server to run, after '--'.", valueName: "command"))
    var command: [String] = []

    /// The flags as a configuration layer that overrides the file.
    func layer() throws(ConfigurationError) -> ConfigurationLayer {
        var layer = ConfigurationLayer()
        layer.name = name
        layer.instances = instances
        if !listen.isEmpty {
            var addresses: [ListenAddress] = []
            for text in listen {
                do { addresses.append(try ListenAddress(parsing: text)) } catch {
                    throw ConfigurationError("--listen: \(error.message)")
                }
            }
            layer.listen = addresses
        }
        if let listenMode {
            guard let mode = ListenMode(rawValue: listenMode) else {
                throw ConfigurationError(
                    "--listen-mode \(listenMode) is not a listen mode; use app, reuseport or shared")
            }
            layer.listenMode = mode
        }
        if let kernelMigrate {
            guard let choice = KernelMigrate(rawValue: kernelMigrate) else {
                throw ConfigurationError("--kernel-migrate \(kernelMigrate) is not a choice; use auto, on or off")
            }
            layer.kernelMigrate = choice
        }
        layer.backlog = backlog
        if let ready {
            guard let mode = ReadinessMode(rawValue: ready) else {
                throw ConfigurationError("--ready \(ready) is not a readiness mode; use notify or listen")
            }
            layer.readiness = mode
        }
        layer.readyTimeout = try readyTimeout.map { text throws(ConfigurationError) in
            try Duration.parse(text, for: "--ready-timeout")
        }
        layer.drainTimeout = try drainTimeout.map { text throws(ConfigurationError) in
            try Duration.parse(text, for: "--drain-timeout")
        }
        if let stopSignal {
            guard let signal = UnixSignal(name: stopSignal) else {
                throw ConfigurationError(
                    "--stop-signal \(stopSignal) is not a signal; use a name like TERM, INT, QUIT, USR1 or WINCH")
            }
            layer.stopSignal = signal
        }
        layer.maxSurge = maxSurge
        layer.controlSocket = controlSocket
        for assignment in environment {
            let variable = try EnvironmentVariable(assignment: assignment)
            layer.environment[variable.name] = variable.value
        }
        if !command.isEmpty { layer.command = command }
        return layer
    }

    /// The file and the flags, ready to be loaded now and again at each reload.
    func source(environment: [String: String]) throws(ConfigurationError) -> ConfigurationSource {
        ConfigurationSource(
            file: config, flags: try layer(), defaultInstances: SystemInfo.processorCount(),
            searchPath: environment["PATH"])
    }
}
