internal import NIOCore
package import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// The TCP and UDP sockets the supervisor binds for the `reuseport` and `shared` listen modes, and the health
/// endpoint's.
package enum IPListener {
    /// Binds a socket at `address` with `SO_REUSEADDR` and `SO_REUSEPORT`, close-on-exec (the spawner passes it on
    /// explicitly): for TCP a listening socket with the given accept-queue length, for UDP a bound datagram socket.
    /// `TCP_DEFER_ACCEPT` stays off, and `[::]` keeps the kernel's dual-stack default, so every socket of a port
    /// behaves the same.
    ///
    /// - Throws: ``SystemCallError`` naming the call and the address, e.g. `bind 0.0.0.0:80 failed: Permission
    ///   denied`.
    package static func bind(_ address: ListenAddress, backlog: Int32) throws(SystemCallError) -> Int32 {
        try bind(address, backlog: backlog, reusePort: true)
    }

    /// Binds a listening socket at `address` that owns it (no `SO_REUSEPORT`: a second socket on it is an error, not a
    /// silent split), close-on-exec: the health endpoint's.
    ///
    /// - Throws: ``SystemFailure`` (``SystemFailure/Code/listen``) naming the address and the reason.
    package static func bindExclusive(_ address: ListenAddress) throws(SystemFailure) -> Int32 {
        do {
            return try bind(address, backlog: 128, reusePort: false)
        } catch {
            let hint =
                error.errno == EADDRINUSE
                ? "; another socket holds it, and the health endpoint must have the port to itself: stop the process "
                    + "that holds it, or choose another port" : ""
            throw SystemFailure(
                .listen, "cannot serve the health endpoint on \(address): \(error)\(hint)", cause: error)
        }
    }

    /// Sets a UDP socket's receive buffer to `bytes`: with `SO_RCVBUFFORCE` where permitted (root), else with
    /// `SO_RCVBUF`, which `net.core.rmem_max` caps. Returns the bytes it got (half of what the kernel reports, which
    /// doubles the value for its bookkeeping).
    package static func setReceiveBuffer(_ fd: Int32, bytes: Int32) -> Int32 {
        var value = bytes
        let size = socklen_t(MemoryLayout<Int32>.size)
        if setsockopt(fd, SOL_SOCKET, SO_RCVBUFFORCE, &value, size) != 0 {
            _ = setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &value, size)
        }
        var got: Int32 = 0
        var length = size
        guard getsockopt(fd, SOL_SOCKET, SO_RCVBUF, &got, &length) == 0 else { return 0 }
        return got / 2
    }

    private static func bind(_ address: ListenAddress, backlog: Int32, reusePort: Bool) throws(SystemCallError) -> Int32
    {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let type = address.kind == .udp ? SOCK_DGRAM : SOCK_STREAM
        let fd = try systemCall("socket", subject: address.description) {
            socket(family, Int32(type.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            var one: Int32 = 1
            let size = socklen_t(MemoryLayout<Int32>.size)
            try systemCall("setsockopt(SO_REUSEADDR)", subject: address.description) {
                setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, size)
            }
            if reusePort {
                try systemCall("setsockopt(SO_REUSEPORT)", subject: address.description) {
                    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one, size)
                }
            }
            try withSocketAddress(address) { pointer, length throws(SystemCallError) in
                try systemCall("bind", subject: address.description) { Glibc.bind(fd, pointer, length) }
            }
            if address.kind == .tcp {
                try systemCall("listen", subject: address.description) { listen(fd, backlog) }
            }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// Calls `body` with `address` as a `sockaddr` (NIO's ``SocketAddress`` builds it).
    private static func withSocketAddress(
        _ address: ListenAddress,
        _ body: (UnsafePointer<sockaddr>, socklen_t) throws(SystemCallError) -> Void
    ) throws(SystemCallError) {
        let resolved: SocketAddress
        do {
            resolved = try SocketAddress(ipAddress: address.host, port: Int(address.port))
        } catch {
            throw SystemCallError(call: "inet_pton", errno: EINVAL, subject: address.host)
        }
        var failure: SystemCallError?
        resolved.withSockAddr { pointer, length in
            do throws(SystemCallError) { try body(pointer, socklen_t(length)) } catch { failure = error }
        }
        if let failure { throw failure }
    }
}
