import NIOCore
import NIOHTTP1

/// The last handler of every connection: collects each request, asks the ``HTTPResponder``, writes the response, and
/// applies the drain rules of ``HTTPConnectionStateMachine`` (`Connection: close` while draining, idle grace, closing
/// by half-close so that a client's unread bytes cannot turn the close into a reset that destroys the response).
///
/// It sits behind NIO's `configureHTTPServerPipeline(withPipeliningAssistance: true, withErrorHandling: true)`:
/// `HTTPServerPipelineHandler` hands it one request at a time, and `HTTPServerProtocolErrorHandler` answers
/// malformed requests with `400` and closes. Only this handler reacts to the drain (``StartDrainEvent``); the
/// NIO handlers never see `ChannelShouldQuiesceEvent`.
///
/// It also runs the connection's one timeout timer (idle or request timeout, as the state machine says); a
/// ``RequestArrivalObserver`` in front of the HTTP decoder tells it when a request's first bytes arrive.
final class HTTPConnectionHandler: ChannelInboundHandler, RemovableChannelHandler {
    typealias InboundIn = HTTPServerRequestPart
    typealias OutboundOut = HTTPServerResponsePart

    private let responder: HTTPResponder
    private let tracker: ConnectionTracker
    private let configuration: SupervisedHTTPServer.Configuration
    private var machine = HTTPConnectionStateMachine()
    private var requestHead: HTTPRequestHead?
    private var requestBody = ByteBuffer()
    private var idleGraceTimer: Scheduled<Void>?
    private var lingerTimer: Scheduled<Void>?
    /// The timeout phase the connection is in (also when that timeout is not configured).
    private var armedTimeout: HTTPConnectionStateMachine.Timeout?
    /// When the current phase times out; `nil` when it has no limit.
    private var timeoutDeadline: NIODeadline?
    /// The wake-up that checks ``timeoutDeadline`` (see ``updateTimeout(context:)``).
    private var timeoutTimer: Scheduled<Void>?
    /// The longest a wake-up may be set ahead: the shortest configured timeout; `nil` when none is.
    private let timeoutCheckInterval: TimeAmount?
    /// This handler's context while it is in the pipeline, for ``requestBytesArrived()``.
    private var context: ChannelHandlerContext?

    init(responder: HTTPResponder, tracker: ConnectionTracker, configuration: SupervisedHTTPServer.Configuration) {
        self.responder = responder
        self.tracker = tracker
        self.configuration = configuration
        self.timeoutCheckInterval = [configuration.idleTimeout, configuration.requestTimeout].compactMap { $0 }.min()
            .map { TimeAmount($0) }
    }

    func handlerAdded(context: ChannelHandlerContext) {
        self.context = context
        // A connection accepted while the drain event went out to the others must drain too.
        if tracker.isDraining {
            apply(machine.drainStarted(), context: context)
        }
    }

    func channelActive(context: ChannelHandlerContext) {
        tracker.connectionActivated(context.channel)
        updateTimeout(context: context)
        context.fireChannelActive()
    }

    func handlerRemoved(context: ChannelHandlerContext) {
        cancelTimers()
        self.context = nil
    }

    /// Called by the ``RequestArrivalObserver`` for every read, before the HTTP decoder sees the bytes: when the
    /// connection waits for a request, they begin one, and the request timeout starts.
    func requestBytesArrived() {
        guard machine.state == .idle, let context else { return }
        machine.requestBytesReceived()
        updateTimeout(context: context)
    }

    func channelRead(context: ChannelHandlerContext, data: NIOAny) {
        defer { updateTimeout(context: context) }
        switch unwrapInboundIn(data) {
        case .head(let head):
            guard machine.requestHeadReceived(keepAlive: head.isKeepAlive) == .process else { return }
            idleGraceTimer?.cancel()
            idleGraceTimer = nil
            requestHead = head
            requestBody.clear()
            if head.headers[canonicalForm: "expect"].contains(where: { $0.lowercased() == "100-continue" }) {
                let interim = HTTPResponseHead(version: .http1_1, status: .continue)
                context.writeAndFlush(wrapOutboundOut(.head(interim)), promise: nil)
            }
        case .body(var part):
            guard machine.requestBodyReceived() == .process, let head = requestHead else { return }
            guard requestBody.readableBytes + part.readableBytes <= configuration.maximumRequestBodySize else {
                requestBody = ByteBuffer()
                let limit = configuration.maximumRequestBodySize
                let response = HTTPServerResponse(status: .payloadTooLarge, text: "request body over \(limit) bytes\n")
                write(response, for: head, action: machine.requestTooLarge(), context: context)
                return
            }
            requestBody.writeBuffer(&part)
        case .end:
            guard machine.requestEndReceived() == .process, let head = requestHead else { return }
            let request = HTTPServerRequest(head: head, body: requestBody, remoteAddress: context.channel.remoteAddress)
            requestHead = nil
            requestBody = ByteBuffer()
            // An event-loop responder's future is already complete, so this runs at once, without a hop.
            responder.response(to: request, on: context.eventLoop).assumeIsolated().whenSuccess { response in
                let asksToClose = response.headers[canonicalForm: "connection"].contains { $0.lowercased() == "close" }
                let action = self.machine.responseReady(responseAsksToClose: asksToClose)
                self.write(response, for: head, action: action, context: context)
            }
        }
    }

    func userInboundEventTriggered(context: ChannelHandlerContext, event: Any) {
        switch event {
        case is StartDrainEvent:
            apply(machine.drainStarted(), context: context)
            updateTimeout(context: context)
        case ChannelEvent.inputClosed:
            apply(machine.inputClosed(), context: context)
        default:
            context.fireUserInboundEventTriggered(event)
        }
    }

    func channelInactive(context: ChannelHandlerContext) {
        machine.channelClosed()
        cancelTimers()
        context.fireChannelInactive()
    }

    func errorCaught(context: ChannelHandlerContext, error: any Error) {
        // Parse errors were answered with 400 by HTTPServerProtocolErrorHandler; any error ends the connection.
        machine.channelClosed()
        cancelTimers()
        context.close(promise: nil)
    }

    private func write(
        _ response: HTTPServerResponse,
        for request: HTTPRequestHead,
        action: HTTPConnectionStateMachine.ResponseAction,
        context: ChannelHandlerContext
    ) {
        guard case .write(let keepAlive) = action else { return }
        let head = Self.responseHead(for: response, request: request, keepAlive: keepAlive)
        context.write(wrapOutboundOut(.head(head)), promise: nil)
        if request.method != .HEAD, Self.mayHaveBody(response.status), response.body.readableBytes > 0 {
            context.write(wrapOutboundOut(.body(.byteBuffer(response.body))), promise: nil)
        }
        context.writeAndFlush(wrapOutboundOut(.end(nil)), promise: nil)
        if !keepAlive {
            shutOutputThenLinger(context: context)
        }
        // After the writes: writing the end may already have delivered a pipelined request (and its timeout).
        updateTimeout(context: context)
    }

    /// Starts the timeout the state machine asks for, when it differs from the one running.
    ///
    /// Restarting a NIO timer for every phase of every request would cost a cancellation each time, and NIO cancels
    /// by a linear search of the event loop's timers (one per connection). So a phase change only moves
    /// ``timeoutDeadline``; one wake-up timer per connection, never more than ``timeoutCheckInterval`` ahead, checks
    /// it and re-arms itself. A pending wake-up is then never later than a new phase's deadline, which is at least
    /// that interval away.
    private func updateTimeout(context: ChannelHandlerContext) {
        let wanted = machine.runningTimeout
        guard wanted != armedTimeout else { return }
        armedTimeout = wanted
        let limit: Duration?
        switch wanted {
        case .idle: limit = configuration.idleTimeout
        case .request: limit = configuration.requestTimeout
        case nil: limit = nil
        }
        timeoutDeadline = limit.map { .now() + TimeAmount($0) }
        if timeoutTimer == nil {
            scheduleTimeoutCheck(context: context)
        }
    }

    private func scheduleTimeoutCheck(context: ChannelHandlerContext) {
        guard let deadline = timeoutDeadline, let interval = timeoutCheckInterval else { return }
        timeoutTimer = context.eventLoop.assumeIsolated().scheduleTask(deadline: min(deadline, .now() + interval)) {
            self.timeoutTimer = nil
            self.checkTimeout(context: context)
        }
    }

    private func checkTimeout(context: ChannelHandlerContext) {
        // No deadline: the phase that set the timer is over, and the current one has no limit.
        guard let deadline = timeoutDeadline, let timeout = armedTimeout else { return }
        guard deadline <= .now() else {
            scheduleTimeoutCheck(context: context)
            return
        }
        timeoutDeadline = nil
        timeoutEnded(timeout, context: context)
    }

    private func timeoutEnded(_ timeout: HTTPConnectionStateMachine.Timeout, context: ChannelHandlerContext) {
        switch timeout {
        case .idle:
            apply(machine.idleTimeoutEnded(), context: context)
        case .request:
            guard case .answerRequestTimeout(let headReceived) = machine.requestTimeoutEnded() else { break }
            let response = HTTPServerResponse(status: .requestTimeout, text: Self.requestTimeoutText)
            if headReceived, let head = requestHead {
                write(response, for: head, action: .write(keepAlive: false), context: context)
            } else {
                writeBelowHTTPLayer(Self.requestTimeoutWithoutRequest, context: context)
                shutOutputThenLinger(context: context)
            }
        }
        updateTimeout(context: context)
    }

    /// Writes bytes in front of the HTTP handlers: NIO's pipelining handler accepts no response without a request.
    private func writeBelowHTTPLayer(_ bytes: ByteBuffer, context: ChannelHandlerContext) {
        guard let front = try? context.pipeline.syncOperations.context(handlerType: RequestArrivalObserver.self) else {
            return
        }
        front.writeAndFlush(NIOAny(bytes), promise: nil)
    }

    private static let requestTimeoutText = "request not received in time\n"

    /// The `408` for a request whose head did not arrive in time, as bytes on the wire.
    private static let requestTimeoutWithoutRequest: ByteBuffer = {
        let body = requestTimeoutText
        return ByteBuffer(
            string: "HTTP/1.1 408 Request Timeout\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\n"
                + "Content-Length: \(body.utf8.count)\r\n\r\n\(body)"
        )
    }()

    /// Half-closes once everything written is handed to the kernel (NIO defers the shutdown until then), then waits
    /// for the client to close, at most ``SupervisedHTTPServer/Configuration/closeLinger``. Reading continues
    /// meanwhile (the pipeline handler drops what arrives), so the final close finds no unread bytes and sends no RST.
    private func shutOutputThenLinger(context: ChannelHandlerContext) {
        let shutdown = context.eventLoop.makePromise(of: Void.self)
        context.close(mode: .output, promise: shutdown)
        shutdown.futureResult.assumeIsolated().whenComplete { result in
            guard case .success = result, context.channel.isActive else {
                context.close(promise: nil)
                return
            }
            self.lingerTimer = context.eventLoop.assumeIsolated().scheduleTask(
                in: TimeAmount(self.configuration.closeLinger)
            ) {
                self.apply(self.machine.lingerEnded(), context: context)
            }
        }
    }

    private func apply(_ action: HTTPConnectionStateMachine.ConnectionAction, context: ChannelHandlerContext) {
        switch action {
        case .none:
            break
        case .startIdleGrace:
            idleGraceTimer = context.eventLoop.assumeIsolated().scheduleTask(
                in: TimeAmount(configuration.idleGrace)
            ) {
                self.apply(self.machine.idleGraceEnded(), context: context)
            }
        case .close:
            cancelTimers()
            context.close(promise: nil)
        }
    }

    private func cancelTimers() {
        idleGraceTimer?.cancel()
        idleGraceTimer = nil
        lingerTimer?.cancel()
        lingerTimer = nil
        timeoutTimer?.cancel()
        timeoutTimer = nil
    }

    /// The head to send: `Content-Length` from the body, and `Connection` from the keep-alive decision alone.
    static func responseHead(
        for response: HTTPServerResponse,
        request: HTTPRequestHead,
        keepAlive: Bool
    ) -> HTTPResponseHead {
        var headers = response.headers
        headers.remove(name: "connection")
        headers.remove(name: "keep-alive")
        headers.remove(name: "transfer-encoding")
        if mayHaveBody(response.status) {
            headers.replaceOrAdd(name: "Content-Length", value: String(response.body.readableBytes))
        } else {
            headers.remove(name: "content-length")
        }
        if !keepAlive {
            headers.add(name: "Connection", value: "close")
        } else if request.version == .http1_0 {
            headers.add(name: "Connection", value: "keep-alive")
        }
        return HTTPResponseHead(version: .http1_1, status: response.status, headers: headers)
    }

    private static func mayHaveBody(_ status: HTTPResponseStatus) -> Bool {
        !(100..<200).contains(status.code) && status != .noContent && status != .notModified
    }
}
