extension Supervisor {
    /// Events waiting for their time, earliest first, behind one sleeping task: a timer costs an array entry, not a
    /// task, and the timers of an instance that is gone are dropped (each rollout starts ready and drain timers of
    /// up to a minute; with a task each, thousands would sleep on after fast reloads).
    struct TimerQueue {
        struct Entry {
            let deadline: ContinuousClock.Instant
            let serial: Int
            let event: Event
        }

        private(set) var entries: [Entry] = []
        private var serial = 0

        /// Inserts `event` in deadline order (after others with the same deadline); returns whether it is now first.
        mutating func insert(_ event: Event, at deadline: ContinuousClock.Instant) -> Bool {
            serial += 1
            let index = entries.firstIndex { $0.deadline > deadline } ?? entries.endIndex
            entries.insert(Entry(deadline: deadline, serial: serial, event: event), at: index)
            return index == 0
        }

        /// Removes and returns the events due at `now`, in order.
        mutating func popDue(at now: ContinuousClock.Instant) -> [Event] {
            let due = entries.prefix { $0.deadline <= now }
            entries.removeFirst(due.count)
            return due.map(\.event)
        }

        /// Drops the timers that concern an instance that is gone.
        mutating func removeAll(for id: InstanceID) {
            entries.removeAll { $0.event.instanceID == id }
        }

        var firstDeadline: ContinuousClock.Instant? { entries.first?.deadline }
    }

    /// The loop's timers: a ``TimerQueue`` and the one task that sleeps until its earliest deadline, then wakes the
    /// loop with ``Event/timersDue``.
    final class Timers {
        private(set) var queue = TimerQueue()
        private var wake: Task<Void, Never>?
        private let sink: AsyncStream<Event>.Continuation

        init(waking sink: AsyncStream<Event>.Continuation) { self.sink = sink }

        deinit { wake?.cancel() }

        /// Puts `event` in the queue for `delay` from now.
        func schedule(_ event: Event, after delay: Duration) {
            if queue.insert(event, at: .now + delay) { rewake() }
        }

        /// Puts `event` in the queue for `deadline` (a timer handed over by an in-place upgrade).
        func schedule(_ event: Event, at deadline: ContinuousClock.Instant) {
            if queue.insert(event, at: deadline) { rewake() }
        }

        /// Takes the events that are due now out of the queue, in order.
        func takeDue() -> [Event] { queue.popDue(at: .now) }

        /// Drops the timers of an instance that is gone.
        func removeAll(for id: InstanceID) { queue.removeAll(for: id) }

        /// Replaces the sleeping task with one that wakes the loop at the earliest deadline, if any.
        func rewake() {
            wake?.cancel()
            wake = nil
            guard let deadline = queue.firstDeadline else { return }
            let sink = sink
            wake = Task {
                do {
                    try await Task.sleep(until: deadline, clock: .continuous)
                } catch {
                    return
                }
                sink.yield(.timersDue)
            }
        }

        /// Stops waking the loop (at the end of the run).
        func cancel() {
            wake?.cancel()
            wake = nil
        }
    }

    /// Feeds `event` back into the loop after `delay`.
    func after(_ delay: Duration, _ event: Event) { timers.schedule(event, after: delay) }

    /// Runs the timers that are due, then sleeps until the next one.
    func timersDue() {
        for event in timers.takeDue() { dispatch(event) }
        timers.rewake()
    }
}

extension Supervisor.Event {
    /// The instance a timer concerns, if it concerns one.
    var instanceID: InstanceID? {
        switch self {
        case .timer(.readyTimeout(let id)), .timer(.drainTimeout(let id)): id
        case .check(let id, _), .startIdleOver(let id): id
        default: nil
        }
    }
}
