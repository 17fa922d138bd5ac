/// What the rollout machine knows about one instance.
package struct InstanceRecord: Equatable, Codable, Sendable {
    /// Where an instance is in its life.
    package enum Phase: String, Equatable, Codable, Sendable {
        /// Asked to be spawned; no pid yet.
        case spawning
        /// Running, not ready yet.
        case starting
        /// Ready: serving.
        case ready
        /// Sent its stop signal (or announced `STOPPING=1`), draining.
        case stopping
        /// Sent SIGKILL after the drain timeout.
        case killed
    }

    package let id: InstanceID
    package let slot: Slot
    package let generation: Generation
    /// The pid spawned; also the id of its process group and session.
    package internal(set) var pid: Int32?
    /// The pid that gets the stop signal: `pid`, or what the instance announced with `MAINPID=`.
    package internal(set) var mainPID: Int32?
    package internal(set) var phase: Phase
    package let createdAt: ContinuousClock.Instant
    package internal(set) var readyAt: ContinuousClock.Instant?
    package internal(set) var stoppingSince: ContinuousClock.Instant?
    /// The last `STATUS=` the instance sent.
    package internal(set) var statusText: String?
    /// Why a ready instance is being replaced while it still serves (watchdog, liveness probe); `nil` when healthy.
    package internal(set) var unhealthy: String?
    /// The live connections it held at the last count (``ConnectionCensus``); `nil` before the first.
    package internal(set) var openConnections: Int?
    /// The count last reported in a drain progress line.
    var reportedConnections: Int?
    /// Set when a stop is wanted before the spawn finished.
    var stopWhenSpawned = false

    /// Running and not on its way out.
    package var isLive: Bool { phase == .spawning || phase == .starting || phase == .ready }

    /// Ready, and not marked for replacement.
    package var isServingHealthy: Bool { phase == .ready && unhealthy == nil }

    /// `instance #1 (pid 4312, generation 3)`, the way every message names an instance.
    package var label: String {
        if let mainPID { return "instance \(slot) (pid \(mainPID), \(generation))" }
        return "instance \(slot) (\(generation))"
    }
}
