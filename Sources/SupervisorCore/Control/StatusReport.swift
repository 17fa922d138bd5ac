/// A snapshot of the supervisor for `supervisor status` (and, later, the HTTP status endpoint).
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
    }

    public struct Rollout: Codable, Equatable, Sendable {
        public var from: Int?
        public var to: Int
        /// Unix time in seconds.
        public var startedAt: Double
    }

    public struct LastResult: Codable, Equatable, Sendable {
        public var succeeded: Bool
        public var message: String
        /// Unix time in seconds.
        public var finishedAt: Double
    }

    public var name: String
    public var supervisorPID: Int32
    /// `running`, `stopping`.
    public var state: String
    public var generation: Int?
    public var command: [String]
    public var listen: [String]
    /// `app`, `reuseport` or `shared`.
    public var listenMode: String
    /// Whether a reload loses no queued connection.
    public var lossless: Bool
    /// Why not, e.g. `tcp_migrate_req=0`.
    public var losslessReason: String?
    public var readiness: String
    public var instancesWanted: Int
    public var instances: [Instance]
    public var rollout: Rollout?
    public var queuedReloads: Int
    public var lastResult: LastResult?
}
