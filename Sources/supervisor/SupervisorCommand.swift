import ArgumentParser
import SupervisorCore

/// `supervisor`: runs N instances of a server and upgrades them with zero downtime.
@main
struct SupervisorCommand: AsyncParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "supervisor",
        abstract: "Run N instances of a network server and upgrade them with zero downtime.",
        discussion: """
            Instances share their port with SO_REUSEPORT; an instance is ready when it sends READY=1 over the \
            sd_notify protocol (NOTIFY_SOCKET), as a systemd Type=notify service does. `supervisor reload` (or \
            SIGHUP) starts a new generation, waits until it is ready, then drains the old one; a new generation \
            that fails is rolled back while the old one keeps serving.
            """,
        version: SupervisorVersion.current,
        subcommands: [
            RunCommand.self, ReloadCommand.self, UpgradeCommand.self, StatusCommand.self, StopCommand.self,
            CheckCommand.self, VerifyCommand.self,
            LifelineCommand.self, ParseConfigCommand.self, UpgradeCheckCommand.self,
        ]
    )
}
