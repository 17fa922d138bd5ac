internal import NIOCore

/// Answers a connection accepted beyond ``SupervisedHTTPServer/Configuration/maximumConnections`` with `503` and
/// closes it, without waiting for a request: the client learns why, and retries later.
final class OverloadRefusal: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer

    static let response: String = {
        let body = "too many connections; retry later\n"
        return "HTTP/1.1 503 Service Unavailable\r\nConnection: close\r\nRetry-After: 1\r\n"
            + "Content-Type: text/plain; charset=utf-8\r\nContent-Length: \(body.utf8.count)\r\n\r\n\(body)"
    }()

    func channelActive(context: ChannelHandlerContext) {
        let bytes = context.channel.allocator.buffer(string: Self.response)
        let written = context.eventLoop.makePromise(of: Void.self)
        context.writeAndFlush(NIOAny(bytes), promise: written)
        written.futureResult.assumeIsolated().whenComplete { _ in context.close(promise: nil) }
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        // Whatever the client sent is not read as a request.
    }
}
