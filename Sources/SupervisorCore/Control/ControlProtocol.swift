/// What a client asks the running supervisor over the control socket: one JSON object on one line.
public struct ControlRequest: Codable, Equatable, Sendable {
    public enum Command: String, Codable, Sendable {
        /// Roll out a new generation; the reply streams progress, then the result.
        case reload
        /// Report every instance; the reply is one status.
        case status
        /// Drain everything and exit; the reply streams progress, then the result.
        case stop
    }

    public var command: Command
    /// With `reload`: answer a completed rollout only once the instances it stopped have exited, and stream their
    /// drain progress meanwhile (`supervisor reload --wait-drained`). Absent means `false`.
    public var waitForDrain: Bool?

    public init(command: Command, waitForDrain: Bool? = nil) {
        self.command = command
        self.waitForDrain = waitForDrain
    }
}

/// One line of a reply: exactly one of the fields is set.
public struct ControlReply: Codable, Equatable, Sendable {
    /// A step of a rollout or a stop, for the person waiting.
    public var progress: String?
    /// How the request ended; the last line of a reply.
    public var result: ControlResult?
    /// The answer to `status`.
    public var status: StatusReport?

    public static func progress(_ text: String) -> ControlReply { ControlReply(progress: text) }
    public static func result(_ result: ControlResult) -> ControlReply { ControlReply(result: result) }
    public static func status(_ report: StatusReport) -> ControlReply { ControlReply(status: report) }
}

/// The outcome of a request.
public struct ControlResult: Codable, Equatable, Sendable {
    public var ok: Bool
    public var message: String
    /// The last lines of the instance whose failure explains the outcome, oldest first.
    public var output: [String]?
    /// For a reload: how long the new instances took to be ready and, with `waitForDrain`, how the old ones drained.
    public var figures: RolloutFigures?

    public init(ok: Bool, message: String, output: [String]? = nil, figures: RolloutFigures? = nil) {
        self.ok = ok
        self.message = message
        self.output = output
        self.figures = figures
    }
}
