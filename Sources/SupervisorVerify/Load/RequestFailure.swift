/// How a request failed, by what the client saw. The kinds point at different causes (see ``Finding``).
package enum RequestFailure: String, CaseIterable, Codable, CodingKeyRepresentable, Comparable, Sendable {
    /// The connection was refused: nothing listened on the port at that moment.
    case refused
    /// Reset or end of file before any byte of the response, on a keep-alive connection that had answered before:
    /// the server closed an idle connection just as the client sent its next request on it.
    case closedIdle = "closed_idle"
    /// Reset or end of file before any byte of the response, on a connection that had answered nothing yet: a
    /// connection queued on a listener that closed, or one the server accepted and then dropped.
    case resetNew = "reset_new"
    /// Reset or end of file in the middle of a response: the server died, or was killed, while answering.
    case cutMidResponse = "cut_mid_response"
    /// No complete response (or no connection) within the request timeout.
    case timeout
    /// A response with a status outside 200–299.
    case non2xx
    /// Any other connection error (e.g. no local port left).
    case connectFailed = "connect_failed"

    /// A few words for tables.
    package var label: String {
        switch self {
        case .refused: "connection refused"
        case .closedIdle: "idle keep-alive closed"
        case .resetNew: "reset before response"
        case .cutMidResponse: "cut mid-response"
        case .timeout: "timeout"
        case .non2xx: "non-2xx"
        case .connectFailed: "other connect error"
        }
    }

    package static func < (lhs: Self, rhs: Self) -> Bool {
        allCases.firstIndex(of: lhs)! < allCases.firstIndex(of: rhs)!
    }
}

/// What one connection has been through, to classify a failure the moment it happens. Pure state: the channel
/// handler feeds it what it sees.
struct ExchangeTracker: Equatable {
    /// Responses completed on this connection.
    private(set) var completed = 0
    /// A request is written and its response has not ended.
    private(set) var awaiting = false
    /// Some byte of the awaited response has arrived.
    private(set) var responseStarted = false

    mutating func requestSent() {
        awaiting = true
        responseStarted = false
    }

    mutating func bytesArrived() {
        if awaiting { responseStarted = true }
    }

    /// The awaited response ended.
    mutating func responseEnded() {
        awaiting = false
        responseStarted = false
        completed += 1
    }

    /// The connection reset or reached end of file now: the failure it means for the request in flight, or `nil`
    /// when none was (an idle connection closing is no failure; the client connects again).
    mutating func connectionLost() -> RequestFailure? {
        defer {
            awaiting = false
            responseStarted = false
        }
        guard awaiting else { return nil }
        if responseStarted { return .cutMidResponse }
        return completed > 0 ? .closedIdle : .resetNew
    }

    /// The request in flight timed out: `.timeout`, or `nil` when none was.
    mutating func timedOut() -> RequestFailure? {
        defer { awaiting = false }
        return awaiting ? .timeout : nil
    }
}
