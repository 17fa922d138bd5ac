/// A snapshot of the supervisor for `supervisor status` and the HTTP `/status` endpoint.
package struct StatusReport: Codable, Equatable, Sendable {
    package struct Instance: Codable, Equatable, Sendable {
        package var slot: Int
        package var pid: Int32?
        package var generation: Int
        /// `starting`, `ready`, `stopping`, `killed`.
        package var state: String
        /// Unix time in seconds when it became ready.
        package var readySince: Double?
        /// Restarts of this slot after failures since the supervisor started.
        package var restarts: Int
        /// The last `STATUS=` it sent.
        package var status: String?
        /// Why it is being replaced while it still serves (watchdog, liveness probe).
        package var unhealthy: String?
        /// The last result of its readiness or liveness probe, or when it last sent `WATCHDOG=1`.
        package var probe: String?
        /// Live TCP connections it (with its descendants) holds on its listen ports, counted when the status was
        /// asked for; `nil` when they could not be counted.
        package var connections: Int? = nil
    }

    package struct Rollout: Codable, Equatable, Sendable {
        package var from: Int?
        package var to: Int
        /// Unix time in seconds.
        package var startedAt: Double
    }

    package struct LastResult: Codable, Equatable, Sendable {
        package var succeeded: Bool
        /// `started`, `completed`, `rolled_back`, `failed` or `refused`.
        package var result: String
        package var message: String
        /// Unix time in seconds.
        package var finishedAt: Double
        /// The generation that served before, and the one rolled out (the one that failed, when rolled back).
        package var from: Int? = nil
        package var to: Int? = nil
        /// The release label of ``to``, when it had one.
        package var toRelease: String? = nil
    }

    /// The supervisor's version.
    package var version: String
    package var name: String
    package var supervisorPID: Int32
    /// `running`, `shutting-down` (out of rotation, waiting for `shutdown-delay`), `stopping`.
    package var state: String
    package var generation: Int?
    package var command: [String]
    /// How many arguments of ``command`` the HTTP `/status` leaves out (see ``redactingSecrets()``); `nil` in
    /// `supervisor status`, which shows them all.
    package var commandArgumentsHidden: Int? = nil
    package var listen: [String]
    /// `app`, `reuseport` or `shared`.
    package var listenMode: String
    /// Whether a reload loses no queued connection.
    package var lossless: Bool
    /// Why not, e.g. `tcp_migrate_req=0`.
    package var losslessReason: String?
    package var readiness: String
    /// The liveness probe, when there is one.
    package var liveness: String?
    /// `watchdog-sec` in seconds, when set.
    package var watchdogSeconds: Double?
    /// How many instances `/readyz` needs.
    package var minReady: Int
    package var instancesWanted: Int
    package var instances: [Instance]
    /// What each generation that runs (or is rolled out) runs, oldest first.
    package var generations: [GenerationRelease]? = nil
    package var rollout: Rollout?
    package var queuedReloads: Int
    package var lastResult: LastResult?
    /// Earlier generations whose instances are still draining, oldest first, and how many may before a reload is
    /// refused.
    package var drainingGenerations: [Int]? = nil
    package var maxDraining: Int? = nil
    /// How many times the supervisor upgraded itself in place (`supervisor upgrade`), and the last time; `nil` when
    /// it never did.
    package var upgradeCount: Int? = nil
    package var lastUpgrade: UpgradeRecord? = nil
}
