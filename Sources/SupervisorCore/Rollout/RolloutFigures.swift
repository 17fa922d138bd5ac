/// The figures of one rollout, for callers that want more than its result line (`supervisor verify`,
/// `supervisor reload --wait-drained`): how long each new instance took to be ready and, when the caller waited for
/// them, how each old instance drained.
package struct RolloutFigures: Codable, Equatable, Sendable {
    /// A new instance that became ready during the rollout.
    package struct Ready: Codable, Equatable, Sendable {
        package var slot: Int
        package var pid: Int32?
        /// From its start to its readiness.
        package var seconds: Double

        package init(slot: Int, pid: Int32?, seconds: Double) {
            self.slot = slot
            self.pid = pid
            self.seconds = seconds
        }
    }

    /// An old instance that exited after it was asked to stop.
    package struct Drain: Codable, Equatable, Sendable {
        package var slot: Int
        package var pid: Int32?
        package var generation: Int
        /// From its stop signal to its exit.
        package var seconds: Double
        /// It did not exit within the drain timeout and got SIGKILL.
        package var killed: Bool
        /// The connections it still held at the last count before it exited (at the drain timeout when killed);
        /// `nil` when they could not be counted.
        package var openConnections: Int?
        /// How it ended, e.g. `exited with status 0`.
        package var exit: String

        package init(
            slot: Int, pid: Int32?, generation: Int, seconds: Double, killed: Bool, openConnections: Int?,
            exit: String
        ) {
            self.slot = slot
            self.pid = pid
            self.generation = generation
            self.seconds = seconds
            self.killed = killed
            self.openConnections = openConnections
            self.exit = exit
        }
    }

    package var ready: [Ready]
    package var drains: [Drain]

    package init(ready: [Ready] = [], drains: [Drain] = []) {
        self.ready = ready
        self.drains = drains
    }
}
