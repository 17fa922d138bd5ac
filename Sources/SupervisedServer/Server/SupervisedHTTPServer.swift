public import NIOCore
import NIOHTTP1
public import NIOPosix
import Synchronization

/// An HTTP/1.1 server that drains without losing requests: the reference implementation of the drain in
/// docs/architecture.md.
///
/// Start it on one or more listening sockets (bound with `SO_REUSEPORT`, or inherited), let a ``HTTPResponder``
/// answer requests, and call ``drain(progress:)`` when the process is asked to stop (SIGTERM). The drain:
///
/// 1. closes the listening sockets, so the kernel sends new connections to the other instances on the port;
/// 2. answers every request in flight, with `Connection: close`, and closes that connection after the response
///    (output first, so the response is not destroyed by a reset);
/// 3. keeps idle keep-alive connections open for ``Configuration/idleGrace``: a request that arrives meanwhile is
///    answered with `Connection: close`; connections still idle then are closed;
/// 4. completes when no connection is left, or closes what is left at ``Configuration/drainDeadline``.
///
/// While serving, it limits what one connection can hold: a request must arrive completely within
/// ``Configuration/requestTimeout`` (else `408` and close), its head within ``Configuration/maximumRequestHeadSize``
/// (else `400`) and its body within ``Configuration/maximumRequestBodySize`` (else `413`); a connection idle for
/// ``Configuration/idleTimeout`` is closed.
///
/// Only a connection in a listener's accept queue when the listener closes can still be lost, and only on kernels
/// with `net.ipv4.tcp_migrate_req=0` (docs/architecture.md): set it to 1, or inherit a socket that outlives the
/// instance.
///
/// - Note: swift-nio 2.101 creates listening and accepted sockets without close-on-exec. A child process spawned
///   without closing inherited descriptors (swift-subprocess and `posix_spawn_file_actions_addclosefrom_np` do close
///   them) keeps a copy: a listener this server closed stays in the `SO_REUSEPORT` group with nobody accepting, and a
///   connection it closed stays open for the client.
public final class SupervisedHTTPServer: Sendable {
    /// The addresses the listening sockets are bound to, with the real port when port 0 was asked for.
    public let localAddresses: [SocketAddress]
    /// The configuration it runs with.
    public let configuration: Configuration

    let listeners: [any Channel]
    let tracker: ConnectionTracker
    let eventLoopGroup: any EventLoopGroup
    let drainTask = Mutex<Task<DrainOutcome, Never>?>(nil)

    private init(
        listeners: [any Channel],
        tracker: ConnectionTracker,
        configuration: Configuration,
        eventLoopGroup: any EventLoopGroup
    ) {
        self.listeners = listeners
        self.localAddresses = listeners.compactMap(\.localAddress)
        self.tracker = tracker
        self.configuration = configuration
        self.eventLoopGroup = eventLoopGroup
    }

    /// Creates every listening socket and starts serving; returns once all listen.
    ///
    /// - Parameters:
    ///   - sources: Where to listen; at least one (an empty list is a programming error and traps).
    ///   - configuration: Drain timing and limits.
    ///   - eventLoopGroup: A NIOPosix group (NIO's `ServerBootstrap` accepts no other kind).
    ///   - responder: Answers the requests.
    /// - Throws: ``ListenError`` for the first source that cannot be bound or adopted; the sockets already created
    ///   are closed again, so nothing is left listening.
    public static func start(
        listeningOn sources: [ListenSource],
        configuration: Configuration = Configuration(),
        eventLoopGroup: any EventLoopGroup = MultiThreadedEventLoopGroup.singleton,
        responder: HTTPResponder
    ) async throws -> SupervisedHTTPServer {
        precondition(!sources.isEmpty, "SupervisedHTTPServer.start needs at least one listen source")
        for source in sources {
            let datagram: Bool
            switch source {
            case .address(let address): datagram = address.transport == .udp
            case .inherited(let socket): datagram = socket.isDatagram
            }
            if datagram {
                throw ListenError(
                    source: source,
                    underlying: InheritedSocketError(
                        "it is a UDP socket, and an HTTP server needs a stream socket (TCP or Unix); serve it with a "
                            + "datagram server"))
            }
        }
        let tracker = ConnectionTracker()
        let bootstrap = makeBootstrap(
            group: eventLoopGroup,
            tracker: tracker,
            configuration: configuration,
            responder: responder
        )
        var listeners: [any Channel] = []
        do {
            for source in sources {
                listeners.append(try await bootstrap.listen(on: source, reusePort: configuration.reusePort).get())
            }
        } catch {
            for listener in listeners {
                try? await listener.close()
            }
            throw error
        }
        return SupervisedHTTPServer(
            listeners: listeners,
            tracker: tracker,
            configuration: configuration,
            eventLoopGroup: eventLoopGroup
        )
    }

    /// How many client connections are open now.
    public var openConnectionCount: Int { tracker.count }

    /// Whether ``drain(progress:)`` has been called.
    public var isDraining: Bool { tracker.isDraining }

    private static func makeBootstrap(
        group: any EventLoopGroup,
        tracker: ConnectionTracker,
        configuration: Configuration,
        responder: HTTPResponder
    ) -> ServerBootstrap {
        ServerBootstrap(group: group)
            .serverChannelOption(.backlog, value: configuration.backlog)
            .serverChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    try channel.pipeline.syncOperations.addHandler(AcceptedConnectionRecorder(tracker: tracker))
                }
            }
            // The connection handler answers a request sent before the client's FIN, then closes.
            .childChannelOption(.allowRemoteHalfClosure, value: true)
            // TCP_NODELAY is an IPPROTO_TCP option: `.socketOption` would set SOL_SOCKET option 1, SO_DEBUG, which
            // only root may set, so every connection of a server run as another user would fail.
            .childChannelOption(.tcpOption(.tcp_nodelay), value: 1)
            .childChannelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let pipeline = channel.pipeline.syncOperations
                    // The tracker counts this connection already (it registers each one as it is accepted).
                    if let limit = configuration.maximumConnections, tracker.count > limit {
                        configuration.onConnectionRefused?()
                        try pipeline.addHandler(OverloadRefusal())
                        return
                    }
                    var limits = NIOHTTPDecoderLimitConfiguration()
                    limits.maxHeaderFieldSize = configuration.maximumRequestHeadSize
                    limits.maxHeaderListSize = configuration.maximumRequestHeadSize
                    try pipeline.configureHTTPServerPipeline(
                        withPipeliningAssistance: true,
                        withErrorHandling: true,
                        withEncoderConfiguration: .init(),
                        withDecoderLimitConfiguration: limits
                    )
                    let connection = HTTPConnectionHandler(
                        responder: responder,
                        tracker: tracker,
                        configuration: configuration
                    )
                    try pipeline.addHandler(connection)
                    // First, before the HTTP decoder: it sees a request's first bytes, which start its timeout.
                    try pipeline.addHandler(RequestArrivalObserver(connection: connection), position: .first)
                }
            }
    }
}
