import ArgumentParser
import NIOCore
import NIOPosix
import SupervisedServer

#if canImport(Glibc)
import Glibc
#endif

/// `--udp-echo`: answers each datagram with `pid=PID ` and the datagram's bytes, on the UDP sockets of `LISTEN_FDS`
/// or the `udp:` addresses of `SUPERVISOR_LISTEN` (bound with `SO_REUSEPORT`).
///
/// Its drain stops reading, so the datagrams still queued stay on the socket for the instance that shares or takes
/// it over (in `reuseport` and `shared` mode the supervisor keeps it open), answers what it read, and closes its
/// descriptors.
final class UDPEcho: Sendable {
    /// Where the echo serves.
    enum Source: CustomStringConvertible {
        case address(ListenAddress)
        case inherited(InheritedSocket)

        var description: String {
            switch self {
            case .address(let address): address.description
            case .inherited(let socket): "inherited \(socket)"
            }
        }
    }

    let channels: [any Channel]

    var localAddresses: [SocketAddress] { channels.compactMap(\.localAddress) }

    private init(channels: [any Channel]) { self.channels = channels }

    /// Binds or adopts every source; closes what it opened when one fails.
    static func start(on sources: [Source], group: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton)
        async throws -> UDPEcho
    {
        let reply = ByteBuffer(string: "pid=\(getpid()) ")
        let bootstrap = DatagramBootstrap(group: group)
            .channelOption(.socketOption(.so_reuseaddr), value: 1)
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(EchoHandler(prefix: reply))
                }
            }
        var channels: [any Channel] = []
        do {
            for source in sources {
                switch source {
                case .address(let address):
                    channels.append(
                        try await bootstrap.channelOption(
                            .socketOption(NIOBSDSocket.Option(rawValue: SO_REUSEPORT)), value: 1
                        )
                        .bind(host: address.host, port: address.port).get())
                case .inherited(let socket):
                    channels.append(try await bootstrap.withBoundSocket(socket.descriptor).get())
                }
            }
        } catch {
            for channel in channels { try? await channel.close() }
            throw ValidationError("cannot serve UDP: \(error)")
        }
        return UDPEcho(channels: channels)
    }

    /// Stops reading, lets the answers to what was read go out, and closes.
    func drain() async {
        for channel in channels {
            try? await channel.setOption(.autoRead, value: false).get()
        }
        // The answers were written and flushed with the reads; a moment lets a full send buffer empty.
        try? await Task.sleep(for: .milliseconds(20))
        for channel in channels { try? await channel.close() }
    }
}

private final class EchoHandler: ChannelInboundHandler {
    typealias InboundIn = AddressedEnvelope<ByteBuffer>
    typealias OutboundOut = AddressedEnvelope<ByteBuffer>

    private let prefix: ByteBuffer

    init(prefix: ByteBuffer) { self.prefix = prefix }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        var envelope = unwrapInboundIn(data)
        var answer = context.channel.allocator.buffer(capacity: prefix.readableBytes + envelope.data.readableBytes)
        answer.writeImmutableBuffer(prefix)
        answer.writeBuffer(&envelope.data)
        context.write(
            wrapOutboundOut(AddressedEnvelope(remoteAddress: envelope.remoteAddress, data: answer)), promise: nil)
    }

    func channelReadComplete(context: ChannelHandlerContext) { context.flush() }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // A datagram that cannot be answered (the client went away: ECONNREFUSED) is not the socket's end.
    }
}
