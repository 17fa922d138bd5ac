import ArgumentParser
import FoundationEssentials
import SupervisorCore

struct StatusCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "status",
        abstract:
            "Show every instance: slot, pid, generation, state, ready since, restarts, open connections, last STATUS=.")

    @OptionGroup var target: ClientOptions

    @Flag(help: "Print the status as JSON.")
    var json = false

    func run() throws {
        var report: StatusReport?
        var refusal: String?
        try send(ControlRequest(command: .status), to: target) { reply in
            report = reply.status ?? report
            if let result = reply.result, !result.ok { refusal = result.message }
        }
        if let refusal { throw ValidationFailure(refusal) }
        guard let report else { throw ValidationFailure("the supervisor sent no status") }
        if json {
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            printLine(String(decoding: try encoder.encode(report), as: UTF8.self))
        } else {
            printLine(StatusTable.render(report, now: Date.now.timeIntervalSince1970))
        }
    }
}
