import Dispatch
internal import Logging

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// What the census counts: every instance with a process, on the ports of its own configuration.
    func censusSubjects(only ids: Set<InstanceID>? = nil) -> [ConnectionCensus.Subject] {
        machine.records.compactMap { record in
            guard ids?.contains(record.id) ?? true, let running = instances[record.id] else { return nil }
            return ConnectionCensus.Subject(
                key: record.id, pid: running.pid, listen: running.configuration.listen,
                bindsItself: running.listenerInodes.isEmpty)
        }
    }

    /// Counts the connections of one instance now, on the loop, for the message at its drain timeout (a few
    /// milliseconds with a thousand connections: bench/README.md).
    func countConnections(only ids: Set<InstanceID>) -> [InstanceID: Int] {
        let subjects = censusSubjects(only: ids)
        let start = ContinuousClock.now
        let counts = ConnectionCensus.count(subjects)
        logCensus(counts, of: subjects.count, took: .now - start)
        return counts
    }

    /// Counts every instance's connections on the I/O queue, then answers `status` from the loop: a host with many
    /// thousands of connections does not hold the loop up.
    func countConnectionsForStatus(_ reply: AsyncStream<ControlReply>.Continuation) {
        let subjects = censusSubjects()
        let sink = eventSink
        ioQueue.async {
            let start = ContinuousClock.now
            let counts = ConnectionCensus.count(subjects)
            sink.yield(.statusCounted(counts, of: subjects.count, took: .now - start, reply))
        }
    }

    /// `connection census: 1000 connections of 2 instances in 1.9 ms`, at debug level (bench/census reads it).
    func logCensus(_ counts: [InstanceID: Int], of instances: Int, took: Duration) {
        let total = counts.values.reduce(0, +)
        let milliseconds = (took.seconds * 10_000).rounded() / 10
        logger.debug("connection census: \(total) connections of \(instances) instances in \(milliseconds) ms")
    }

    /// While an instance drains, counts every instance's connections once a second, off the loop; the machine
    /// reports each draining instance's count. Called after every event; nothing runs while nothing drains. On a
    /// host where a count takes long (about 9 µs a connection), counts come at most a tenth of the time.
    func scheduleDrainCensus() {
        guard let delay = drainCensus.next(whileDraining: isDraining) else { return }
        after(delay, .drainCensusDue)
    }

    /// Whether an instance is draining.
    private var isDraining: Bool { machine.records.contains { $0.phase == .stopping } }

    /// The drain census is due: count on the I/O queue and feed the result back; nothing when the drains it was
    /// for have ended.
    func drainCensusDue() {
        guard drainCensus.due(whileDraining: isDraining) else { return }
        let subjects = censusSubjects()
        let sink = eventSink
        ioQueue.async {
            let start = ContinuousClock.now
            let counts = ConnectionCensus.count(subjects)
            sink.yield(.connectionsCounted(counts, of: subjects.count, took: .now - start))
        }
    }

    /// The drain census's answer.
    func connectionsCounted(_ counts: [InstanceID: Int], of instances: Int, took: Duration) {
        drainCensus.counted(took: took)
        logCensus(counts, of: instances, took: took)
        recordConnectionGauges(counts)
        handle(.connectionsCounted(counts, progress: true))
    }

    /// A drain timer fired: count the instance's connections first, so the SIGKILL message says what it cut.
    func drainTimeoutDue(_ id: InstanceID) {
        guard machine.record(id)?.phase == .stopping else { return }
        handle(.connectionsCounted(countConnections(only: [id]), progress: false))
    }

    func recordConnectionGauges(_ counts: [InstanceID: Int]) {
        metrics.connections.record(counts) { machine.record($0)?.isLive == false }
    }
}
