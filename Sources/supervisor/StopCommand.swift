import ArgumentParser
import SupervisorCore

struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Drain every instance and make the supervisor exit; waits until it has.")

    @OptionGroup var target: ClientOptions

    func run() throws {
        // The supervisor may exit before its last line reaches us; the connection closing is the answer then.
        guard let result = try sendPrintingProgress(ControlRequest(command: .stop), to: target) else {
            printLine("stopped")
            return
        }
        guard result.ok else {
            printError(result.message)
            throw ExitCode(1)
        }
        printLine(result.message)
    }
}
