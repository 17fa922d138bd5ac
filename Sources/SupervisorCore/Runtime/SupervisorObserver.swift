import Synchronization

/// A view of a running ``Supervisor`` for other threads (the HTTP endpoint): the latest published status, the
/// readiness verdict, and a liveness check that goes through the supervisor's event loop. Reading never waits for the
/// supervisor; only ``liveness(timeout:)`` does, and only up to its timeout.
package final class SupervisorObserver: Sendable {
    /// A verdict with a line a person can read.
    package struct Answer: Equatable, Sendable {
        package let ok: Bool
        package let text: String
    }

    struct Published: Sendable {
        var report: StatusReport?
        /// The instances to count connections for, whether each drains, and the pid the report names it by.
        var censusSubjects: [(subject: ConnectionCensus.Subject, draining: Bool, mainPID: Int32?)] = []
        var readyInstances = 0
        var minReady = 1
        var shuttingDown = false
    }

    let published = Mutex(Published())
    private let ping: @Sendable (PingReply) -> Void
    private let connectionGauges: ConnectionGauges

    init(connectionGauges: ConnectionGauges = ConnectionGauges(), ping: @escaping @Sendable (PingReply) -> Void) {
        self.connectionGauges = connectionGauges
        self.ping = ping
    }

    /// The status as of the last event the supervisor handled.
    package var status: StatusReport? { published.withLock { $0.report } }

    /// The status as of the last event, with each instance's live connections counted now, on the caller's thread
    /// (``ConnectionCensus``: `/proc` and one netlink request per address family); also sets
    /// `supervisor_connections`. For `/status` and `/metrics`, so connections are counted only when asked for.
    package func statusCountingConnections() -> StatusReport? {
        let (report, subjects) = published.withLock { ($0.report, $0.censusSubjects) }
        guard var report else { return nil }
        let counts = ConnectionCensus.count(subjects.map(\.subject))
        let draining = Set(subjects.filter(\.draining).map(\.subject.key))
        connectionGauges.record(counts) { draining.contains($0) }
        let byPID = Dictionary(
            subjects.compactMap { entry in
                entry.mainPID.flatMap { pid in counts[entry.subject.key].map { (pid, $0) } }
            },
            uniquingKeysWith: { first, _ in first })
        for index in report.instances.indices {
            if let pid = report.instances[index].pid { report.instances[index].connections = byPID[pid] }
        }
        return report
    }

    /// Ready for traffic: at least `min-ready` instances (of any generation: the old one serves during a rollout and
    /// after a rollback) are ready, and the supervisor is not shutting down.
    package func readiness() -> Answer {
        let state = published.withLock { $0 }
        let generation = state.report?.generation.map { ", generation \($0)" } ?? ""
        if state.shuttingDown {
            return Answer(ok: false, text: "not ready: shutting down")
        }
        if state.readyInstances >= state.minReady {
            return Answer(
                ok: true,
                text: "ready: \(state.readyInstances) instances ready (min-ready \(state.minReady))\(generation)")
        }
        return Answer(
            ok: false,
            text:
                "not ready: \(state.readyInstances) instances ready, fewer than min-ready \(state.minReady)\(generation)"
        )
    }

    /// Whether what `query` asks for serves (``ReleaseGate``): `/readyz?release=v2`.
    package func readiness(for query: ReleaseGate.Query) -> Answer {
        let (report, shuttingDown) = published.withLock { ($0.report, $0.shuttingDown) }
        return ReleaseGate.answer(query, report: report, shuttingDown: shuttingDown)
    }

    /// Alive: the supervisor's event loop answers within `timeout`, and at least one instance is ready.
    package func liveness(timeout: Duration = .seconds(1)) async -> Answer {
        let reply = PingReply()
        let answered: Bool = await withCheckedContinuation { continuation in
            reply.arm(continuation)
            ping(reply)
            Task {
                try? await Task.sleep(for: timeout)
                reply.resolve(false)
            }
        }
        guard answered else {
            return Answer(
                ok: false, text: "not alive: the supervisor's event loop did not answer within \(timeout.secondsText)")
        }
        let ready = published.withLock { $0.readyInstances }
        if ready == 0 { return Answer(ok: false, text: "not alive: no instance is ready") }
        return Answer(ok: true, text: "alive: event loop answering, \(ready) instances ready")
    }
}

/// One liveness ping: resolved once, by the event loop (`true`) or by the timeout (`false`).
final class PingReply: Sendable {
    private let continuation = Mutex<CheckedContinuation<Bool, Never>?>(nil)

    func arm(_ waiting: CheckedContinuation<Bool, Never>) {
        continuation.withLock { $0 = waiting }
    }

    func resolve(_ answered: Bool) {
        let waiting = continuation.withLock { value in
            defer { value = nil }
            return value
        }
        waiting?.resume(returning: answered)
    }
}
