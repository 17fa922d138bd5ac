import ArgumentParser
import FoundationEssentials
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

            With --json, standard output gets one JSON object (progress goes to standard error): result \
            (completed, rolled_back, failed or refused), from and to (generation, release, executable, \
            executableDigest, configDigest; to is null when nothing was rolled out), durationSeconds, message, and \
            on failure output (the failed instance's last lines). The exit status is the same.
            """
    )

    @OptionGroup var target: ClientOptions

    @Flag(
        help: """
            Once the new generation serves, also wait until the old instances have exited, printing how many \
            connections each still holds once a second while it drains.
            """)
    var waitDrained = false

    @Flag(help: "Print the outcome as one JSON object on standard output; progress goes to standard error.")
    var json = false

    func run() throws {
        let request = ControlRequest(command: .reload, waitForDrain: waitDrained ? true : nil)
        let started = ContinuousClock.now
        let result: ControlResult
        do {
            guard let final = try sendPrintingProgress(request, to: target, progressTo: json ? 2 : 1) else {
                throw ValidationFailure("the supervisor closed the connection before the reload ended")
            }
            result = final
        } catch let failure as ValidationFailure where json {
            // A deploy tool reads stdout: it gets the outcome there whatever went wrong.
            try printJSON(ReloadOutcome(failure: failure.description, seconds: started.secondsSince))
            throw ExitCode(1)
        }
        if json {
            try printJSON(ReloadOutcome(result, seconds: started.secondsSince))
            if !result.ok { throw ExitCode(1) }
            return
        }
        if result.ok {
            printLine(result.message)
            if let line = Self.releaseLine(result) { printLine(line) }
            return
        }
        printError(result.message)
        if let output = result.output, !output.isEmpty {
            printError("last output of the failed instance:")
            for line in output { printError("  | \(line)") }
        }
        throw ExitCode(1)
    }

    /// `release v1 -> v2` after a completed reload, when the generations have labels.
    static func releaseLine(_ result: ControlResult) -> String? {
        guard let to = result.to?.release else { return nil }
        return "release " + (result.from?.release.map { "\($0) -> " } ?? "") + to
    }
}

/// What `reload --json` prints.
struct ReloadOutcome: Encodable {
    /// `completed`, `rolled_back`, `failed` or `refused`.
    var result: String
    var from: GenerationRelease?
    var to: GenerationRelease?
    /// From the request to the answer, as the caller waited.
    var durationSeconds: Double
    var message: String
    /// The last lines of the instance whose failure explains the outcome.
    var output: [String]?
    var figures: RolloutFigures?

    init(_ result: ControlResult, seconds: Double) {
        // A supervisor from before outcomes were said: what ok tells.
        self.result = result.outcome ?? (result.ok ? "completed" : "failed")
        from = result.from
        to = result.to
        durationSeconds = seconds
        message = result.message
        output = result.ok ? nil : (result.output ?? [])
        figures = result.figures
    }

    init(failure: String, seconds: Double) {
        result = "failed"
        durationSeconds = seconds
        message = failure
        output = []
    }

    /// Nulls written out, so that a reader finds every key.
    func encode(to encoder: any Encoder) throws {
        var container = encoder.container(keyedBy: CodingKeys.self)
        try container.encode(result, forKey: .result)
        try container.encode(from, forKey: .from)
        try container.encode(to, forKey: .to)
        try container.encode(durationSeconds, forKey: .durationSeconds)
        try container.encode(message, forKey: .message)
        try container.encodeIfPresent(output, forKey: .output)
        try container.encodeIfPresent(figures, forKey: .figures)
    }

    private enum CodingKeys: String, CodingKey {
        case result, from, to, durationSeconds, message, output, figures
    }
}

extension ContinuousClock.Instant {
    /// Seconds from this instant to now, to the millisecond.
    var secondsSince: Double {
        let elapsed = ContinuousClock.now - self
        let milliseconds = elapsed.components.seconds * 1000 + elapsed.components.attoseconds / 1_000_000_000_000_000
        return Double(milliseconds) / 1000
    }
}

/// Prints `value` as one line of JSON, keys sorted.
func printJSON(_ value: some Encodable) throws {
    let encoder = JSONEncoder()
    encoder.outputFormatting = [.sortedKeys, .withoutEscapingSlashes]
    printLine(String(decoding: try encoder.encode(value), as: UTF8.self))
}
