import ArgumentParser
import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

struct UpgradeCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade",
        abstract: "Replace the running supervisor's own binary in place: same pid, every instance untouched.",
        discussion: """
            The supervisor first runs the new binary in a child on the state it is about to hand over (the \
            instances, their sockets and pipes, the configuration of each generation, timers, metrics); only when \
            that child reads it does the supervisor execute the new binary in its own process, keeping its pid and \
            every descriptor. Connections, notify messages and output that arrive meanwhile wait in their queues. A \
            new binary that cannot take over executes the previous one again, which goes on from the same state. \
            Refused while a rollout is in progress. Exits 0 once the new binary runs and answers, 1 with the reason \
            when the upgrade was refused or failed (the supervisor then runs as before).

            Example: supervisor upgrade --name app --binary /usr/bin/supervisor
            """)

    @OptionGroup var target: ClientOptions

    @Option(
        help: ArgumentHelp(
            "The new supervisor binary. Default: the path the running supervisor was started from.",
            valueName: "path"))
    var binary: String?

    @Flag(
        help: """
            Print the outcome as one JSON object on standard output (result: completed, failed or refused; \
            fromVersion, toVersion, durationSeconds, message); progress goes to standard error.
            """)
    var json = false

    func run() throws {
        guard json else { return try report(try upgrade(progressTo: 1)) }
        let started = ContinuousClock.now
        let before = version()
        let outcome: UpgradeOutcome
        do {
            let result = try upgrade(progressTo: 2)
            outcome = UpgradeOutcome(
                result: result.outcome ?? (result.ok ? "completed" : "failed"), fromVersion: before,
                toVersion: result.ok ? version() : before, durationSeconds: started.secondsSince,
                message: result.message)
        } catch let failure as ValidationFailure {
            outcome = UpgradeOutcome(
                result: "failed", fromVersion: before, toVersion: version(), durationSeconds: started.secondsSince,
                message: failure.description)
        }
        try printJSON(outcome)
        if outcome.result != "completed" { throw ExitCode(1) }
    }

    /// Asks for the upgrade and returns how it ended, as the program running afterwards says.
    private func upgrade(progressTo descriptor: Int32) throws -> ControlResult {
        let id = UInt64.random(in: 1...UInt64.max)
        // Relative to this directory, not the supervisor's.
        let request = ControlRequest(command: .upgrade, binary: binary.map(FileText.absolute), upgradeID: id)
        // A result on this connection means the exec did not happen; its closing without one means it did.
        if let result = try sendPrintingProgress(request, to: target, progressTo: descriptor) { return result }
        var answer: ControlResult?
        try send(ControlRequest(command: .upgradeResult, upgradeID: id), to: target) { reply in
            if let result = reply.result { answer = result }
        }
        guard let answer else {
            throw ValidationFailure(
                "the supervisor closed the connection without saying how the upgrade ended; look at its log")
        }
        return answer
    }

    /// The running supervisor's version, `nil` when it does not answer.
    private func version() -> String? {
        var version: String?
        try? send(ControlRequest(command: .status), to: target) { reply in version = reply.status?.version ?? version }
        return version
    }

    private func report(_ result: ControlResult) throws {
        let name = (try? target.client(environment: SystemInfo.environment()).name) ?? "default"
        guard result.ok else {
            printError("supervisor \(name): \(result.message)")
            throw ExitCode(1)
        }
        printLine("supervisor \(name): \(result.message)")
    }
}

/// What `upgrade --json` prints.
struct UpgradeOutcome: Encodable {
    var result: String
    var fromVersion: String?
    var toVersion: String?
    var durationSeconds: Double
    var message: String
}

/// `supervisor upgrade-check`: started by a running supervisor at `supervisor upgrade`, never by people: this binary
/// reads the state it is about to be handed (standard input) and the command line and configurations in it, and prints
/// its version; it exits 1 with the reason when it cannot take them over (a format newer than it knows: a downgrade).
struct UpgradeCheckCommand: ParsableCommand {
    static let configuration = CommandConfiguration(
        commandName: "upgrade-check",
        abstract: "Read a supervisor's handover state from standard input (internal: started by `upgrade`).",
        shouldDisplay: false)

    func run() throws {
        do {
            let state = try HandoverState.decode(try Handover.read(0), newestFormat: Failpoint.newestFormat)
            guard let command = try? SupervisorCommand.parseAsRoot(Array(state.arguments.dropFirst())),
                let run = command as? RunCommand
            else {
                throw ValidationFailure(
                    "cannot read the command line `\(state.arguments.joined(separator: " "))` as `supervisor run`")
            }
            let source = try run.options.source(environment: SystemInfo.environment())
            for file in state.files { _ = try source.load(fileBytes: file.bytes, checkingFiles: false) }
        } catch let error as ConfigurationError {
            printLine("cannot read a configuration of the running supervisor: \(error.message)")
            throw ExitCode(1)
        } catch {
            printLine("\(error)")
            throw ExitCode(1)
        }
        printLine(SupervisorVersion.current)
    }
}
