import NIOCore
import Synchronization

/// The open connections of one server, across all event loops, and whether the server drains.
///
/// A connection is recorded when the listening channel accepts it (``AcceptedConnectionRecorder``), before its own
/// pipeline is set up, and forgotten when it closes. So once the listeners are closed, every connection that will ever
/// exist is known, and "no connection left" means the drain is complete. Thread-safe: all state sits behind one lock,
/// and promises are completed after it is released.
final class ConnectionTracker: Sendable {
    fileprivate struct Connection {
        let channel: any Channel
        /// Whether the channel went active, i.e. NIO's accept handler has handed it over for registration.
        var isActive = false
    }

    fileprivate struct State {
        var connections: [ObjectIdentifier: Connection] = [:]
        var inactiveCount = 0
        var isDraining = false
        var forciblyClosed = 0
        var reportedCount: Int?
        var allActive: [EventLoopPromise<Void>] = []
        var allClosed: EventLoopPromise<Void>?
    }

    private let state = Mutex(State())

    /// Whether ``beginDrain(completingOn:)`` was called. Connection handlers check it when they are added, which
    /// covers connections accepted after the drain event was sent to the known ones.
    var isDraining: Bool { state.withLock { $0.isDraining } }

    /// How many connections are open.
    var count: Int { state.withLock { $0.connections.count } }

    /// How many accepted connections are not active yet: NIO's accept handler may still be setting them up.
    var acceptedConnectionsBeingSetUp: Int { state.withLock { $0.inactiveCount } }

    /// How many connections ``forceCloseAll()`` closed.
    var forciblyClosedCount: Int { state.withLock { $0.forciblyClosed } }

    /// Records an accepted connection until it closes.
    func connectionAccepted(_ channel: any Channel) {
        let id = ObjectIdentifier(channel)
        state.withLock { state in
            state.connections[id] = Connection(channel: channel)
            state.inactiveCount += 1
        }
        channel.closeFuture.whenComplete { _ in
            self.connectionClosed(id)
        }
    }

    /// Notes that an accepted connection went active.
    func connectionActivated(_ channel: any Channel) {
        let waiters = state.withLock { state -> [EventLoopPromise<Void>] in
            let id = ObjectIdentifier(channel)
            guard state.connections[id]?.isActive == false else { return [] }
            state.connections[id]?.isActive = true
            state.inactiveCount -= 1
            return state.takeAllActiveWaitersIfDone()
        }
        for waiter in waiters { waiter.succeed() }
    }

    /// A future that succeeds once every connection accepted so far is active or closed.
    ///
    /// NIO's accept handler closes an accepted connection whose set-up completes after the listening channel closed,
    /// resetting it with its request unread; so the drain closes a listener only when none is being set up.
    func allAcceptedConnectionsActive(on eventLoop: any EventLoop) -> EventLoopFuture<Void> {
        let promise = eventLoop.makePromise(of: Void.self)
        let waiters = state.withLock { state in
            state.allActive.append(promise)
            return state.takeAllActiveWaitersIfDone()
        }
        for waiter in waiters { waiter.succeed() }
        return promise.futureResult
    }

    /// Marks the server as draining.
    ///
    /// - Returns: The connections open now, and a future that succeeds on `eventLoop` once no connection is left
    ///   (at once when there is none). Call it after the listeners are closed, or new connections may still arrive.
    func beginDrain(completingOn eventLoop: any EventLoop) -> (open: [any Channel], allClosed: EventLoopFuture<Void>) {
        let (open, promise, isEmpty) = state.withLock { state in
            state.isDraining = true
            state.reportedCount = state.connections.count
            let promise = state.allClosed ?? eventLoop.makePromise(of: Void.self)
            state.allClosed = promise
            return (state.connections.values.map(\.channel), promise, state.connections.isEmpty)
        }
        if isEmpty {
            promise.succeed()
        }
        return (open, promise.futureResult)
    }

    /// The number of open connections, when it differs from the one returned last time (or from the count when the
    /// drain began); `nil` when unchanged.
    func countIfChangedSinceLastReport() -> Int? {
        state.withLock { state in
            let count = state.connections.count
            guard count != state.reportedCount else { return nil }
            state.reportedCount = count
            return count
        }
    }

    /// Closes every connection still open (the drain deadline passed), counting them.
    func forceCloseAll() {
        let open = state.withLock { state in
            state.forciblyClosed += state.connections.count
            return state.connections.values.map(\.channel)
        }
        for channel in open {
            channel.close(promise: nil)
        }
    }

    private func connectionClosed(_ id: ObjectIdentifier) {
        let (activeWaiters, drained) = state.withLock { state -> ([EventLoopPromise<Void>], EventLoopPromise<Void>?) in
            guard let connection = state.connections.removeValue(forKey: id) else { return ([], nil) }
            if !connection.isActive {
                state.inactiveCount -= 1
            }
            // Only the close of the last connection while draining finds the promise, and only once: no connection
            // can be added once the listeners are closed.
            let drained = state.isDraining && state.connections.isEmpty ? state.allClosed : nil
            return (state.takeAllActiveWaitersIfDone(), drained)
        }
        for waiter in activeWaiters { waiter.succeed() }
        drained?.succeed()
    }
}

extension ConnectionTracker.State {
    fileprivate mutating func takeAllActiveWaitersIfDone() -> [EventLoopPromise<Void>] {
        guard inactiveCount == 0 else { return [] }
        defer { allActive = [] }
        return allActive
    }
}
