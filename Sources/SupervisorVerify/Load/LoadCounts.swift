/// What the clients of one phase counted.
package struct LoadCounts: Codable, Equatable, Sendable {
    /// Complete responses with a 2xx status.
    package var succeeded = 0
    /// Failed requests by kind.
    package var failures: [RequestFailure: Int] = [:]
    /// The statuses of non-2xx responses, and how often each came.
    package var statuses: [Int: Int] = [:]
    /// The first few errors seen, for a person to read (`ECONNRESET on a reused connection`).
    package var examples: [String] = []

    package init() {}

    /// Every failed request.
    package var failed: Int { failures.values.reduce(0, +) }

    /// Every request that ended, well or not.
    package var requests: Int { succeeded + failed }

    static let exampleLimit = 5

    mutating func record(_ failure: RequestFailure, detail: String) {
        failures[failure, default: 0] += 1
        if examples.count < Self.exampleLimit { examples.append("\(failure.label): \(detail)") }
    }

    /// Adds another client's counts.
    mutating func add(_ other: LoadCounts) {
        succeeded += other.succeeded
        failures.merge(other.failures, uniquingKeysWith: +)
        statuses.merge(other.statuses, uniquingKeysWith: +)
        examples += other.examples.prefix(Self.exampleLimit - min(Self.exampleLimit, examples.count))
    }
}

/// When a request ended, relative to the reloads.
package enum LoadPhase: Int, Codable, Sendable {
    /// Before the first reload: the server as it serves every day.
    case steady
    /// From the first reload to shortly after the last.
    case reloading
}
