import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A tiny blocking HTTP/1.1 client over one TCP connection to 127.0.0.1 (or one Unix socket connection), so a test controls keep-alive exactly: it
/// sends what it is told, when it is told, and reads one response at a time (Content-Length bodies only).
///
/// Sendable: the descriptor and the read buffer sit behind a lock, so a test may hand the connection to a thread of
/// its own (see ``onThread(_:)``) and block there instead of on the cooperative pool.
package final class RawHTTPConnection: Sendable {
    /// What the peer did, seen from a connection on which the client sends nothing.
    package enum PeerState: Equatable {
        case open
        case closed
        case reset
        case sentData
    }

    private struct State {
        var descriptor: CInt
        var buffer: [UInt8] = []
    }

    private let state: Mutex<State>

    /// Connects to 127.0.0.1:`port`.
    ///
    /// - Throws: ``PosixError`` from `connect`, e.g. `ECONNREFUSED` when nothing listens.
    package init(port: Int) throws {
        let descriptor = try posixCall("socket") {
            socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        }
        var address = sockaddr_in.loopback(port: port)
        do {
            _ = try withUnsafePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    try posixCall("connect") { connect(descriptor, generic, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
        } catch {
            // Before `state` is set, so deinit cannot close the number again (maybe someone else's by then).
            Glibc.close(descriptor)
            throw error
        }
        state = Mutex(State(descriptor: descriptor))
    }

    /// Connects to the Unix stream socket at `path`.
    ///
    /// - Throws: ``PosixError`` from `connect`, e.g. `ENOENT` when the path is missing, `ECONNREFUSED` when nothing
    ///   accepts on it.
    package init(unixPath path: String) throws {
        let descriptor = try posixCall("socket") {
            socket(AF_UNIX, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        precondition(bytes.count < MemoryLayout.size(ofValue: address.sun_path), "socket path too long: \(path)")
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        do {
            _ = try withUnsafePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    try posixCall("connect") { connect(descriptor, generic, socklen_t(MemoryLayout<sockaddr_un>.size)) }
                }
            }
        } catch {
            Glibc.close(descriptor)
            throw error
        }
        state = Mutex(State(descriptor: descriptor))
    }

    deinit {
        close()
    }

    /// Closes the connection (idempotent).
    package func close() {
        state.withLock { state in
            if state.descriptor >= 0 {
                Glibc.close(state.descriptor)
                state.descriptor = -1
            }
        }
    }

    /// Sends `GET path` (or another method) with `Host`, the given extra header lines and `body` (which needs a
    /// `Content-Length` header among `headers`).
    package func sendRequest(method: String = "GET", path: String = "/", headers: [String] = [], body: String = "")
        throws
    {
        let lines = ["\(method) \(path) HTTP/1.1", "Host: 127.0.0.1"] + headers
        try send(lines.joined(separator: "\r\n") + "\r\n\r\n" + body)
    }

    /// Sends raw text.
    package func send(_ text: String) throws {
        let descriptor = state.withLock { $0.descriptor }
        let bytes = Array(text.utf8)
        var offset = 0
        while offset < bytes.count {
            let sent = try bytes.withUnsafeBytes { raw in
                try posixCall("send") {
                    Glibc.send(descriptor, raw.baseAddress! + offset, bytes.count - offset, CInt(MSG_NOSIGNAL))
                }
            }
            offset += sent
        }
    }

    /// Sends a request and reads its response.
    package func request(
        method: String = "GET",
        path: String = "/",
        headers: [String] = [],
        body: String = "",
        timeout: Duration = .seconds(5)
    ) throws -> RawHTTPResponse {
        try sendRequest(method: method, path: path, headers: headers, body: body)
        return try readResponse(timeout: timeout)
    }

    /// Reads one complete response.
    ///
    /// - Throws: ``RawHTTPError``.
    package func readResponse(timeout: Duration = .seconds(5)) throws -> RawHTTPResponse {
        let deadline = ContinuousClock.now + timeout
        return try state.withLock { state in
            while true {
                if let response = try Self.parseBufferedResponse(&state.buffer) { return response }
                try Self.fill(&state, until: deadline)
            }
        }
    }

    /// Waits until the peer closes or resets the connection, sends data, or `timeout` passes; reads nothing else.
    package func waitForPeer(timeout: Duration) -> PeerState {
        let deadline = ContinuousClock.now + timeout
        return state.withLock { state in
            do {
                try Self.fill(&state, until: deadline)
                return .sentData
            } catch RawHTTPError.closedBeforeResponse {
                return .closed
            } catch RawHTTPError.timedOut {
                return .open
            } catch {
                return .reset
            }
        }
    }

    /// Half-closes: tells the server that no further request comes (TCP FIN).
    package func shutdownOutput() {
        _ = state.withLock { shutdown($0.descriptor, CInt(SHUT_WR)) }
    }

    /// Reads what is available into the buffer, waiting at most until `deadline`.
    private static func fill(_ state: inout State, until deadline: ContinuousClock.Instant) throws {
        var poller = pollfd(fd: state.descriptor, events: Int16(POLLIN), revents: 0)
        let ready = try posixCall("poll") { poll(&poller, 1, millisecondsLeft(until: deadline)) }
        guard ready > 0 else { throw RawHTTPError.timedOut }
        var chunk = [UInt8](repeating: 0, count: 16384)
        let count = chunk.withUnsafeMutableBytes { raw in recv(state.descriptor, raw.baseAddress, raw.count, 0) }
        if count == 0 { throw RawHTTPError.closedBeforeResponse }
        if count < 0 { throw RawHTTPError.socketError(errno) }
        state.buffer.append(contentsOf: chunk[0..<count])
    }

    /// A response when the buffer holds a complete one (which it then removes), `nil` when more bytes are needed.
    private static func parseBufferedResponse(_ buffer: inout [UInt8]) throws -> RawHTTPResponse? {
        let separator: [UInt8] = [13, 10, 13, 10]
        guard let headEnd = buffer.firstRange(of: separator) else { return nil }
        let headText = String(decoding: buffer[..<headEnd.lowerBound], as: UTF8.self)
        var lines = headText.split(separator: "\r\n", omittingEmptySubsequences: false).map(String.init)
        let statusLine = lines.removeFirst()
        let statusParts = statusLine.split(separator: " ")
        guard statusParts.count >= 2, statusParts[0].hasPrefix("HTTP/1."), let status = Int(statusParts[1]) else {
            throw RawHTTPError.malformed(statusLine)
        }
        let headers = lines.compactMap { line -> (name: String, value: String)? in
            guard let colon = line.firstIndex(of: ":") else { return nil }
            let value = line[line.index(after: colon)...].drop { $0 == " " }
            return (String(line[..<colon]), String(value))
        }
        let length = headers.first { $0.name.lowercased() == "content-length" }.flatMap { Int($0.value) } ?? 0
        let bodyStart = headEnd.upperBound
        guard buffer.count - bodyStart >= length else { return nil }
        let body = String(decoding: buffer[bodyStart..<(bodyStart + length)], as: UTF8.self)
        buffer.removeFirst(bodyStart + length)
        return RawHTTPResponse(status: status, headers: headers, body: body)
    }
}
