package import SupervisorCore

/// What `supervisor verify` found, as its `--json` prints it.
package struct VerificationReport: Codable, Equatable, Sendable {
    /// The server as the private supervisor ran it.
    package struct Server: Codable, Equatable, Sendable {
        package var command: [String]
        package var instances: Int
        package var listen: String
        package var listenMode: String
        package var readiness: String
        package var stopSignal: String
        package var drainTimeoutSeconds: Double
        /// Whether the supervisor judged reloads lossless on the listening side (`tcp_migrate_req` in app mode).
        package var lossless: Bool
        package var losslessReason: String?
    }

    /// One reload under load.
    package struct Reload: Codable, Equatable, Sendable {
        package var number: Int
        package var ok: Bool
        package var message: String
        /// Wall time of the reload as its caller saw it, drains included.
        package var seconds: Double
        package var figures: RolloutFigures?
    }

    /// One connection style: its load, its reloads, what failed.
    package struct Style: Codable, Equatable, Sendable {
        /// `keep-alive` or `new-connection`.
        package var style: String
        /// Requests before the first reload.
        package var steady: LoadCounts
        /// Requests from the first reload to shortly after the last.
        package var reloading: LoadCounts
        /// The steady phase's rate of successful requests.
        package var steadyRequestsPerSecond: Double
        package var reloads: [Reload]

        /// Every request of both phases.
        package var requests: Int { steady.requests + reloading.requests }
        /// Every failed request of both phases.
        package var failed: Int { steady.failed + reloading.failed }
    }

    /// `true` when no request failed, every reload succeeded and nothing else went wrong.
    package var passed: Bool
    package var server: Server?
    package var styles: [Style]
    /// One per kind of failure seen: what it means and what to do.
    package var findings: [Finding]
    /// Problems that are not failed requests: a first generation that never became ready, a rolled-back reload.
    package var problems: [String]
    /// Where the supervisor's and the instances' log lines went.
    package var log: String?
}
