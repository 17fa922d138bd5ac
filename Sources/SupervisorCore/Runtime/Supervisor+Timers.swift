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

    /// Feeds `event` back into the loop after `delay`.
    func after(_ delay: Duration, _ event: Event) {
        if timers.insert(event, at: .now + delay) { wakeForTimers() }
    }

    /// Runs the timers that are due, then sleeps until the next one.
    func timersDue() {
        for event in timers.popDue(at: .now) { dispatch(event) }
        wakeForTimers()
    }

    /// Replaces the sleeping task with one that wakes the loop at the earliest deadline.
    private func wakeForTimers() {
        timerWake?.cancel()
        timerWake = nil
        guard let deadline = timers.firstDeadline else { return }
        let sink = eventSink
        timerWake = Task {
            do {
                try await Task.sleep(until: deadline, clock: .continuous)
            } catch {
                return
            }
            sink.yield(.timersDue)
        }
    }
}

extension Supervisor.Event {
    /// The instance a timer concerns, if it concerns one.
    var instanceID: InstanceID? {
        switch self {
        case .timer(.readyTimeout(let id)), .timer(.drainTimeout(let id)): id
        case .check(let id, _): id
        default: nil
        }
    }
}
