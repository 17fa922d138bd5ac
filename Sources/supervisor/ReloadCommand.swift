import ArgumentParser
import SupervisorCore

struct ReloadCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "reload",
        abstract: "Roll out a new generation and wait until it serves.",
        discussion: """
            The supervisor reads its config file again, starts the new generation, waits until it is ready, then \
            drains the old one. Progress is printed as it happens. Exits 0 when the new generation serves, 1 when it \
            failed and was rolled back (the old generation kept serving), with the reason and the last lines the \
            failed instance printed. Reloads asked for during a rollout are combined into one rollout after it.
            """
    )

    @OptionGroup var target: ClientOptions

    @Flag(
        help: """
            Once the new generation serves, also wait until the old instances have exited, printing how many \
            connections each still holds once a second while it drains.
            """)
    var waitDrained = false

    func run() throws {
        let request = ControlRequest(command: .reload, waitForDrain: waitDrained ? true : nil)
        guard let result = try sendPrintingProgress(request, to: target) else {
            throw ValidationFailure("the supervisor closed the connection before the reload ended")
        }
        if result.ok {
            printLine(result.message)
            return
        }
        printError(result.message)
        if let output = result.output, !output.isEmpty {
            printError("last output of the failed instance:")
            for line in output { printError("  | \(line)") }
        }
        throw ExitCode(1)
    }
}
