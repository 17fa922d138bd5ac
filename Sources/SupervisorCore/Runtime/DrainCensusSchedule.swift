/// When the connections of draining instances are counted next: once a second while anything drains, and never
/// more often than a tenth of the time (on a host where a count takes long, about 9 µs a connection). One count is
/// scheduled or runs at a time, and a count that comes due once nothing drains any more does not run: a drain that
/// ends within the second (most do) is never counted, and reloads every half second do not count every instance's
/// connections (a dump of the kernel's TCP table and a read of each instance's `/proc/PID/fd`, whose cached entries
/// its reap has to drop again) once a second for nothing.
struct DrainCensusSchedule {
    /// How often the connections of draining instances are counted and reported.
    static let interval: Duration = .seconds(1)

    /// A count is scheduled or runs.
    private(set) var pending = false
    /// How long the last count took.
    private(set) var lastDuration: Duration = .zero

    /// The delay of the next count when one is to be scheduled now (something drains and none is pending), else
    /// `nil`; a returned delay makes a count pending.
    mutating func next(whileDraining draining: Bool) -> Duration? {
        guard draining, !pending else { return nil }
        pending = true
        return max(Self.interval, lastDuration * 10)
    }

    /// A scheduled count is due: whether to run it. When nothing drains any more, it does not run and none is pending.
    mutating func due(whileDraining draining: Bool) -> Bool {
        if !draining { pending = false }
        return draining
    }

    /// A count has come back, after `duration`.
    mutating func counted(took duration: Duration) {
        pending = false
        lastDuration = duration
    }
}
