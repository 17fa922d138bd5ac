import ArgumentParser
import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

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

    func run() throws {
        let client = try clientOrFail(target)
        var result: ControlResult?
        try sendOrFail(client, .reload) { reply in
            if let progress = reply.progress { printLine(progress) }
            if let final = reply.result { result = final }
        }
        guard let result else { throw ValidationFailure("the supervisor closed the connection before the reload ended") }
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

struct StopCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "stop",
        abstract: "Drain every instance and make the supervisor exit; waits until it has.")

    @OptionGroup var target: ClientOptions

    func run() throws {
        let client = try clientOrFail(target)
        var result: ControlResult?
        try sendOrFail(client, .stop) { reply in
            if let progress = reply.progress { printLine(progress) }
            if let final = reply.result { result = final }
        }
        // The supervisor may exit before its last line reaches us; the connection closing is the answer then.
        guard let result else {
            printLine("stopped")
            return
        }
        if result.ok { printLine(result.message) } else { printError(result.message); throw ExitCode(1) }
    }
}

func clientOrFail(_ options: ClientOptions) throws -> ControlClient {
    do {
        return try options.client(environment: SystemInfo.environment())
    } catch {
        throw ValidationFailure(error.message)
    }
}

func sendOrFail(_ client: ControlClient, _ command: ControlRequest.Command, onReply: (ControlReply) -> Void) throws {
    do {
        try client.send(ControlRequest(command: command), onReply: onReply)
    } catch {
        throw ValidationFailure(error.description)
    }
}

/// Writes a line to standard output at once (progress must show while a reload runs, even through a pipe).
func printLine(_ text: String) {
    writeAll(1, text + "\n")
}

/// Writes a line to standard error.
func printError(_ text: String) {
    writeAll(2, text + "\n")
}

private func writeAll(_ fd: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        offset += written
    }
}
