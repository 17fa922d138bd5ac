public import NIOCore
public import NIOPosix

#if canImport(Glibc)
import Glibc
#endif

extension ServerBootstrap {
    /// Creates the listening channel for `source`.
    ///
    /// - ``ListenSource/address(_:)``: sets `SO_REUSEADDR` and `SO_REUSEPORT` on this bootstrap (they apply to every
    ///   channel it creates afterwards; both are harmless on an inherited socket), then binds. Every process that binds
    ///   the same address this way joins one `SO_REUSEPORT` group and the kernel spreads new connections over them.
    /// - ``ListenSource/inherited(_:)``: adopts the descriptor with `withBoundSocket(_:)`; it must already listen. Its
    ///   accept queue is set to this bootstrap's `.backlog` option (NIO's adoption would leave it at 128).
    ///
    /// Everything else (child initializers, other options) comes from this bootstrap.
    ///
    /// - Returns: A future for the server channel; it fails with ``ListenError`` naming the source, e.g. when the
    ///   address is in use by a socket without `SO_REUSEPORT`, the host does not resolve, or the port needs privileges.
    public func listen(on source: ListenSource) -> EventLoopFuture<any Channel> {
        let channel: EventLoopFuture<any Channel>
        switch source {
        case .address(let address):
            channel = self.serverChannelOption(.socketOption(.so_reuseaddr), value: 1)
                .serverChannelOption(.socketOption(.reusePort), value: 1)
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
            throw ListenError(source: source, underlying: error)
        }
    }
}

/// A listening socket that could not be created or adopted.
public struct ListenError: Error, CustomStringConvertible {
    /// What was to be listened on.
    public let source: ListenSource
    /// The error of the socket layer, e.g. NIO's `IOError` for `bind`.
    public let underlying: any Error

    /// `cannot listen on 127.0.0.1:8080: bind(descriptor:ptr:bytes:): Address already in use (errno: 98)`.
    public var description: String { "cannot listen on \(source): \(underlying)" }
}

extension NIOBSDSocket.Option {
    /// `SO_REUSEPORT`, which NIO 2.101 does not name.
    static let reusePort = NIOBSDSocket.Option(rawValue: SO_REUSEPORT)
}
