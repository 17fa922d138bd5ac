/// A step of ``SupervisedHTTPServer/drain(progress:)``, for logs and the service manager's status line.
public enum DrainProgress: Sendable, Hashable, CustomStringConvertible {
    /// The listeners are closed and the drain event went out to the connections open at that moment.
    case started(openConnections: Int)
    /// Still waiting; sent when the number of open connections changed since the last report.
    case waiting(openConnections: Int)
    /// No connection is left (the drain is over).
    case finished(DrainOutcome)

    /// `draining: 3 connections`, `drained`, `drained after the deadline: force-closed 2 connections`.
    public var description: String {
        switch self {
        case .started(let count), .waiting(let count):
            "draining: \(count) \(count == 1 ? "connection" : "connections")"
        case .finished(let outcome):
            "\(outcome)"
        }
    }
}

/// How a drain ended.
public struct DrainOutcome: Sendable, Hashable, CustomStringConvertible {
    /// Connections that were still open at the deadline and were closed, with whatever they were doing.
    public var forciblyClosedConnections: Int
    /// From the start of the drain to the close of the last connection.
    public var duration: Duration

    /// Whether every connection finished by the rules, none was closed by the deadline.
    public var isComplete: Bool { forciblyClosedConnections == 0 }

    /// A drain outcome from its parts.
    public init(forciblyClosedConnections: Int, duration: Duration) {
        self.forciblyClosedConnections = forciblyClosedConnections
        self.duration = duration
    }

    /// `drained` or `drained after the deadline: force-closed 2 connections`.
    public var description: String {
        isComplete
            ? "drained"
            : "drained after the deadline: force-closed \(forciblyClosedConnections) "
                + (forciblyClosedConnections == 1 ? "connection" : "connections")
    }
}
