/// Every setting of `run`, each declared once: its key (the flag's long name too), help, default, and how it is read.
/// The config file's reader, the flags of `run` and `check`, their help, and the merge of layers all come from here;
/// ``Configuration`` checks the values together and gives them their types. docs/architecture.md shows how to add one.
package enum Settings {
    package static let name = Setting(
        "name", .text, default: Configuration.defaultName,
        help: "The name that tells supervisors apart; it names the control socket.")

    package static let instances = Setting(
        "instances", .integer, defaultText: "the number of CPUs", valueName: "count", help: "How many instances to run."
    )

    package static let listen = Setting(
        "listen", .list(of: .address), default: [], hidesDefault: true, valueName: "[name=]address",
        help: "An address the instances serve on: ADDR:PORT (TCP), udp:ADDR:PORT or unix:/PATH (shared mode only); "
            + "exported to them as SUPERVISOR_LISTEN; repeatable. NAME= names the socket (LISTEN_FDNAMES).")

    package static let listenMode = Setting(
        "listen-mode", .choice("a listen mode"), default: ListenMode.app, valueName: "mode",
        help: "Who binds the port: app (each instance, with SO_REUSEPORT), reuseport (the supervisor, one socket per "
            + "slot, passed as fd 3), shared (the supervisor, one socket for all).")

    package static let kernelMigrate = Setting(
        "kernel-migrate", .choice("a choice"), default: KernelMigrate.auto, valueName: "choice",
        help: "Set net.ipv4.tcp_migrate_req=1 so a closing listener's queued connections move to another instance: "
            + "auto (where permitted, else warn), on (or refuse to start), off.")

    package static let backlog = Setting(
        "backlog", .integer, default: 1024, valueName: "count",
        help: "Accept-queue length of the sockets the supervisor binds.")

    package static let receiveBuffer = Setting(
        "receive-buffer", .integer, default: 4 << 20, valueName: "bytes",
        help: "Receive buffer of the UDP sockets the supervisor binds (SO_RCVBUF): datagrams wait there while no "
            + "instance reads. Above net.core.rmem_max it needs root (SO_RCVBUFFORCE).")

    package static let socketMode = Setting(
        "socket-mode", .text, default: "0660", valueName: "mode",
        help: "The file mode of the Unix sockets the supervisor binds (listen and health), in octal.")

    package static let socketUser = Setting(
        "socket-user", .text, defaultText: "the supervisor's user", valueName: "user",
        help: "The owner of the Unix sockets the supervisor binds (name or uid; another user needs root).")

    package static let socketGroup = Setting(
        "socket-group", .text, defaultText: "the supervisor's group", valueName: "group",
        help: "The group of the Unix sockets the supervisor binds, e.g. the reverse proxy's (www-data).")

    package static let ready = Setting(
        "ready", .readiness, default: ReadinessProbe.notify, valueName: "probe",
        help: "How readiness is known: notify (READY=1), listen (the port is listening), http:URL (GET answers 2xx; "
            + "{port} and {slot} make it per instance) or exec:COMMAND (exits 0).")

    package static let startNice = Setting(
        "start-nice", .integer, default: 0, valueName: "nice",
        help: "The nice value (0-19) a new instance starts with, set back to 0 once it is ready, so that its start "
            + "takes the CPU only where the serving instances leave it; 0: off. Needs CAP_SYS_NICE (root).")

    package static let startIdle = Setting(
        "start-idle", .duration, default: Duration.zero, valueName: "duration",
        help: "How long a new instance may run under SCHED_IDLE (the CPU only when nothing else wants it) before it "
            + "is ready; at readiness, or when that time is up, every thread of it goes back to the usual policy. "
            + "0: off. Needs CAP_SYS_NICE (root) or LimitNICE=+0.")

    package static let readyTimeout = Setting(
        "ready-timeout", .duration, default: Duration.seconds(60), valueName: "duration",
        help: "How long a new instance may take to become ready.")

    package static let adminPortBase = Setting(
        "admin-port-base", .port, valueName: "port",
        help: "Give each instance an admin port, this plus its slot, in SUPERVISOR_ADMIN_PORT and as {port} in probes.")

    package static let watchdogSec = Setting(
        "watchdog-sec", .duration, valueName: "duration",
        help:
            "An instance must send WATCHDOG=1 at least this often once ready, or it is replaced (WATCHDOG_USEC is set "
            + "for it, as systemd would).")

    package static let liveness = Setting(
        "liveness", .liveness, valueName: "probe",
        help:
            "A liveness probe for ready instances: http:URL; an instance failing it liveness-threshold times in a row "
            + "is replaced.")

    package static let livenessInterval = Setting(
        "liveness-interval", .duration, default: Duration.seconds(5), valueName: "duration",
        help: "How often the liveness probe runs.")

    package static let livenessThreshold = Setting(
        "liveness-threshold", .integer, default: 3, valueName: "count",
        help: "Failed liveness probes in a row that get an instance replaced.")

    package static let health = Setting(
        "health", .address, defaultText: "off", valueName: "address",
        help: "Serve /healthz, /readyz, /status and /metrics over HTTP on this address: ADDR:PORT or unix:/PATH.")

    package static let minReady = Setting(
        "min-ready", .integer, default: 1, valueName: "count", help: "Ready instances needed for /readyz to answer 200."
    )

    package static let shutdownDelay = Setting(
        "shutdown-delay", .duration, default: Duration.zero, valueName: "duration",
        help: "At stop, how long /readyz answers 503 before the instances are told to stop.")

    package static let stopSignal = Setting(
        "stop-signal", .signal, default: UnixSignal.terminate, valueName: "signal",
        help: "The signal that asks an instance to drain and exit.")

    package static let drainTimeout = Setting(
        "drain-timeout", .duration, default: Duration.seconds(30), valueName: "duration",
        help: "How long an instance may drain before SIGKILL.")

    package static let stopPace = Setting(
        "stop-pace", .duration, default: Duration.zero, valueName: "duration",
        help: "How far apart old instances get their stop signals, so that their keep-alive connections do not all "
            + "reconnect at once; 0: together (in app mode they always go one at a time, each once the one before "
            + "closed its listeners).")

    package static let maxSurge = Setting(
        "max-surge", .surge, default: MaxSurge.all, valueName: "count",
        help: "How many replacements may start at once during a reload: a number, or all.")

    package static let bake = Setting(
        "bake", .duration, default: Duration.zero, valueName: "duration",
        help: "After a reload's new instances are ready, keep the old ones serving this long; a new instance that "
            + "fails meanwhile rolls back.")

    package static let maxDraining = Setting(
        "max-draining", .integer, default: 3, valueName: "count",
        help: "Refuse a reload while this many earlier generations are still draining.")

    package static let release = Setting(
        "release", .release, defaultText: "none", valueName: "label",
        help: "A label for the release each generation runs, e.g. v2, shown by status and reload and matched by "
            + "/readyz?release=; file:PATH reads it from the file's first line (v2, or RELEASE=v2) at each start and "
            + "reload, e.g. file:/srv/app/current/RELEASE.")

    package static let controlSocket = Setting(
        "control-socket", .text,
        defaultText: "$RUNTIME_DIRECTORY/NAME.sock, /run/supervisor/NAME.sock as root, else "
            + "$XDG_RUNTIME_DIR/supervisor/NAME.sock",
        valueName: "path", help: "The control socket's path.")

    package static let controlGroup = Setting(
        "control-group", .text, defaultText: "root and the supervisor's user", valueName: "group",
        help: "Let members of this group use the control socket too (mode 0660).")

    package static let user = Setting(
        "user", .text, defaultText: "the supervisor's user", valueName: "user",
        help: "Run the instances as this user (name or uid; needs root). The supervisor keeps its own user, so it can "
            + "bind privileged ports in reuseport or shared mode and pass them down.")

    package static let group = Setting(
        "group", .text, defaultText: "the user's group", valueName: "group",
        help: "With --user: the instances' primary group instead of the user's own.")

    /// The flag is `--env`; the file's key is `environment`, a table.
    package static let environment = Setting(
        "environment", .environment, default: [:], hidesDefault: true, flag: "env", valueName: "name=value",
        help: "An environment variable added for the instances; repeatable.",
        combine: { upper, lower in lower.merging(upper) { _, upper in upper } })

    /// The words after `--`; the file's `command` array.
    package static let command = Setting(
        "command", .command, default: [], hidesDefault: true, valueName: "command",
        help: "The server to run, after '--'.")

    /// Every setting, in the order help lists them and errors suggest them.
    package static let all: [any AnySetting] = [
        name, instances, listen, listenMode, kernelMigrate, backlog, receiveBuffer, socketMode, socketUser,
        socketGroup, ready, startNice, startIdle, readyTimeout, adminPortBase, watchdogSec,
        liveness, livenessInterval, livenessThreshold, health, minReady, shutdownDelay, stopSignal, drainTimeout,
        stopPace,
        maxSurge, bake, maxDraining, release, controlSocket, controlGroup, user, group, environment, command,
    ]

    /// The setting of a key of the file, `nil` for an unknown key.
    package static func named(_ key: String) -> (any AnySetting)? { all.first { $0.key == key } }
}

extension SettingReader where Value == ReadinessProbe {
    /// `notify`, `listen`, `http:URL` or `exec:COMMAND`.
    static let readiness = SettingReader.parsed(errorsNameSetting: true) { text throws(ConfigurationError) in
        try ReadinessProbe(parsing: text)
    } describe: {
        $0.description
    }
}

extension SettingReader where Value == ReleaseLabel {
    /// A label, or `file:PATH`.
    static let release = SettingReader.parsed(errorsNameSetting: true) { text throws(ConfigurationError) in
        try ReleaseLabel(parsing: text)
    } describe: {
        $0.description
    }
}

extension SettingReader where Value == LivenessProbe {
    /// `http:URL`.
    static let liveness = SettingReader.parsed(errorsNameSetting: true) { text throws(ConfigurationError) in
        try LivenessProbe(parsing: text)
    } describe: {
        $0.description
    }
}
