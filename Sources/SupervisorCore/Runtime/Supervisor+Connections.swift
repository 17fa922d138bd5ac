import Dispatch

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// How often the connections of draining instances are counted and reported.
    static let drainReportInterval: Duration = .seconds(1)

    /// What the census counts: every instance with a process, on the ports of its own configuration.
    func censusSubjects(only ids: Set<InstanceID>? = nil) -> [ConnectionCensus.Subject] {
        machine.records.compactMap { record in
            guard ids?.contains(record.id) ?? true, let running = instances[record.id] else { return nil }
            return ConnectionCensus.Subject(
                key: record.id, pid: running.pid, ports: Set(running.configuration.listen.map(\.port)))
        }
    }

    /// Counts now, on the loop: for `status`, and for the message at a drain timeout. A few milliseconds with
    /// thousands of connections (bench/README.md).
    func countConnections(only ids: Set<InstanceID>? = nil) -> [InstanceID: Int] {
        let counts = ConnectionCensus.count(censusSubjects(only: ids))
        if ids == nil { recordConnectionGauges(counts) }
        return counts
    }

    /// While an instance drains, counts every instance's connections once a second, off the loop; the machine
    /// reports each draining instance's count. Called after every event; nothing runs while nothing drains.
    func scheduleDrainCensus() {
        guard !drainCensusPending, machine.records.contains(where: { $0.phase == .stopping }) else { return }
        drainCensusPending = true
        after(Self.drainReportInterval, .drainCensusDue)
    }

    /// The drain census is due: count on the I/O queue and feed the result back.
    func drainCensusDue() {
        let subjects = censusSubjects()
        let sink = eventSink
        ioQueue.async {
            sink.yield(.connectionsCounted(ConnectionCensus.count(subjects)))
        }
    }

    /// The drain census's answer.
    func connectionsCounted(_ counts: [InstanceID: Int]) {
        drainCensusPending = false
        recordConnectionGauges(counts)
        handle(.connectionsCounted(counts, progress: true))
    }

    /// A drain timer fired: count the instance's connections first, so the SIGKILL message says what it cut.
    func drainTimeoutDue(_ id: InstanceID) {
        guard machine.record(id)?.phase == .stopping else { return }
        handle(.connectionsCounted(countConnections(only: [id]), progress: false))
    }

    private func recordConnectionGauges(_ counts: [InstanceID: Int]) {
        var serving = 0
        var draining = 0
        for record in machine.records {
            guard let count = counts[record.id] else { continue }
            if record.isLive { serving += count } else { draining += count }
        }
        metrics.connections.record(serving: serving, draining: draining)
    }
}
