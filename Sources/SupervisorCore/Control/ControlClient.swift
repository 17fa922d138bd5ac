internal import SystemdSupport

#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif

#if canImport(Glibc)
import Glibc
#endif

/// Why a control request did not get an answer.
package struct ControlClientError: Error, CustomStringConvertible, Sendable {
    package let description: String
}

/// The client end of the control socket, for `reload`, `status` and `stop`. Blocking: a command-line client has
/// nothing else to do while it waits.
package struct ControlClient: Sendable {
    package let path: String
    package let name: String

    /// Whether ``path`` was given (`--control-socket`, a config file's `control-socket`) without a name.
    let pathGiven: Bool

    package init(path: String, name: String, pathGiven: Bool = false) {
        self.path = path
        self.name = name
        self.pathGiven = pathGiven
    }

    /// How long the supervisor may take to send its first reply line: it answers at once (`status`) or says at once
    /// what it does (`reload`, `stop`), so silence this long means a supervisor that does not turn.
    package static let answerTimeout: Duration = .seconds(10)

    /// Sends `request` and calls `onReply` for each reply line until the supervisor closes the connection.
    ///
    /// - Parameter timeout: How long the whole call may take; `nil` for no limit. The first reply must come within
    ///   ``answerTimeout`` either way.
    /// - Throws: ``ControlClientError`` saying that no supervisor runs at ``path`` (with how to start one or point
    ///   at it), that the socket may not be used, that the connection broke, or that it did not answer in time.
    package func send(
        _ request: ControlRequest,
        timeout: Duration? = nil,
        onReply: (ControlReply) -> Void
    ) throws(ControlClientError) {
        let start = ContinuousClock.now
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw ControlClientError(description: "socket failed: \(Self.errnoText())") }
        defer { close(fd) }
        do {
            _ = try UnixSocketAddress.withAddress(path: path) { address, length throws(SystemCallError) in
                try systemCall("connect", subject: path) { connect(fd, address, length) }
            }
        } catch {
            switch error.errno {
            case ENOENT, ECONNREFUSED, ENOTDIR:
                if pathGiven {
                    throw ControlClientError(
                        description: "no supervisor is running at \(path); check the control socket's path, or start "
                            + "one with `supervisor run --control-socket \(path) -- COMMAND`")
                }
                throw ControlClientError(
                    description: "no supervisor is running for \(name) at \(path); start one with "
                        + "`supervisor run --name \(name) -- COMMAND`, or pass --name or --control-socket to find it")
            case EACCES, EPERM:
                throw ControlClientError(
                    description: "not allowed to use the control socket \(path) of \(name); run as the supervisor's "
                        + "user or as root")
            default:
                throw ControlClientError(description: "cannot reach the supervisor \(name) at \(path): \(error)")
            }
        }
        do {
            let line = Array(try JSONEncoder().encode(request)) + [UInt8(ascii: "\n")]
            var offset = 0
            while offset < line.count {
                offset += try systemCall("write", subject: path) {
                    line[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
                }
            }
        } catch {
            throw ControlClientError(description: "cannot send the request to \(path): \(error)")
        }
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 16_384)
        let decoder = JSONDecoder()
        var answered = false
        while true {
            let limits = [timeout.map { start + $0 }, answered ? nil : start + Self.answerTimeout].compactMap { $0 }
            if let deadline = limits.min() {
                var poll = pollfd(fd: fd, events: Int16(POLLIN), revents: 0)
                let left = max(.zero, deadline - ContinuousClock.now)
                var ready: Int32
                repeat {
                    ready = Glibc.poll(&poll, 1, Int32(clamping: left.milliseconds))
                } while ready < 0 && errno == EINTR
                if ready == 0 {
                    let limit = (deadline - start).secondsText
                    throw ControlClientError(
                        description: answered
                            ? "gave up after \(limit) (--timeout); the supervisor \(name) goes on with the request"
                            : "the supervisor \(name) at \(path) did not answer within \(limit); it may be stuck: "
                                + "look at its log, and at `ps` for its pid")
                }
            }
            let count: Int
            do {
                count = try systemCall("read", subject: path) {
                    buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
                }
            } catch {
                throw ControlClientError(description: "the connection to the supervisor broke: \(error)")
            }
            if count == 0 { break }
            pending.append(contentsOf: buffer[0..<count])
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Data(pending[..<newline])
                pending.removeSubrange(...newline)
                guard let reply = try? decoder.decode(ControlReply.self, from: line) else {
                    throw ControlClientError(
                        description: "the supervisor sent an unreadable reply: \(String(decoding: line, as: UTF8.self))"
                    )
                }
                answered = true
                onReply(reply)
            }
        }
    }

    private static func errnoText() -> String { SystemCallError.reason(errno) }
}
