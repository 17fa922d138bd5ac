import ArgumentParser
import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// `supervisor parse-config PATH`: started by a running supervisor at each reload, never by people. It parses the
/// config file's bytes from standard input, so that a crash of the parser ends this process and fails only that
/// reload (see `ParserCheck`). Exits 0 when they parse; prints the error and exits 1 when not.
struct ParseConfigCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "parse-config",
        abstract: "Parse a config file read from standard input (internal: started by `run` at each reload).",
        shouldDisplay: false)

    @Argument(help: "The file's path, to name it in errors.")
    var path: String

    func run() throws {
        do {
            try ConfigurationFile.parseStandardInput(path: path)
        } catch {
            printLine(error.message)
            throw ExitCode(1)
        }
    }
}
