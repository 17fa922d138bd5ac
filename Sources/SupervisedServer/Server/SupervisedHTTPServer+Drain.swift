import NIOCore
import Synchronization

extension SupervisedHTTPServer {
    /// Stops accepting and waits until every connection has finished by the drain rules (see the type's
    /// documentation), or until ``Configuration/drainDeadline``, when the rest is closed.
    ///
    /// Safe to call more than once and from several tasks: the drain runs once and every caller gets its outcome;
    /// `progress` is only used by the first call. Never throws: a connection that fails while draining just counts
    /// as closed. Cancelling the calling task does not stop the drain.
    ///
    /// - Parameter progress: Called with ``DrainProgress/started(openConnections:)``, then
    ///   ``DrainProgress/waiting(openConnections:)`` each ``Configuration/progressInterval`` in which the number of
    ///   open connections changed, then ``DrainProgress/finished(_:)``; from any thread, never concurrently.
    /// - Returns: How the drain ended.
    @discardableResult
    public func drain(progress: @escaping @Sendable (DrainProgress) -> Void = { _ in }) async -> DrainOutcome {
        let task = drainTask.withLock { task in
            if let task { return task }
            let newTask = Task { await self.runDrain(progress: progress) }
            task = newTask
            return newTask
        }
        return await task.value
    }

    private func runDrain(progress: @escaping @Sendable (DrainProgress) -> Void) async -> DrainOutcome {
        let start = ContinuousClock.now
        let tracker = self.tracker
        let eventLoop = eventLoopGroup.next()
        let deadline = eventLoop.scheduleTask(in: TimeAmount(configuration.drainDeadline)) {
            tracker.forceCloseAll()
        }
        await stopAccepting()
        // Every accepted connection is in the tracker now: it was recorded on the listener's event loop, before
        // the close completed.
        let (open, allClosed) = tracker.beginDrain(completingOn: eventLoop)
        progress(.started(openConnections: open.count))
        for channel in open {
            channel.pipeline.fireUserInboundEventTriggered(StartDrainEvent())
        }
        let interval = TimeAmount(configuration.progressInterval)
        let reporter = eventLoop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in
            if let count = tracker.countIfChangedSinceLastReport() {
                progress(.waiting(openConnections: count))
            }
        }
        try? await allClosed.get()
        deadline.cancel()
        let stopped = eventLoop.makePromise(of: Void.self)
        reporter.cancel(promise: stopped)
        // After this no progress call can run, so `.finished` is the last one.
        try? await stopped.futureResult.get()
        let outcome = DrainOutcome(
            forciblyClosedConnections: tracker.forciblyClosedCount,
            duration: ContinuousClock.now - start
        )
        progress(.finished(outcome))
        return outcome
    }

    /// Closes the listening sockets without resetting a connection that NIO is still setting up.
    ///
    /// NIO's accept handler closes an accepted connection whose set-up finishes after its listening channel closed,
    /// and the client gets a reset, its request unread. So a listener is closed on its event loop at a moment when
    /// no accepted connection is still being set up (nothing can be accepted in between). Under a flood of new
    /// connections that moment may not come: after ``acceptPauseAfter`` accepting is paused (connections queue in
    /// the kernel meanwhile) until it does. Closing a listener closes this process's socket only: accepted
    /// connections stay open, and in an SO_REUSEPORT group the kernel sends new connections to the other members.
    private func stopAccepting() async {
        await withTaskGroup(of: Void.self) { group in
            for listener in listeners {
                group.addTask { await self.close(listener) }
            }
        }
    }

    private func close(_ listener: any Channel) async {
        let tracker = self.tracker
        let pauseAt = ContinuousClock.now + Self.acceptPauseAfter
        var paused = false
        while true {
            let closed = try? await listener.eventLoop.submit { () -> Bool in
                guard tracker.acceptedConnectionsBeingSetUp == 0 else { return false }
                listener.close(promise: nil)
                return true
            }.get()
            if closed ?? true { break }
            if !paused && ContinuousClock.now >= pauseAt {
                try? await listener.setOption(ChannelOptions.autoRead, value: false).get()
                paused = true
            }
            try? await tracker.allAcceptedConnectionsActive(on: listener.eventLoop).get()
        }
        try? await listener.closeFuture.get()
    }

    /// How long ``stopAccepting()`` keeps accepting while it waits for a moment to close.
    static var acceptPauseAfter: Duration { .milliseconds(20) }
}
