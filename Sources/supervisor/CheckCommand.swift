import ArgumentParser
import SupervisorCore

struct CheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "check",
        abstract: "Check a configuration without starting anything; exits 1 with the first problem.",
        discussion: "Example: supervisor check --config /etc/supervisor/app.toml")

    @OptionGroup var options: RunOptions

    func run() throws {
        let configuration: Configuration
        do {
            // In a child first, as a reload does: a file that crashes the parser is reported, not an abort.
            if let path = options.config { try ParserCheck.parseInChild(path: path) }
            configuration = try options.source(environment: SystemInfo.environment()).load()
        } catch {
            throw ValidationFailure(error.message)
        }
        let surge = configuration.maxSurge.map(String.init) ?? "all"
        let listen =
            configuration.listen.isEmpty ? "-" : configuration.listen.map(\.description).joined(separator: ", ")
        printLine("configuration ok: \(configuration.name)")
        printLine("  command:       \(configuration.command.joined(separator: " "))")
        printLine("  instances:     \(configuration.instances) (max surge \(surge))")
        printLine("  listen:        \(listen) (\(configuration.listenMode.rawValue) mode)")
        printLine(
            "  ready:         \(configuration.readiness) within \(configuration.readyTimeout.secondsText)")
        printLine(
            "  stop:          \(configuration.stopSignal), SIGKILL after \(configuration.drainTimeout.secondsText)")
        for variable in configuration.environment { printLine("  environment:   \(variable.name)=\(variable.value)") }
    }
}
