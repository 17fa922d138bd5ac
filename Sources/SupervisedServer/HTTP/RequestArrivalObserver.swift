import NIOCore

/// The first handler of a connection, in front of the HTTP decoder: tells the ``HTTPConnectionHandler`` about every
/// read, so the request timeout starts at a request's first byte, not when its whole head has been parsed (a client
/// that trickles a head never gets that far). It passes the bytes on unchanged.
///
/// It also marks the place where ``HTTPConnectionHandler`` writes a `408` for a request without a parsed head,
/// which must not pass NIO's HTTP handlers.
final class RequestArrivalObserver: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let connection: HTTPConnectionHandler

    /// An observer for the connection handler of the same channel (both live on its event loop).
    init(connection: HTTPConnectionHandler) {
        self.connection = connection
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        connection.requestBytesArrived()
        context.fireChannelRead(data)
    }
}
