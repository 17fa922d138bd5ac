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

    /// A client for the supervisor these options point at.
    func client(environment: [String: String]) throws(ConfigurationError) -> ControlClient {
        let file = try config.map { path throws(ConfigurationError) in try ConfigurationFile.load(path: path) }
        let name = name ?? file?.name ?? Configuration.defaultName
        let location = try ControlSocketLocation(
            explicit: controlSocket ?? file?.controlSocket, name: name, environment: environment)
        return ControlClient(path: location.existingPath, name: name)
    }
}
