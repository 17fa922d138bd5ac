/// A parsed HTTP/1.1 response, as the raw test client read it off the socket.
package struct RawHTTPResponse: Sendable {
    package let status: Int
    package let headers: [(name: String, value: String)]
    package let body: String

    /// The first value of the header `name` (case-insensitive).
    package func header(_ name: String) -> String? {
        headers.first { $0.name.lowercased() == name.lowercased() }?.value
    }

    /// Whether the server announced that it closes the connection after this response.
    package var closesConnection: Bool {
        header("Connection")?.lowercased() == "close"
    }

    /// The `pid=` field of the demo server's answer line.
    package var pid: Int32? {
        body.split(separator: " ").first { $0.hasPrefix("pid=") }.flatMap { Int32($0.dropFirst(4)) }
    }
}

/// Why the raw test client got no response.
package enum RawHTTPError: Error, Equatable {
    /// The server closed the connection (FIN) before a complete response.
    case closedBeforeResponse
    /// The connection was reset, or another socket error: `errno`.
    case socketError(CInt)
    /// Nothing (complete) arrived in time.
    case timedOut
    /// The bytes are not an HTTP/1.1 response.
    case malformed(String)
}
