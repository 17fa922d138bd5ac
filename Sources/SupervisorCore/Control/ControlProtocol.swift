/// What a client asks the running supervisor over the control socket: one JSON object on one line.
package struct ControlRequest: Codable, Equatable, Sendable {
    package enum Command: String, Codable, Sendable {
        /// Roll out a new generation; the reply streams progress, then the result.
        case reload
        /// Report every instance; the reply is one status.
        case status
        /// Drain everything and exit; the reply streams progress, then the result.
        case stop
        /// Execute a new supervisor binary in place (``ControlRequest/binary``); the reply streams progress, and
        /// the connection closes at the exec (or a result says why not).
        case upgrade
        /// How the upgrade with ``ControlRequest/upgradeID`` ended: answered by the program that runs after it.
        case upgradeResult = "upgrade-result"
    }

    package var command: Command
    /// With `reload`: answer a completed rollout only once the instances it stopped have exited, and stream their
    /// drain progress meanwhile (`supervisor reload --wait-drained`). Absent means `false`.
    package var waitForDrain: Bool?

    /// With `upgrade`: the binary to execute; absent means the one the supervisor was started from.
    package var binary: String?
    /// With `upgrade` and `upgrade-result`: the caller's id for its upgrade.
    package var upgradeID: UInt64?

    package init(command: Command, waitForDrain: Bool? = nil, binary: String? = nil, upgradeID: UInt64? = nil) {
        self.command = command
        self.waitForDrain = waitForDrain
        self.binary = binary
        self.upgradeID = upgradeID
    }
}

/// One line of a reply: exactly one of the fields is set.
package struct ControlReply: Codable, Equatable, Sendable {
    /// A step of a rollout or a stop, for the person waiting.
    package var progress: String?
    /// How the request ended; the last line of a reply.
    package var result: ControlResult?
    /// The answer to `status`.
    package var status: StatusReport?

    package static func progress(_ text: String) -> ControlReply { ControlReply(progress: text) }
    package static func result(_ result: ControlResult) -> ControlReply { ControlReply(result: result) }
    package static func status(_ report: StatusReport) -> ControlReply { ControlReply(status: report) }
}

/// The outcome of a request.
package struct ControlResult: Codable, Equatable, Sendable {
    package var ok: Bool
    package var message: String
    /// The last lines of the instance whose failure explains the outcome, oldest first.
    package var output: [String]?
    /// For a reload: how long the new instances took to be ready and, with `waitForDrain`, how the old ones drained.
    package var figures: RolloutFigures?
    /// How a reload or an upgrade ended: `completed`, `rolled_back` (a reload), `failed` or `refused` (nothing was
    /// begun); `nil` from supervisors before it was said, and for other requests.
    package var outcome: String?
    /// For a reload: the generation that served before, and the one rolled out (`nil` when none was begun).
    package var from: GenerationRelease?
    package var to: GenerationRelease?

    package init(
        ok: Bool, message: String, output: [String]? = nil, figures: RolloutFigures? = nil, outcome: String? = nil,
        from: GenerationRelease? = nil, to: GenerationRelease? = nil
    ) {
        self.ok = ok
        self.message = message
        self.output = output
        self.figures = figures
        self.outcome = outcome
        self.from = from
        self.to = to
    }
}
