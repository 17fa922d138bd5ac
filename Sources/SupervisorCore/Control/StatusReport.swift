/// A snapshot of the supervisor for `supervisor status` and the HTTP `/status` endpoint.
public struct StatusReport: Codable, Equatable, Sendable {
    public struct Instance: Codable, Equatable, Sendable {
        public var slot: Int
        public var pid: Int32?
        public var generation: Int
        /// `starting`, `ready`, `stopping`, `killed`.
        public var state: String
        /// Unix time in seconds when it became ready.
        public var readySince: Double?
        /// Restarts of this slot after failures since the supervisor started.
        public var restarts: Int
        /// The last `STATUS=` it sent.
        public var status: String?
        /// Why it is being replaced while it still serves (watchdog, liveness probe).
        public var unhealthy: String?
        /// The last result of its readiness or liveness probe, or when it last sent `WATCHDOG=1`.
        public var probe: String?
        /// Live TCP connections it (with its descendants) holds on its listen ports, counted when the status was
        /// asked for; `nil` when they could not be counted.
        public var connections: Int? = nil
    }

    public struct Rollout: Codable, Equatable, Sendable {
        public var from: Int?
        public var to: Int
        /// Unix time in seconds.
        public var startedAt: Double
    }

    public struct LastResult: Codable, Equatable, Sendable {
        public var succeeded: Bool
        /// `started`, `completed`, `rolled_back` or `failed`.
        public var result: String
        public var message: String
        /// Unix time in seconds.
        public var finishedAt: Double
    }

    /// The supervisor's version.
    public var version: String
    public var name: String
    public var supervisorPID: Int32
    /// `running`, `shutting-down` (out of rotation, waiting for `shutdown-delay`), `stopping`.
    public var state: String
    public var generation: Int?
    public var command: [String]
    /// How many arguments of ``command`` the HTTP `/status` leaves out (see ``redactingSecrets()``); `nil` in
    /// `supervisor status`, which shows them all.
    public var commandArgumentsHidden: Int? = nil
    public var listen: [String]
    /// `app`, `reuseport` or `shared`.
    public var listenMode: String
    /// Whether a reload loses no queued connection.
    public var lossless: Bool
    /// Why not, e.g. `tcp_migrate_req=0`.
    public var losslessReason: String?
    public var readiness: String
    /// The liveness probe, when there is one.
    public var liveness: String?
    /// `watchdog-sec` in seconds, when set.
    public var watchdogSeconds: Double?
    /// How many instances `/readyz` needs.
    public var minReady: Int
    public var instancesWanted: Int
    public var instances: [Instance]
    public var rollout: Rollout?
    public var queuedReloads: Int
    public var lastResult: LastResult?
    /// Earlier generations whose instances are still draining, oldest first, and how many may before a reload is
    /// refused.
    public var drainingGenerations: [Int]? = nil
    public var maxDraining: Int? = nil
}
