internal import NIOCore
package import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// Listening TCP sockets the supervisor binds for the `reuseport` and `shared` listen modes.
package enum TCPListener {
    /// Binds a listening socket at `address` with `SO_REUSEADDR` and `SO_REUSEPORT`, close-on-exec (the spawner
    /// passes it on explicitly), with the given accept-queue length. `TCP_DEFER_ACCEPT` stays off, and `[::]` keeps
    /// the kernel's dual-stack default, so every socket of a port behaves the same.
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

    private static func bind(_ address: ListenAddress, backlog: Int32, reusePort: Bool) throws(SystemCallError) -> Int32
    {
        let family = address.isIPv6 ? AF_INET6 : AF_INET
        let fd = try systemCall("socket", subject: address.description) {
            socket(family, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
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
            try systemCall("listen", subject: address.description) { listen(fd, backlog) }
            return fd
        } catch {
            close(fd)
            throw error
        }
    }

    /// The address a socket is bound to, or `nil` when it is not an IPv4 or IPv6 TCP socket.
    package static func boundAddress(of fd: Int32) -> ListenAddress? {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { return nil }
        func text(_ family: Int32, _ raw: UnsafeRawPointer) -> String {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(family, raw, &buffer, socklen_t(buffer.count))
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        switch Int32(storage.ss_family) {
        case AF_INET:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var raw = address.pointee.sin_addr
                    let host = text(AF_INET, &raw)
                    return ListenAddress(host: host, port: UInt16(bigEndian: address.pointee.sin_port))
                }
            }
        case AF_INET6:
            return withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    let host = text(AF_INET6, &raw)
                    return ListenAddress(host: host, port: UInt16(bigEndian: address.pointee.sin6_port))
                }
            }
        default:
            return nil
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
