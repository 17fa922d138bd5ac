import ArgumentParser
import SupervisorCore

/// How `reload`, `status` and `stop` find the control socket of a running supervisor.
struct ClientOptions: ParsableArguments {
    @Option(help: ArgumentHelp("The name given to `run`. (default: default)"))
    var name: String?

    @Option(
        name: .customLong("control-socket"),
        help: ArgumentHelp("The control socket's path, when `run` was given one.", valueName: "path"))
    var controlSocket: String?

    @Option(help: ArgumentHelp("Take the name and control socket from this config file.", valueName: "path"))
    var config: String?

    @Option(
        help: ArgumentHelp(
            "Give up when the whole call takes longer, e.g. 90s (0: no limit). Default: 10s for status; no limit for "
                + "reload and stop, which wait for the rollout or drain. The supervisor must answer within 10s anyway.",
            valueName: "duration"))
    var timeout: String?

    /// How long the call may take in all, for `command`; `nil` for no limit.
    func callTimeout(for command: ControlRequest.Command) throws(ConfigurationError) -> Duration? {
        guard let timeout else { return command == .status ? .seconds(10) : nil }
        let duration = try Duration.parse(timeout, for: "--timeout")
        return duration == .zero ? nil : duration
    }

    /// A client for the supervisor these options point at.
    func client(environment: [String: String]) throws(ConfigurationError) -> ControlClient {
        let file = try config.map { path throws(ConfigurationError) in try ConfigurationFile.load(path: path) }
        let name = name ?? (file ?? ConfigurationLayer()).value(Settings.name)
        let explicit = controlSocket ?? file?[Settings.controlSocket]
        let location = try ControlSocketLocation(explicit: explicit, name: name, environment: environment)
        // A path given without a name: the name is only the default, and a message naming it would mislead.
        let pathOnly = explicit != nil && self.name == nil && file?[Settings.name] == nil
        return ControlClient(path: location.existingPath, name: name, pathGiven: pathOnly)
    }
}
