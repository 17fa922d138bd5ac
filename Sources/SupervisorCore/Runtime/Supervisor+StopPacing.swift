internal import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The stop signals of `app` mode, one instance at a time.
///
/// In `app` mode each instance binds its own socket in one `SO_REUSEPORT` group. When one of them closes its
/// listener, the kernel moves the connections queued on it to another listener of the group (`tcp_migrate_req`); if
/// it picks one that is closing at the same moment, the move fails and the connection is reset (`TCPMigrateReqFailure`
/// in `/proc/net/netstat`). Measured with four listeners under load (`bench/reuseport-close`), two of them closing at
/// once lost 19 to 129 queued connections per 2,000 closes; one after the other, 5 ms apart, none. So when a rollout
/// stops several `app`-mode instances, the supervisor signals the next only once the previous one's listening sockets
/// are closed (``gap`` later), or after ``longest`` (an instance that keeps listening does not hold the others back).
/// The other modes need none of this: the supervisor holds the sockets, which stay open.
struct StopPacing {
    /// How long after an instance's listeners closed the next one is signalled.
    static let gap: Duration = .milliseconds(5)
    /// How long the next instance waits at most for the previous one to close its listeners.
    static let longest: Duration = .milliseconds(250)
    /// How often the previous one's listeners are looked at.
    static let interval: Duration = .milliseconds(2)

    /// The instance signalled last, while the sockets it listened on are open.
    struct Closing {
        /// `instance #0 (pid 12, generation 3)`.
        let label: String
        let inodes: Set<UInt64>
        let ports: Set<UInt16>
        let since: ContinuousClock.Instant
    }

    /// The stop signals not sent yet, in order.
    var queue: [(pid: Int32, signal: UnixSignal)] = []
    var closing: Closing?
    /// Whether the next signal waits for ``gap`` (a timer is set).
    var waitingForGap = false

    var isIdle: Bool { queue.isEmpty && closing == nil && !waitingForGap }
}

extension Supervisor {
    /// Sends a stop signal to an instance's main process: in `app` mode, unless the supervisor stops, after the
    /// instance stopped before it has closed its listeners (``StopPacing``); else at once.
    func sendStop(_ signal: UnixSignal, to pid: Int32) {
        guard !shuttingDown, let instance = appModeInstance(mainPID: pid) else {
            flushPacedStops()
            send(signal, to: pid)
            return
        }
        guard stopPacing.isIdle else {
            stopPacing.queue.append((pid, signal))
            return
        }
        signalAndWatch(signal, to: pid, instance)
    }

    /// Sends every stop signal that waits, at once: at a stop, and before an in-place upgrade (the queue is not
    /// handed over).
    func flushPacedStops() {
        let queued = stopPacing.queue
        stopPacing = StopPacing()
        for (pid, signal) in queued { send(signal, to: pid) }
    }

    /// Looks again at the listeners of the instance signalled last; once they are closed (or it had its time), the
    /// next signal goes out ``StopPacing/gap`` later.
    func stopPacingTick() {
        guard let closing = stopPacing.closing else { return }
        let listening = Set(ListenProbe.listeningSockets(onPorts: closing.ports).map(\.inode))
        let closed = listening.isDisjoint(with: closing.inodes)
        if !closed && ContinuousClock.now - closing.since < StopPacing.longest {
            after(StopPacing.interval, .stopPacingTick)
            return
        }
        stopPacing.closing = nil
        stopPacing.waitingForGap = true
        after(closed ? StopPacing.gap : .zero, .stopPacingNext)
        guard !stopPacing.queue.isEmpty else { return }
        if closed {
            let took = (ContinuousClock.now - closing.since).secondsText
            let text =
                "\(closing.label) closed its listeners \(took) after its stop signal; the next instance's follows "
                + "\(StopPacing.gap.secondsText) later"
            logger.debug("\(text)")
        } else {
            let text =
                "\(closing.label) still listens \(StopPacing.longest.secondsText) after its stop signal; stopping the "
                + "next instance now (in app mode they stop one at a time, so that the kernel can move the "
                + "connections queued on a closing listener to one that stays)"
            logger.info("\(text)")
        }
    }

    /// The gap after the last instance's listeners closed is over: the next stop signal that waits goes out.
    func stopPacingNext() {
        // A timer of before a flush finds nothing to wait for.
        guard stopPacing.waitingForGap else { return }
        stopPacing.waitingForGap = false
        sendNextPacedStop()
    }

    /// Sends the next stop signal that waits, and watches that instance's listeners.
    private func sendNextPacedStop() {
        while !stopPacing.queue.isEmpty {
            let (pid, signal) = stopPacing.queue.removeFirst()
            guard processes.holds(pid) else { continue }
            guard let instance = appModeInstance(mainPID: pid) else {
                send(signal, to: pid)
                continue
            }
            signalAndWatch(signal, to: pid, instance)
            return
        }
    }

    private func signalAndWatch(_ signal: UnixSignal, to pid: Int32, _ instance: AppModeInstance) {
        let ports = Set(instance.configuration.listen.compactMap(\.tcpPort))
        let inodes = Set(ListenProbe.listening(by: instance.leader, on: ports).map(\.inode))
        send(signal, to: pid)
        guard !inodes.isEmpty else {
            sendNextPacedStop()
            return
        }
        stopPacing.closing = StopPacing.Closing(label: instance.label, inodes: inodes, ports: ports, since: .now)
        after(StopPacing.interval, .stopPacingTick)
    }

    /// What pacing needs of an `app`-mode instance: its first process (the tree under it holds the listeners), its
    /// configuration and its label.
    private struct AppModeInstance {
        let leader: Int32
        let configuration: Configuration
        let label: String
    }

    /// The `app`-mode instance whose main process is `mainPID`; `nil` for another mode or no listen address.
    private func appModeInstance(mainPID: Int32) -> AppModeInstance? {
        guard let record = machine.records.first(where: { $0.mainPID == mainPID }),
            let running = instances[record.id], running.configuration.listenMode == .app,
            !running.configuration.listen.isEmpty
        else { return nil }
        return AppModeInstance(leader: running.pid, configuration: running.configuration, label: record.label)
    }
}
