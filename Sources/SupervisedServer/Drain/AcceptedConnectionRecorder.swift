import NIOCore

/// Sits in the listening channel's pipeline and records each accepted connection with the ``ConnectionTracker``
/// before NIO registers it and runs its initializer, so no connection escapes the drain's count.
final class AcceptedConnectionRecorder: ChannelInboundHandler {
    typealias InboundIn = any Channel
    typealias InboundOut = any Channel

    private let tracker: ConnectionTracker

    init(tracker: ConnectionTracker) {
        self.tracker = tracker
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        tracker.connectionAccepted(unwrapInboundIn(data))
        context.fireChannelRead(data)
    }
}
