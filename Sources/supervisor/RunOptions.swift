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
            "How readiness is known: notify (READY=1), listen (the port is listening), http:URL (GET answers 2xx; "
                + "{port} and {slot} make it per instance) or exec:COMMAND (exits 0). (default: notify)",
            valueName: "probe"))
    var ready: String?

    @Option(
        name: .customLong("admin-port-base"),
        help: ArgumentHelp(
            "Give each instance an admin port, this plus its slot, in SUPERVISOR_ADMIN_PORT and as {port} in probes.",
            valueName: "port"))
    var adminPortBase: UInt16?

    @Option(
        name: .customLong("watchdog-sec"),
        help: ArgumentHelp(
            "An instance must send WATCHDOG=1 at least this often once ready, or it is replaced (WATCHDOG_USEC is set "
                + "for it, as systemd would).",
            valueName: "duration"))
    var watchdogSec: String?

    @Option(
        help: ArgumentHelp(
            "A liveness probe for ready instances: http:URL; an instance failing it liveness-threshold times in a row "
                + "is replaced.",
            valueName: "probe"))
    var liveness: String?

    @Option(
        name: .customLong("liveness-interval"),
        help: ArgumentHelp("How often the liveness probe runs. (default: 5s)", valueName: "duration"))
    var livenessInterval: String?

    @Option(
        name: .customLong("liveness-threshold"),
        help: ArgumentHelp("Failed liveness probes in a row that get an instance replaced. (default: 3)"))
    var livenessThreshold: Int?

    @Option(
        help: ArgumentHelp(
            "Serve /healthz, /readyz, /status and /metrics over HTTP on this address. (default: off)",
            valueName: "address:port"))
    var health: String?

    @Option(
        name: .customLong("min-ready"),
        help: ArgumentHelp("Ready instances needed for /readyz to answer 200. (default: 1)", valueName: "count"))
    var minReady: Int?

    @Option(
        name: .customLong("shutdown-delay"),
        help: ArgumentHelp(
            "At stop, how long /readyz answers 503 before the instances are told to stop. (default: 0s)",
            valueName: "duration"))
    var shutdownDelay: String?

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
        name: .customLong("control-group"),
        help: ArgumentHelp(
            "Let members of this group use the control socket too (mode 0660). (default: root and the supervisor's user)",
            valueName: "group"))
    var controlGroup: String?

    @Option(
        help: ArgumentHelp(
            "Run the instances as this user (name or uid; needs root). The supervisor keeps its own user, so it can bind privileged ports in reuseport or shared mode and pass them down. (default: the supervisor's user)",
            valueName: "user"))
    var user: String?

    @Option(
        help: ArgumentHelp(
            "With --user: the instances' primary group instead of the user's own. (default: the user's group)",
            valueName: "group"))
    var group: String?

    @Option(
        help: ArgumentHelp(
            "After a reload's new instances are ready, keep the old ones serving this long; a new instance that fails meanwhile rolls back. (default: 0s)",
            valueName: "duration"))
    var bake: String?

    @Option(
        name: .customLong("max-draining"),
        help: ArgumentHelp(
            "Refuse a reload while this many earlier generations are still draining. (default: 3)", valueName: "count"))
    var maxDraining: Int?

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
            do { layer.readiness = try ReadinessProbe(parsing: ready) } catch {
                throw ConfigurationError("--\(error.message)")
            }
        }
        layer.adminPortBase = adminPortBase
        layer.watchdog = try watchdogSec.map { text throws(ConfigurationError) in
            try Duration.parse(text, for: "--watchdog-sec")
        }
        if let liveness {
            do { layer.liveness = try LivenessProbe(parsing: liveness) } catch {
                throw ConfigurationError("--\(error.message)")
            }
        }
        layer.livenessInterval = try livenessInterval.map { text throws(ConfigurationError) in
            try Duration.parse(text, for: "--liveness-interval")
        }
        layer.livenessThreshold = livenessThreshold
        if let health {
            do { layer.health = try ListenAddress(parsing: health) } catch {
                throw ConfigurationError("--health: \(error.message)")
            }
        }
        layer.minReady = minReady
        layer.shutdownDelay = try shutdownDelay.map { text throws(ConfigurationError) in
            try Duration.parse(text, for: "--shutdown-delay")
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
        layer.controlGroup = controlGroup
        layer.user = user
        layer.group = group
        layer.maxDraining = maxDraining
        layer.bake = try bake.map { text throws(ConfigurationError) in try Duration.parse(text, for: "--bake") }
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
