internal import NIOCore
internal import NIOHTTP1
internal import NIOPosix
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// What every client of a load sends, and how.
struct LoadSettings: Sendable {
    /// How a client uses connections.
    enum Style: String, Sendable {
        /// One connection for request after request; a new one only after `Connection: close` or a failure.
        case keepAlive = "keep-alive"
        /// `Connection: close` on every request; after the server closes, a new connection.
        case newConnection = "new-connection"
    }

    let address: SocketAddress
    let host: String
    let path: String
    let style: Style
    let timeout: TimeAmount
    /// How long a client waits after a failed connect before the next attempt, so a refusing port is not hammered in
    /// a busy loop.
    let reconnectDelay: TimeAmount = .milliseconds(10)

    var head: HTTPRequestHead {
        var headers = HTTPHeaders()
        headers.add(name: "Host", value: host)
        headers.add(name: "User-Agent", value: "supervisor-verify")
        if style == .newConnection { headers.add(name: "Connection", value: "close") }
        return HTTPRequestHead(version: .http1_1, method: .GET, uri: path, headers: headers)
    }
}

/// The phase requests are counted in now, shared by every client.
final class PhaseSwitch: Sendable {
    private let current = Atomic<Int>(LoadPhase.steady.rawValue)

    var phase: LoadPhase { LoadPhase(rawValue: current.load(ordering: .relaxed)) ?? .steady }

    func enter(_ phase: LoadPhase) { current.store(phase.rawValue, ordering: .relaxed) }
}

/// One client of the load: one connection at a time, each request sent as soon as the previous response ended, as
/// wrk's connections do. Lives on one event loop; every method runs there.
final class LoadClient {
    let loop: any EventLoop
    let settings: LoadSettings
    let head: HTTPRequestHead
    let phases: PhaseSwitch
    /// Counts per ``LoadPhase``, by its raw value.
    private var countsByPhase = [LoadCounts(), LoadCounts()]
    private var stopped = false
    /// The exchange in flight and when its request went out, for the timeout sweep.
    private var inFlight: (exchange: ExchangeHandler, since: NIODeadline)?
    private var sweep: RepeatedTask?
    private var channel: (any Channel)?

    /// Made once: every connection of this client uses it, from this loop, one at a time (``connect()`` sets the
    /// initializer for the connection it starts).
    private let bootstrap: ClientBootstrap

    init(loop: any EventLoop, settings: LoadSettings, phases: PhaseSwitch) {
        self.loop = loop
        self.settings = settings
        self.head = settings.head
        self.phases = phases
        self.bootstrap = ClientBootstrap(group: loop).connectTimeout(settings.timeout)
    }

    var counts: [LoadPhase: LoadCounts] { [.steady: countsByPhase[0], .reloading: countsByPhase[1]] }

    func start() {
        // One timer per client checks the request in flight, rather than one scheduled per request.
        let bound = NIOLoopBound(self, eventLoop: loop)
        let interval = TimeAmount.nanoseconds(max(settings.timeout.nanoseconds / 4, 10_000_000))
        sweep = loop.scheduleRepeatedTask(initialDelay: interval, delay: interval) { _ in bound.value.sweepTimeouts() }
        connect()
    }

    /// Stops for good; what is in flight now is not counted.
    func stop() {
        stopped = true
        sweep?.cancel()
        channel?.close(promise: nil)
        channel = nil
    }

    func succeeded() {
        guard !stopped else { return }
        countsByPhase[phases.phase.rawValue].succeeded += 1
    }

    func failed(_ failure: RequestFailure, detail: String, status: Int? = nil) {
        guard !stopped else { return }
        let phase = phases.phase.rawValue
        countsByPhase[phase].record(failure, detail: detail)
        if let status { countsByPhase[phase].statuses[status, default: 0] += 1 }
    }

    /// A request went out on `exchange`'s connection.
    func requestSent(on exchange: ExchangeHandler) { inFlight = (exchange, .now()) }

    /// Its response ended, or its connection is gone.
    func requestEnded() { inFlight = nil }

    private func sweepTimeouts() {
        guard let (exchange, since) = inFlight, NIODeadline.now() - since >= settings.timeout else { return }
        inFlight = nil
        exchange.timedOut()
    }

    /// The connection is gone (after a failure, a `Connection: close`, or a timeout): the next one.
    func connectionEnded() {
        channel = nil
        inFlight = nil
        guard !stopped else { return }
        connect()
    }

    private func connect() {
        guard !stopped else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        let settings = settings
        // ClientBootstrap sets TCP_NODELAY itself.
        bootstrap
            .channelInitializer { channel in
                channel.eventLoop.makeCompletedFuture {
                    let exchange = ExchangeHandler(client: bound.value)
                    let operations = channel.pipeline.syncOperations
                    try operations.addHandler(ResponseBytesWatcher(exchange: exchange))
                    try operations.addHTTPClientHandlers()
                    try operations.addHandler(exchange)
                }
            }
            .connect(to: settings.address)
            .whenComplete { result in
                let client = bound.value
                switch result {
                case .success(let channel):
                    if client.stopped { channel.close(promise: nil) } else { client.channel = channel }
                case .failure(let error):
                    client.connectFailed(error)
                }
            }
    }

    private func connectFailed(_ error: any Error) {
        let (failure, detail) = Self.classify(connectError: error)
        failed(failure, detail: detail)
        guard !stopped else { return }
        let bound = NIOLoopBound(self, eventLoop: loop)
        loop.scheduleTask(in: settings.reconnectDelay) { bound.value.connect() }
    }

    /// A failed connect, by its errno.
    static func classify(connectError error: any Error) -> (RequestFailure, String) {
        var errors: [any Error] = [error]
        if let multiple = error as? NIOConnectionError { errors = multiple.connectionErrors.map(\.error) }
        for error in errors {
            if let io = error as? IOError {
                switch io.errnoCode {
                case ECONNREFUSED: return (.refused, "connect: ECONNREFUSED")
                case ETIMEDOUT: return (.timeout, "connect: ETIMEDOUT")
                case ECONNRESET: return (.resetNew, "connect: ECONNRESET")
                default: return (.connectFailed, "connect: \(io)")
                }
            }
            if case .connectTimeout? = error as? ChannelError {
                return (.timeout, "connect: no answer within the timeout")
            }
        }
        return (.connectFailed, "connect: \(error)")
    }
}

/// Notes the first byte of each response before the HTTP decoder sees it, so a connection lost mid-response is told
/// apart from one lost before any answer.
final class ResponseBytesWatcher: ChannelInboundHandler {
    typealias InboundIn = ByteBuffer
    typealias InboundOut = ByteBuffer

    private let exchange: ExchangeHandler

    init(exchange: ExchangeHandler) { self.exchange = exchange }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        exchange.tracker.bytesArrived()
        context.fireChannelRead(data)
    }
}

/// Sends a request, waits for its response, sends the next; classifies whatever goes wrong with ``ExchangeTracker``.
final class ExchangeHandler: ChannelInboundHandler {
    typealias InboundIn = HTTPClientResponsePart
    typealias OutboundOut = HTTPClientRequestPart

    var tracker = ExchangeTracker()
    private let client: LoadClient
    private var status: Int?
    private var closeAfterResponse = false
    private var lastError: String?
    private var ended = false
    private var context: ChannelHandlerContext?

    init(client: LoadClient) { self.client = client }

    func handlerAdded(context: ChannelHandlerContext) { self.context = context }

    func handlerRemoved(context: ChannelHandlerContext) { self.context = nil }

    func channelActive(context: ChannelHandlerContext) {
        send(context)
        context.fireChannelActive()
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        switch unwrapInboundIn(data) {
        case .head(let head):
            status = Int(head.status.code)
            closeAfterResponse = client.settings.style == .newConnection || !head.isKeepAlive
        case .body:
            break
        case .end:
            client.requestEnded()
            tracker.responseEnded()
            if let status, (200..<300).contains(status) {
                client.succeeded()
            } else {
                let code = status ?? 0
                client.failed(.non2xx, detail: "status \(code)", status: code)
            }
            status = nil
            if closeAfterResponse {
                // The server closes after this answer; close at once, as wrk does (on loopback the kernel reuses the
                // TIME-WAIT ports this leaves, net.ipv4.tcp_tw_reuse).
                context.close(promise: nil)
            } else {
                send(context)
            }
        }
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        if let io = error as? IOError, io.errnoCode == ECONNRESET {
            lastError = "ECONNRESET"
        } else {
            lastError = "\(error)"
        }
        context.close(promise: nil)
    }

    func channelInactive(context: ChannelHandlerContext) {
        end(reason: lastError ?? "end of file")
        context.fireChannelInactive()
    }

    private func send(_ context: ChannelHandlerContext) {
        tracker.requestSent()
        context.write(wrapOutboundOut(.head(client.head)), promise: nil)
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        client.requestSent(on: self)
    }

    /// The request in flight got no complete response in time: count it, and give up the connection.
    func timedOut() {
        if let failure = tracker.timedOut() { client.failed(failure, detail: "no response within the timeout") }
        context?.close(promise: nil)
    }

    /// Counts what the loss of the connection means, once, and lets the client connect again.
    private func end(reason: String) {
        guard !ended else { return }
        ended = true
        let reused = tracker.completed > 0 ? "a reused connection" : "a new connection"
        if let failure = tracker.connectionLost() {
            client.failed(failure, detail: "\(reason) on \(reused)")
        }
        client.connectionEnded()
    }
}
