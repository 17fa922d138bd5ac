internal import CSupervisorShims
import Dispatch
import Synchronization
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// One datagram received on a notify socket, with what the kernel says about its sender.
package struct NotifyDatagram: Sendable {
    package let bytes: [UInt8]
    /// `nil` when the kernel attached no credentials.
    package let senderPID: Int32?
    package let senderUID: UInt32?
    /// The datagram or its control data did not fit the buffer.
    package let truncated: Bool
    /// Descriptors that came with it; already closed (this is what releases a `BARRIER=1` sender).
    package let receivedDescriptors: Int
}

/// The `NOTIFY_SOCKET` of one instance: a path-bound `AF_UNIX` datagram socket with `SO_PASSCRED`, so every datagram
/// carries its sender's pid and uid.
///
/// It should live in a directory only the supervisor's user can enter (see ``RuntimeDirectory``); the credentials are
/// checked as well, because any process of the same user could otherwise reach it.
///
/// Reading is flow-controlled: at most ``inFlightLimit`` datagrams are passed on and not yet ``consumed()``; beyond
/// that the socket is not read, its kernel queue fills, and the sender blocks (or gets `EAGAIN`). An instance that
/// sends without pause is slowed to the pace of the supervisor's loop instead of filling its memory.
final class NotifySocket: Sendable {
    /// systemd's limit: larger datagrams are truncated and dropped.
    static let bufferSize = 4096
    /// Datagrams passed on and not yet handled, at most; reading resumes when half of them are.
    static let inFlightLimit = 32

    let path: String
    private let fd: Int32
    // Dispatch sources are thread-safe objects; Dispatch on Linux does not mark the protocol Sendable.
    nonisolated(unsafe) private let source: any DispatchSourceRead
    private let flow = FlowControl()

    private final class FlowControl: Sendable {
        struct State {
            var inFlight = 0
            var suspended = false
            var closed = false
            /// Not read during an in-place upgrade (``pause()``).
            var paused = false
        }

        let state = Mutex(State())

        func withLock<Result>(_ body: (inout State) -> Result) -> Result { state.withLock { body(&$0) } }
    }

    /// Binds a socket at `path` (replacing a stale file there) and calls `receive` on `queue` for each datagram.
    ///
    /// - Throws: ``SystemCallError`` for `socket`, `setsockopt` or `bind` (e.g. the path is too long or the
    ///   directory is not writable).
    convenience init(
        path: String,
        queue: DispatchQueue,
        receive: @escaping @Sendable (NotifyDatagram) -> Void
    ) throws(SystemCallError) {
        let fd = try systemCall("socket") {
            socket(
                AF_UNIX, Int32(SOCK_DGRAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue) | Int32(SOCK_NONBLOCK.rawValue), 0)
        }
        do {
            var enable: Int32 = 1
            try systemCall("setsockopt(SO_PASSCRED)") {
                setsockopt(fd, SOL_SOCKET, SO_PASSCRED, &enable, socklen_t(MemoryLayout<Int32>.size))
            }
            // A bigger receive queue keeps bursts of STATUS= updates from blocking the sender.
            var size: Int32 = 256 * 1024
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &size, socklen_t(MemoryLayout<Int32>.size))
            unlink(path)
            _ = try UnixSocketAddress.withAddress(path: path) { address, length throws(SystemCallError) in
                try systemCall("bind", subject: path) { bind(fd, address, length) }
            }
        } catch {
            Glibc.close(fd)
            throw error
        }
        self.init(adopting: fd, path: path, queue: queue, receive: receive)
    }

    /// Reads the socket `fd` already bound at `path` (one handed over by an in-place upgrade), which this object now
    /// owns.
    init(adopting fd: Int32, path: String, queue: DispatchQueue, receive: @escaping @Sendable (NotifyDatagram) -> Void)
    {
        self.path = path
        self.fd = fd
        let source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        self.source = source
        let flow = self.flow
        source.setEventHandler {
            var buffer = [UInt8](repeating: 0, count: Self.bufferSize)
            while true {
                let full = flow.withLock { flow in
                    guard flow.inFlight >= Self.inFlightLimit else { return false }
                    if !flow.suspended && !flow.closed {
                        flow.suspended = true
                        source.suspend()
                    }
                    return true
                }
                if full { return }
                var info = supervisor_datagram_info()
                let length = buffer.withUnsafeMutableBytes {
                    supervisor_recv_datagram(fd, $0.baseAddress, $0.count, &info)
                }
                if length < 0 { return }
                flow.withLock { $0.inFlight += 1 }
                receive(
                    NotifyDatagram(
                        bytes: Array(buffer[0..<min(length, buffer.count)]),
                        senderPID: info.has_credentials != 0 ? info.pid : nil,
                        senderUID: info.has_credentials != 0 ? info.uid : nil,
                        truncated: info.truncated != 0,
                        receivedDescriptors: Int(info.received_fd_count)))
            }
        }
        source.setCancelHandler {
            Glibc.close(fd)
            unlink(path)
        }
        source.activate()
    }

    /// The socket, for an in-place upgrade to hand over.
    var descriptor: Int32 { fd }

    /// Stops reading (for an in-place upgrade): datagrams wait in the socket's queue for the next program. Returns
    /// whether it was read until now.
    @discardableResult
    func pause() -> Bool {
        flow.withLock { flow in
            guard !flow.closed, !flow.paused else { return false }
            flow.paused = true
            source.suspend()
            return true
        }
    }

    /// Reads again after ``pause()``.
    func unpause() {
        flow.withLock { flow in
            guard !flow.closed, flow.paused else { return }
            flow.paused = false
            source.resume()
        }
    }

    /// Says that one datagram passed on has been handled; reading resumes once half of the limit are.
    func consumed() {
        flow.withLock { flow in
            flow.inFlight = max(0, flow.inFlight - 1)
            if flow.suspended && !flow.closed && flow.inFlight <= Self.inFlightLimit / 2 {
                flow.suspended = false
                source.resume()
            }
        }
    }

    /// Stops receiving, closes the socket and removes its file. Datagrams already queued are discarded.
    func close() {
        flow.withLock { flow in
            guard !flow.closed else { return }
            flow.closed = true
            // A suspended source never runs its cancel handler, which closes the socket.
            if flow.suspended {
                flow.suspended = false
                source.resume()
            }
            if flow.paused {
                flow.paused = false
                source.resume()
            }
            source.cancel()
        }
    }
}

/// Builds `sockaddr_un` values.
enum UnixSocketAddress {
    /// Calls `body` with a `sockaddr_un` for `path`.
    ///
    /// - Throws: ``SystemCallError`` with `ENAMETOOLONG` when the path does not fit `sun_path` (108 bytes).
    static func withAddress<Result>(
        path: String,
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemCallError) -> Result
    ) throws(SystemCallError) -> Result {
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        let bytes = Array(path.utf8)
        let capacity = MemoryLayout.size(ofValue: address.sun_path)
        guard bytes.count < capacity else {
            throw SystemCallError(
                call: "bind", errno: ENAMETOOLONG, subject: "\(path) (longer than \(capacity - 1) bytes)")
        }
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            raw.copyBytes(from: bytes)
            raw[bytes.count] = 0
        }
        let length = socklen_t(MemoryLayout<sa_family_t>.size + bytes.count + 1)
        return try withUnsafePointer(to: &address) { pointer throws(SystemCallError) in
            try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { rebound throws(SystemCallError) in
                try body(rebound, length)
            }
        }
    }
}
