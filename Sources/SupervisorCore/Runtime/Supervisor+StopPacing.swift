internal import Logging

#if canImport(Glibc)
import Glibc
#endif

/// The stop signals of old instances, one instance at a time: in `app` mode always, in every mode with `stop-pace`.
///
/// In `app` mode each instance binds its own socket in one `SO_REUSEPORT` group. When one of them closes its
/// listener, the kernel moves the connections queued on it to another listener of the group (`tcp_migrate_req`); if
/// it picks one that is closing at the same moment, the move fails and the connection is reset (`TCPMigrateReqFailure`
/// in `/proc/net/netstat`). Measured with four listeners under load (`bench/reuseport-close`), two of them closing at
/// once lost 19 to 129 queued connections per 2,000 closes; one after the other, 5 ms apart, none. So when a rollout
/// stops several `app`-mode instances, the supervisor signals the next only once the previous one's listening sockets
/// are closed (``gap`` later), or after ``longest`` (an instance that keeps listening does not hold the others back).
/// The other modes need none of this for the sockets: the supervisor holds them, and they stay open.
///
/// `stop-pace` spaces the stop signals in every mode, for the clients: when an instance drains, its keep-alive
/// connections close at their next request and reconnect to the instances that stay. Signalled together, the old
/// instances send all of them at once to new instances that have served nothing yet; `stop-pace` apart, a share at
/// a time. In `app` mode the next signal waits for the previous instance's listeners to close, then the longer of
/// ``gap`` and `stop-pace`.
struct StopPacing {
    /// How long after an instance's listeners closed the next one is signalled.
    static let gap: Duration = .milliseconds(5)
    /// How long the next instance waits at most for the previous one to close its listeners.
    static let longest: Duration = .milliseconds(250)
    /// How often the previous one's listeners are looked at.
    static let interval: Duration = .milliseconds(2)

    /// The `app`-mode instance signalled last, while the sockets it listened on are open.
    struct Closing {
        /// `instance #0 (pid 12, generation 3)`.
        let label: String
        let inodes: Set<UInt64>
        let ports: Set<UInt16>
        let since: ContinuousClock.Instant
        /// Its `stop-pace`: the next signal follows the closing this long later, if that is longer than ``gap``.
        let pace: Duration
    }

    /// The stop signals not sent yet, in order.
    var queue: [(pid: Int32, signal: UnixSignal)] = []
    var closing: Closing?
    /// Whether the next signal waits for ``gap`` or `stop-pace` (a timer is set).
    var waitingForGap = false

    var isIdle: Bool { queue.isEmpty && closing == nil && !waitingForGap }
}

extension Supervisor {
    /// Sends a stop signal to an instance's main process, unless the supervisor stops: in `app` mode after the
    /// instance stopped before it has closed its listeners, and with `stop-pace` after the pace (``StopPacing``); else
    /// at once.
    func sendStop(_ signal: UnixSignal, to pid: Int32) {
        guard !shuttingDown, let paced = pacedInstance(mainPID: pid) else {
            flushPacedStops()
            send(signal, to: pid)
            return
        }
        guard stopPacing.isIdle else {
            stopPacing.queue.append((pid, signal))
            return
        }
        signalPaced(signal, to: pid, paced)
    }

    /// Sends every stop signal that waits, at once: at a stop, and before an in-place upgrade (the queue is not
    /// handed over).
    func flushPacedStops() {
        let queued = stopPacing.queue
        stopPacing = StopPacing()
        for (pid, signal) in queued { send(signal, to: pid) }
    }

    /// Looks again at the listeners of the instance signalled last; once they are closed (or it had its time), the
    /// next signal goes out ``StopPacing/gap`` later, or the instance's `stop-pace` if that is longer.
    func stopPacingTick() {
        guard let closing = stopPacing.closing else { return }
        let listening = Set(ListenProbe.listeningSockets(onPorts: closing.ports).map(\.inode))
        let closed = listening.isDisjoint(with: closing.inodes)
        if !closed && ContinuousClock.now - closing.since < StopPacing.longest {
            after(StopPacing.interval, .stopPacingTick)
            return
        }
        let wait = closed ? max(StopPacing.gap, closing.pace) : .zero
        stopPacing.closing = nil
        stopPacing.waitingForGap = true
        after(wait, .stopPacingNext)
        guard !stopPacing.queue.isEmpty else { return }
        if closed {
            let took = (ContinuousClock.now - closing.since).secondsText
            let text =
                "\(closing.label) closed its listeners \(took) after its stop signal; the next instance's follows "
                + "\(wait.secondsText) later"
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
            guard let paced = pacedInstance(mainPID: pid) else {
                send(signal, to: pid)
                continue
            }
            signalPaced(signal, to: pid, paced)
            return
        }
    }

    /// Signals a paced instance, then waits before the next: in `app` mode until its listeners closed (then the gap),
    /// else for `stop-pace`.
    private func signalPaced(_ signal: UnixSignal, to pid: Int32, _ instance: PacedInstance) {
        let configuration = instance.configuration
        let ports = configuration.listenMode == .app ? Set(configuration.listen.compactMap(\.tcpPort)) : []
        // Its listeners, looked up before the signal makes it close them.
        let inodes = ports.isEmpty ? [] : Set(ListenProbe.listening(by: instance.leader, on: ports).map(\.inode))
        send(signal, to: pid)
        if !inodes.isEmpty {
            stopPacing.closing = StopPacing.Closing(
                label: instance.label, inodes: inodes, ports: ports, since: .now, pace: configuration.stopPace)
            after(StopPacing.interval, .stopPacingTick)
        } else if configuration.stopPace > .zero {
            stopPacing.waitingForGap = true
            after(configuration.stopPace, .stopPacingNext)
        } else {
            sendNextPacedStop()
        }
    }

    /// What pacing needs of an instance: its first process (in `app` mode the tree under it holds the listeners),
    /// its configuration and its label.
    private struct PacedInstance {
        let leader: Int32
        let configuration: Configuration
        let label: String
    }

    /// The instance whose main process is `mainPID`, when its stop signal is paced: in `app` mode with a listen
    /// address, or with a `stop-pace`; else `nil`.
    private func pacedInstance(mainPID: Int32) -> PacedInstance? {
        guard let record = machine.records.first(where: { $0.mainPID == mainPID }),
            let running = instances[record.id]
        else { return nil }
        let configuration = running.configuration
        let appMode = configuration.listenMode == .app && !configuration.listen.isEmpty
        guard appMode || configuration.stopPace > .zero else { return nil }
        return PacedInstance(leader: running.pid, configuration: configuration, label: record.label)
    }
}
