internal import SystemdSupport

/// A complete, validated configuration: defaults, then the config file, then command-line flags.
package struct Configuration: Equatable, Sendable {
    package var name: String
    package var instances: Int
    /// Where the instances serve, each named (`listen0`, `listen1`, … unless the configuration named it).
    package var listen: [ListenAddress]
    /// Who binds the listening sockets.
    package var listenMode: ListenMode
    /// Whether the supervisor may set `net.ipv4.tcp_migrate_req` in `app` mode.
    package var kernelMigrate: KernelMigrate
    /// The accept-queue length of the sockets the supervisor binds.
    package var backlog: Int32
    /// The receive buffer asked for the UDP sockets the supervisor binds, in bytes.
    package var receiveBuffer: Int32
    /// Who may connect to the Unix sockets the supervisor binds.
    package var socketPermissions: SocketPermissions
    package var readiness: ReadinessProbe
    /// Each instance's admin port is this plus its slot (`SUPERVISOR_ADMIN_PORT`), for per-instance probes.
    package var adminPortBase: UInt16?
    /// With a value, an instance must send `WATCHDOG=1` at least this often once ready, or it is replaced.
    package var watchdog: Duration?
    /// A periodic check of ready instances; `livenessThreshold` failures in a row get an instance replaced.
    package var liveness: LivenessProbe?
    package var livenessInterval: Duration
    package var livenessThreshold: Int
    /// The supervisor's own HTTP endpoint (`/healthz`, `/readyz`, `/status`, `/metrics`); off when `nil`.
    package var health: ListenAddress?
    /// How many instances must be ready for `/readyz` to answer 200.
    package var minReady: Int
    /// How long `/readyz` answers 503 before the instances are told to stop, so load balancers move away first.
    package var shutdownDelay: Duration
    package var readyTimeout: Duration
    /// The nice value a new instance starts with until it is ready; 0: the supervisor's own.
    package var startNice: Int32
    /// How long a new instance may run under `SCHED_IDLE` before it is ready (``StartPriority``); 0: not at all.
    package var startIdle: Duration
    package var stopSignal: UnixSignal
    package var drainTimeout: Duration
    /// How far apart old instances get their stop signals (``StopPacing``); 0: together.
    package var stopPace: Duration
    /// `nil`: all instances at once.
    package var maxSurge: Int?
    package var controlSocket: String?
    /// Members of this group may use the control socket too (mode 0660 instead of 0600).
    package var controlGroup: ControlGroup?
    /// The user and groups instances run as; `nil`: the supervisor's own.
    package var credentials: InstanceCredentials?
    /// How long the previous generation keeps serving after the new one is ready (see ``GenerationPolicy/bake``).
    package var bake: Duration
    /// A reload is refused while this many earlier generations are still draining.
    package var maxDraining: Int
    /// What names the release a generation runs; `nil`: nothing.
    package var release: ReleaseLabel?
    /// The label: ``release``'s, or what its file held when ``ConfigurationSource`` read it (`nil` before that).
    package var releaseLabel: String?
    /// Added to each instance's environment, sorted by name.
    package var environment: [EnvironmentVariable]
    /// The program and its arguments.
    package var command: [String]

    package static let defaultName = "default"

    /// Resolves a layered configuration, filling defaults and checking every value.
    ///
    /// - Parameter defaultInstances: used when no layer sets `instances` (the CPU count).
    /// - Throws: ``ConfigurationError`` naming the first problem and its fix.
    package init(_ layer: ConfigurationLayer, defaultInstances: Int) throws(ConfigurationError) {
        name = layer.value(Settings.name)
        guard !name.isEmpty, name.count <= 64,
            name.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.@".contains($0)) })
        else {
            throw ConfigurationError(
                "name '\(name)' is not usable; use up to 64 letters, digits, '-', '_', '.' or '@' (it names the "
                    + "control socket)")
        }
        instances = layer.value(Settings.instances) ?? max(1, defaultInstances)
        guard (1...1024).contains(instances) else {
            throw ConfigurationError("instances must be between 1 and 1024, not \(instances)")
        }
        listen = layer.value(Settings.listen).enumerated().map { index, address in
            address.named(address.name ?? "listen\(index)")
        }
        if Set(listen.map(\.unnamed)).count != listen.count {
            throw ConfigurationError("a listen address is given twice; list each address once")
        }
        if Set(listen.map(\.name)).count != listen.count {
            throw ConfigurationError("two listen addresses have the same name; give each its own")
        }
        listenMode = layer.value(Settings.listenMode)
        if listenMode != .app && listen.isEmpty {
            throw ConfigurationError(
                "listen-mode \(listenMode.rawValue) needs at least one listen address to bind; add --listen ADDRESS:PORT"
            )
        }
        for address in listen where address.kind == .unix && listenMode != .shared {
            throw ConfigurationError(
                "listen address \(address) needs listen-mode shared, not \(listenMode.rawValue): a Unix socket's path "
                    + "names one socket, so the supervisor binds it once and every instance shares it (SO_REUSEPORT "
                    + "does not spread connections over Unix sockets, and an instance binding it would replace the "
                    + "others' socket); add --listen-mode shared")
        }
        let receiveBuffer = layer.value(Settings.receiveBuffer)
        guard (4096...(1 << 30)).contains(receiveBuffer) else {
            throw ConfigurationError("receive-buffer must be between 4096 and 1073741824 bytes, not \(receiveBuffer)")
        }
        self.receiveBuffer = Int32(receiveBuffer)
        socketPermissions = try SocketPermissions(
            mode: layer.value(Settings.socketMode), user: layer.value(Settings.socketUser),
            group: layer.value(Settings.socketGroup))
        kernelMigrate = layer.value(Settings.kernelMigrate)
        let backlog = layer.value(Settings.backlog)
        guard (1...65535).contains(backlog) else {
            throw ConfigurationError("backlog must be between 1 and 65535, not \(backlog)")
        }
        self.backlog = Int32(backlog)
        readiness = layer.value(Settings.ready)
        if readiness == .listen && listen.isEmpty {
            throw ConfigurationError("ready = listen needs at least one listen address; add --listen ADDRESS:PORT")
        }
        if readiness == .listen && listenMode == .app && !listen.contains(where: { $0.kind == .tcp }) {
            throw ConfigurationError(
                "ready = listen in listen-mode app watches for a TCP listening socket, and every listen address is "
                    + "UDP; use ready = notify (READY=1), or listen-mode reuseport or shared, where the supervisor "
                    + "binds the sockets and watches the instance wait on them")
        }
        adminPortBase = layer.value(Settings.adminPortBase)
        // Two ports per slot: while an instance is replaced, the old and the new one run side by side.
        if let base = adminPortBase, Int(base) + 2 * instances - 1 > 65535 {
            throw ConfigurationError(
                "admin-port-base \(base) needs 2 × \(instances) ports (old and new instance of each slot side by "
                    + "side during a reload), which goes past port 65535; use a lower base")
        }
        liveness = layer.value(Settings.liveness)
        livenessInterval = layer.value(Settings.livenessInterval)
        livenessThreshold = layer.value(Settings.livenessThreshold)
        guard livenessInterval > .zero else { throw ConfigurationError("liveness-interval must be longer than 0 s") }
        guard livenessThreshold >= 1 else {
            throw ConfigurationError("liveness-threshold must be at least 1, not \(livenessThreshold)")
        }
        if case .http(let url) = readiness {
            try Self.check(url, as: "ready", listen: listen, adminPortBase: adminPortBase, instances: instances)
        }
        if case .http(let url) = liveness {
            try Self.check(url, as: "liveness", listen: listen, adminPortBase: adminPortBase, instances: instances)
        }
        watchdog = layer.value(Settings.watchdogSec)
        if let watchdog, watchdog <= .zero { throw ConfigurationError("watchdog-sec must be longer than 0 s") }
        health = layer.value(Settings.health)
        if let health, health.kind == .udp {
            throw ConfigurationError(
                "health \(health): the health endpoint speaks HTTP, over TCP or a Unix socket; use ADDRESS:PORT or "
                    + "unix:/PATH")
        }
        if let health, health.kind == .unix, listen.contains(where: { $0.unnamed == health.unnamed }) {
            throw ConfigurationError("health \(health) is also a listen address; give the health endpoint its own path")
        }
        minReady = layer.value(Settings.minReady)
        guard (1...instances).contains(minReady) else {
            throw ConfigurationError(
                "min-ready must be between 1 and the number of instances (\(instances)), not \(minReady)")
        }
        shutdownDelay = layer.value(Settings.shutdownDelay)
        readyTimeout = layer.value(Settings.readyTimeout)
        let startNice = layer.value(Settings.startNice)
        guard (0...19).contains(startNice) else {
            throw ConfigurationError(
                "start-nice must be a nice value from 0 (off) to 19 (the lowest priority), not \(startNice)")
        }
        self.startNice = Int32(startNice)
        startIdle = layer.value(Settings.startIdle)
        guard startIdle >= .zero else { throw ConfigurationError("start-idle must not be negative") }
        drainTimeout = layer.value(Settings.drainTimeout)
        stopPace = layer.value(Settings.stopPace)
        guard stopPace >= .zero else { throw ConfigurationError("stop-pace must not be negative") }
        for (setting, value) in [("ready-timeout", readyTimeout), ("drain-timeout", drainTimeout)] where value <= .zero
        {
            throw ConfigurationError("\(setting) must be longer than 0 s")
        }
        // The drain timeout counts from the rollout's decision, before a paced signal is sent.
        let lastSignal = stopPace * (instances - 1)
        if stopPace > .zero, lastSignal >= drainTimeout {
            throw ConfigurationError(
                "stop-pace \(stopPace.secondsText) for \(instances) instances signals the last old one "
                    + "\(lastSignal.secondsText) after the first, not within drain-timeout \(drainTimeout.secondsText): "
                    + "it would be killed before it could drain; shorten stop-pace or lengthen drain-timeout")
        }
        stopSignal = layer.value(Settings.stopSignal)
        if stopSignal == .kill {
            throw ConfigurationError(
                "stop-signal KILL gives instances no chance to drain; use TERM (the default) or the signal the "
                    + "program drains on, and rely on drain-timeout for SIGKILL")
        }
        if case .count(let count) = layer.value(Settings.maxSurge) { maxSurge = count } else { maxSurge = nil }
        if let maxSurge, maxSurge < 1 {
            throw ConfigurationError("max-surge must be at least 1, not \(maxSurge)")
        }
        controlSocket = layer.value(Settings.controlSocket)
        controlGroup = try layer.value(Settings.controlGroup).map { name throws(ConfigurationError) in
            try ControlGroup(named: name)
        }
        bake = layer.value(Settings.bake)
        maxDraining = layer.value(Settings.maxDraining)
        guard maxDraining >= 1 else { throw ConfigurationError("max-draining must be at least 1, not \(maxDraining)") }
        release = layer.value(Settings.release)
        if case .label(let label) = release { releaseLabel = label }
        let user = layer.value(Settings.user)
        let group = layer.value(Settings.group)
        if group != nil && user == nil {
            throw ConfigurationError("group needs user as well: --user NAME --group GROUP")
        }
        credentials = try user.map { user throws(ConfigurationError) in
            try InstanceCredentials.resolve(
                user: user, group: group, supervisorUID: InstanceCredentials.currentUID)
        }
        guard bake >= .zero else { throw ConfigurationError("bake must not be negative") }
        environment = layer.value(Settings.environment).sorted { $0.key < $1.key }.map {
            EnvironmentVariable(name: $0.key, value: $0.value)
        }
        for variable in environment {
            if variable.name.isEmpty || variable.name.contains("=") || variable.name.contains("\0") {
                throw ConfigurationError("environment variable name '\(variable.name)' is not valid")
            }
            if ServiceEnvironment.setBySupervisor.contains(variable.name) {
                throw ConfigurationError(
                    "environment variable \(variable.name) is set by the supervisor for each instance; remove it")
            }
        }
        command = layer.value(Settings.command)
        guard let program = command.first, !program.isEmpty else {
            throw ConfigurationError(
                "no command to supervise; give it after '--' (supervisor run -- /usr/bin/server --port 8080) or as "
                    + "command = [\"/usr/bin/server\", \"--port\", \"8080\"] in the config file")
        }
    }

    /// A probe must reach one instance, not the port they share.
    private static func check(
        _ url: ProbeURL,
        as setting: String,
        listen: [ListenAddress],
        adminPortBase: UInt16?,
        instances: Int
    ) throws(ConfigurationError) {
        let fix =
            "give each instance an admin port: --admin-port-base 9000 and --\(setting) "
            + "http:http://127.0.0.1:{port}/health (SUPERVISOR_ADMIN_PORT tells the instance its port)"
        guard url.isPerInstance else {
            throw ConfigurationError(
                "\(setting) probe \(url) is the same URL for every instance, so it cannot tell one instance from "
                    + "another; \(fix)")
        }
        if url.usesAdminPort && adminPortBase == nil {
            throw ConfigurationError("\(setting) probe \(url) uses {port}, which needs --admin-port-base")
        }
        let servicePorts = Set(listen.compactMap(\.tcpPort))
        for slot in 0..<instances {
            // Old and new instance of a slot side by side: the first two ports matter.
            let ports = adminPorts(base: Int(adminPortBase ?? 0), instances: instances, slot: slot).prefix(2)
            for adminPort in ports {
                let port = try url.resolve(slot: slot, adminPort: adminPort, setting: setting).port
                if servicePorts.contains(port) {
                    throw ConfigurationError(
                        "\(setting) probe \(url) targets the service port \(port), which every instance shares: the "
                            + "kernel picks the instance that answers, so the probe cannot tell whether this one is "
                            + "ready; \(fix)")
                }
            }
        }
    }

    /// The admin ports of an instance in `slot`, in order of preference: base + slot, then base + instances + slot
    /// while the instance it replaces still holds the first, and so on.
    static func adminPorts(base: Int, instances: Int, slot: Int) -> StrideThrough<Int> {
        stride(from: base + slot, through: 65535, by: instances)
    }

    /// What the rollout machine needs of this configuration.
    package var policy: GenerationPolicy {
        GenerationPolicy(
            instances: instances, maxSurge: maxSurge ?? instances, readyTimeout: readyTimeout,
            drainTimeout: drainTimeout, stopSignal: stopSignal, bake: bake,
            maxDraining: maxDraining)
    }
}

/// One `NAME=VALUE` for an instance's environment.
package struct EnvironmentVariable: Equatable, Sendable {
    package let name: String
    package let value: String

    package init(name: String, value: String) {
        self.name = name
        self.value = value
    }

    /// Parses `NAME=VALUE` as `--env` takes it.
    package init(assignment: String) throws(ConfigurationError) {
        guard let equals = assignment.firstIndex(of: "="), equals != assignment.startIndex else {
            throw ConfigurationError("--env '\(assignment)' is not NAME=VALUE")
        }
        self.name = String(assignment[..<equals])
        self.value = String(assignment[assignment.index(after: equals)...])
    }
}
