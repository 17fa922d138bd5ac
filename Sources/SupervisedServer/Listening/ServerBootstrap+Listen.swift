public import NIOCore
public import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

extension ServerBootstrap {
    /// Creates the listening channel for `source`.
    ///
    /// - ``ListenSource/address(_:)``: sets `SO_REUSEADDR`, and `SO_REUSEPORT` to `reusePort`, on this bootstrap
    ///   (they apply to every channel it creates afterwards; they are harmless on an inherited socket), then binds.
    ///   With `reusePort`, every process that binds the same address this way joins one `SO_REUSEPORT` group and the
    ///   kernel spreads new connections over them. Without, the socket owns the address: the bind fails when another
    ///   socket is bound to it, and later binds of it fail (`SO_REUSEADDR` only allows reuse of `TIME_WAIT` ports).
    /// - ``ListenSource/inherited(_:)``: adopts the descriptor with `withBoundSocket(_:)`; it must already listen. Its
    ///   accept queue is set to this bootstrap's `.backlog` option (NIO's adoption would leave it at 128).
    ///   `reusePort` does not apply.
    ///
    /// Everything else (child initializers, other options) comes from this bootstrap.
    ///
    /// - Parameters:
    ///   - source: What to listen on.
    ///   - reusePort: Whether a bound address is shared with other sockets (`SO_REUSEPORT`). Default `true`.
    /// - Returns: A future for the server channel; it fails with ``ListenError`` naming the source, e.g. when the
    ///   address is in use (``ListenError/isAddressInUse``: by a socket without `SO_REUSEPORT`, of another user, or
    ///   by any socket when `reusePort` is `false`), the host does not resolve, or the port needs privileges.
    public func listen(on source: ListenSource, reusePort: Bool = true) -> EventLoopFuture<any Channel> {
        let channel: EventLoopFuture<any Channel>
        switch source {
        case .address(let address):
            // Set either way: an earlier call may have set SO_REUSEPORT on this (reference type) bootstrap.
            channel = self.serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.socketOption(.reusePort), value: reusePort ? 1 : 0)
                .bind(host: address.host, port: address.port)
        case .inherited(let socket):
            // NIO calls listen(fd, 128) on an adopted socket before it applies the bootstrap's options; listen again
            // with the configured backlog, so adopting a shared socket does not shorten its accept queue.
            channel = self.withBoundSocket(socket.descriptor).flatMap { channel in
                channel.getOption(.backlog).flatMapThrowing { backlog in
                    guard Glibc.listen(socket.descriptor, backlog) == 0 else {
                        throw InheritedSocketError("listen(\(socket.descriptor), \(backlog)) failed: errno \(errno)")
                    }
                    return channel
                }
            }
        }
        return channel.flatMapErrorThrowing { error in
            throw ListenError(source: source, underlying: error, reusePort: reusePort)
        }
    }
}

/// A listening socket that could not be created or adopted.
public struct ListenError: Error, CustomStringConvertible {
    /// What was to be listened on.
    public let source: ListenSource
    /// The error of the socket layer, e.g. NIO's `IOError` for `bind`.
    public let underlying: any Error
    /// Whether the bind asked for `SO_REUSEPORT`; decides the hint for an address in use.
    let reusePort: Bool

    init(source: ListenSource, underlying: any Error, reusePort: Bool = true) {
        self.source = source
        self.underlying = underlying
        self.reusePort = reusePort
    }

    /// Whether the bind failed because the address is in use (`EADDRINUSE`).
    public var isAddressInUse: Bool {
        (underlying as? IOError)?.errnoCode == EADDRINUSE
    }

    /// `cannot listen on 127.0.0.1:8080: bind(descriptor:ptr:bytes:): Address already in use (errno: 98)`, and for an
    /// address in use, who may hold it.
    public var description: String {
        guard isAddressInUse else { return "cannot listen on \(source): \(underlying)" }
        let hint =
            reusePort
            ? "another socket holds it without SO_REUSEPORT, or a process of another user does"
            : "another socket holds it, and this one must have the port to itself (bound without SO_REUSEPORT): "
                + "stop the process that holds it, or choose another port"
        return "cannot listen on \(source): \(underlying); \(hint)"
    }
}

extension NIOBSDSocket.Option {
    /// `SO_REUSEPORT`, which NIO 2.101 does not name.
    static let reusePort = NIOBSDSocket.Option(rawValue: SO_REUSEPORT)
}
