internal import CoreMetrics
internal import Metrics

/// The supervisor's metrics, through swift-metrics (the executable bootstraps a Prometheus backend; without one they
/// cost nothing). Names follow Prometheus conventions.
final class SupervisorMetrics {
    /// What the counters have counted since the supervisor started, which an in-place upgrade hands over (a
    /// counter of swift-metrics cannot be read back).
    struct Tallies: Codable, Equatable, Sendable {
        var reloads: [String: Int64] = [:]
        var restarts: Int64 = 0
        var forcedKills: Int64 = 0
        var notifyDropped: Int64 = 0
    }

    private(set) var tallies = Tallies()

    private let instancesByState: [InstanceRecord.Phase: Gauge] = Dictionary(
        uniqueKeysWithValues: [InstanceRecord.Phase.starting, .ready, .stopping, .killed].map {
            ($0, Gauge(label: "supervisor_instances", dimensions: [("state", $0.rawValue)]))
        })
    private let unhealthy = Gauge(label: "supervisor_instances_unhealthy")
    private let generation = Gauge(label: "supervisor_generation")
    private let lossless = Gauge(label: "supervisor_lossless")
    private let reloads: [ReloadResult.Kind: Counter] = Dictionary(
        uniqueKeysWithValues: [ReloadResult.Kind.completed, .rolledBack, .failed].map {
            ($0, Counter(label: "supervisor_reloads_total", dimensions: [("result", $0.rawValue)]))
        })
    private let rolloutDuration = Timer(label: "supervisor_rollout_duration_seconds")
    private let restarts = Counter(label: "supervisor_instance_restarts_total")
    private let timeToReady = Timer(label: "supervisor_time_to_ready_seconds")
    private let drainDuration = Timer(label: "supervisor_drain_duration_seconds")
    private let forcedKills = Counter(label: "supervisor_forced_kills_total")
    private let notifyDropped = Counter(label: "supervisor_notify_messages_dropped_total")
    /// Set where connections are counted: by the drain census and when the endpoint serves `/metrics`.
    let connections = ConnectionGauges()

    /// A notify datagram was dropped (bad sender, too long, malformed).
    func notifyMessageDropped() {
        notifyDropped.increment()
        tallies.notifyDropped += 1
    }

    /// Counts again what the program before an in-place upgrade had counted.
    func restore(_ counted: Tallies) {
        tallies = counted
        for (kind, counter) in reloads {
            if let count = counted.reloads[kind.rawValue], count > 0 { counter.increment(by: count) }
        }
        if counted.restarts > 0 { restarts.increment(by: counted.restarts) }
        if counted.forcedKills > 0 { forcedKills.increment(by: counted.forcedKills) }
        if counted.notifyDropped > 0 { notifyDropped.increment(by: counted.notifyDropped) }
    }

    func record(_ measurement: RolloutMachine.Measurement) {
        switch measurement {
        case .becameReady(let duration): timeToReady.record(duration: duration)
        case .drained(let duration, _): drainDuration.record(duration: duration)
        case .forcedKill:
            forcedKills.increment()
            tallies.forcedKills += 1
        case .restart:
            restarts.increment()
            tallies.restarts += 1
        case .rollout(let kind, let duration):
            reloads[kind]?.increment()
            if reloads[kind] != nil { tallies.reloads[kind.rawValue, default: 0] += 1 }
            if kind == .completed || kind == .rolledBack { rolloutDuration.record(duration: duration) }
        }
    }

    /// Sets the gauges from the machine's state.
    func update(from machine: RolloutMachine, lossless isLossless: Bool) {
        var counts: [InstanceRecord.Phase: Int] = [:]
        for record in machine.records {
            counts[record.phase == .spawning ? .starting : record.phase, default: 0] += 1
        }
        for (phase, gauge) in instancesByState { gauge.record(counts[phase] ?? 0) }
        unhealthy.record(machine.records.filter { $0.unhealthy != nil && $0.isLive }.count)
        generation.record(machine.target?.number ?? 0)
        lossless.record(isLossless ? 1 : 0)
    }
}

/// `supervisor_connections{role="serving|draining"}`: the live connections of the instances that serve and of those
/// that drain, as last counted. Two values whatever the number of generations, so the series never grow.
struct ConnectionGauges: Sendable {
    private let serving = Gauge(label: "supervisor_connections", dimensions: [("role", "serving")])
    private let draining = Gauge(label: "supervisor_connections", dimensions: [("role", "draining")])

    /// Sets both from a census: `counts` per instance, `drains` telling which instances drain.
    func record(_ counts: [InstanceID: Int], drains: (InstanceID) -> Bool) {
        var servingCount = 0
        var drainingCount = 0
        for (id, count) in counts {
            if drains(id) { drainingCount += count } else { servingCount += count }
        }
        serving.record(servingCount)
        draining.record(drainingCount)
    }
}
