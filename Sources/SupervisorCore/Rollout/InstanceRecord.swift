/// What the rollout machine knows about one instance.
public struct InstanceRecord: Equatable, Sendable {
    /// Where an instance is in its life.
    public enum Phase: String, Equatable, Sendable {
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

    public let id: InstanceID
    public let slot: Slot
    public let generation: Generation
    /// The pid spawned; also the id of its process group and session.
    public internal(set) var pid: Int32?
    /// The pid that gets the stop signal: `pid`, or what the instance announced with `MAINPID=`.
    public internal(set) var mainPID: Int32?
    public internal(set) var phase: Phase
    public let createdAt: ContinuousClock.Instant
    public internal(set) var readyAt: ContinuousClock.Instant?
    public internal(set) var stoppingSince: ContinuousClock.Instant?
    /// The last `STATUS=` the instance sent.
    public internal(set) var statusText: String?
    /// Why a ready instance is being replaced while it still serves (watchdog, liveness probe); `nil` when healthy.
    public internal(set) var unhealthy: String?
    /// The live connections it held at the last count (``ConnectionCensus``); `nil` before the first.
    public internal(set) var openConnections: Int?
    /// The count last reported in a drain progress line.
    var reportedConnections: Int?
    /// Set when a stop is wanted before the spawn finished.
    var stopWhenSpawned = false

    /// Running and not on its way out.
    public var isLive: Bool { phase == .spawning || phase == .starting || phase == .ready }

    /// Ready, and not marked for replacement.
    public var isServingHealthy: Bool { phase == .ready && unhealthy == nil }

    /// `instance #1 (pid 4312, generation 3)`, the way every message names an instance.
    public var label: String {
        if let mainPID { return "instance \(slot) (pid \(mainPID), \(generation))" }
        return "instance \(slot) (\(generation))"
    }
}
