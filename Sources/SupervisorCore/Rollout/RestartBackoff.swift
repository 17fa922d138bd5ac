/// The delay before an instance that died in steady state is restarted in its slot: 100 ms, doubling with each
/// consecutive failure up to 30 s; an instance that stayed up for 60 s resets the count.
package struct RestartBackoff: Equatable, Codable, Sendable {
    package static let initialDelay: Duration = .milliseconds(100)
    package static let maximumDelay: Duration = .seconds(30)
    package static let resetAfter: Duration = .seconds(60)

    /// Failures in a row without a 60 s run in between.
    package private(set) var consecutiveFailures = 0

    package init() {}

    /// Records a failure of an instance that ran for `uptime` and returns how long to wait before the restart.
    package mutating func delayAfterFailure(uptime: Duration) -> Duration {
        if uptime >= Self.resetAfter { consecutiveFailures = 0 }
        var delay = Self.initialDelay
        for _ in 0..<min(consecutiveFailures, 16) {
            delay *= 2
            if delay >= Self.maximumDelay { break }
        }
        consecutiveFailures += 1
        return min(delay, Self.maximumDelay)
    }
}
