public import SupervisorCore

/// What `supervisor verify` found, as its `--json` prints it.
public struct VerificationReport: Codable, Equatable, Sendable {
    /// The server as the private supervisor ran it.
    public struct Server: Codable, Equatable, Sendable {
        public var command: [String]
        public var instances: Int
        public var listen: String
        public var listenMode: String
        public var readiness: String
        public var stopSignal: String
        public var drainTimeoutSeconds: Double
        /// Whether the supervisor judged reloads lossless on the listening side (`tcp_migrate_req` in app mode).
        public var lossless: Bool
        public var losslessReason: String?
    }

    /// One reload under load.
    public struct Reload: Codable, Equatable, Sendable {
        public var number: Int
        public var ok: Bool
        public var message: String
        /// Wall time of the reload as its caller saw it, drains included.
        public var seconds: Double
        public var figures: RolloutFigures?
    }

    /// One connection style: its load, its reloads, what failed.
    public struct Style: Codable, Equatable, Sendable {
        /// `keep-alive` or `new-connection`.
        public var style: String
        /// Requests before the first reload.
        public var steady: LoadCounts
        /// Requests from the first reload to shortly after the last.
        public var reloading: LoadCounts
        /// The steady phase's rate of successful requests.
        public var steadyRequestsPerSecond: Double
        public var reloads: [Reload]

        /// Every request of both phases.
        public var requests: Int { steady.requests + reloading.requests }
        /// Every failed request of both phases.
        public var failed: Int { steady.failed + reloading.failed }
    }

    /// `true` when no request failed, every reload succeeded and nothing else went wrong.
    public var passed: Bool
    public var server: Server?
    public var styles: [Style]
    /// One per kind of failure seen: what it means and what to do.
    public var findings: [Finding]
    /// Problems that are not failed requests: a first generation that never became ready, a rolled-back reload.
    public var problems: [String]
    /// Where the supervisor's and the instances' log lines went.
    public var log: String?
}
