/// The life of one HTTP/1.1 connection as the drain sees it (docs/architecture.md): events in, actions out, no I/O,
/// so the rules are tested without sockets.
///
/// The rules: a request in flight is answered, with `Connection: close` once draining, and the connection is closed
/// after that response; an idle connection is not closed when the drain starts, because the client may already have
/// sent its next request, but only when it is still idle after a grace period.
///
/// It also says which timeout runs (``runningTimeout``): the idle timeout while waiting for a request (not while
/// draining, where the grace applies), the request timeout from a request's first byte until it is complete.
struct HTTPConnectionStateMachine: Sendable {
    enum State: Equatable, Sendable {
        /// Between requests, or accepted with no request yet: no byte of a request has arrived.
        case idle
        /// Bytes of a request arrived, but not yet its whole head.
        case receivingHead
        /// A request head arrived; body parts are coming.
        case receivingRequest(keepAlive: Bool)
        /// The request is complete; the responder is working on it.
        case awaitingResponse(keepAlive: Bool)
        /// The last response went out with `Connection: close` and output is being shut; the client should close now.
        case closingAfterResponse
        /// The channel is closed.
        case closed
    }

    /// What to do with a request part.
    enum RequestAction: Equatable, Sendable {
        /// Keep it (head, body) or, for the end, call the responder.
        case process
        /// Drop it: it arrived after the last response of this connection.
        case discard
    }

    /// What to do with a response.
    enum ResponseAction: Equatable, Sendable {
        /// Write it; with `keepAlive == false` add `Connection: close`, then shut output once written.
        case write(keepAlive: Bool)
        /// Drop it: the connection is gone.
        case discard
    }

    /// What to do with the connection.
    enum ConnectionAction: Equatable, Sendable {
        case none
        /// Close after the idle grace period unless a request arrives first.
        case startIdleGrace
        /// Close the connection now.
        case close
    }

    /// What to do when the request timeout ends.
    enum RequestTimeoutAction: Equatable, Sendable {
        case none
        /// Answer `408` with `Connection: close` and shut output, as after a last response. `headReceived` tells
        /// whether the HTTP layer has the request's head (answer through it) or not (answer below it, as raw bytes).
        case answerRequestTimeout(headReceived: Bool)
    }

    /// A timer that limits how long the connection stays in its current state.
    enum Timeout: Equatable, Sendable {
        /// Waiting for a request: ends in ``idleTimeoutEnded()``.
        case idle
        /// A request is arriving: ends in ``requestTimeoutEnded()``.
        case request
    }

    private(set) var state: State = .idle
    private(set) var isDraining = false
    private var clientClosedInput = false

    /// The timeout that should run now, if any. A caller compares it after each event and starts that timeout anew
    /// when it changed; the same value means the same phase is still going on.
    var runningTimeout: Timeout? {
        switch state {
        case .idle: isDraining ? nil : .idle
        case .receivingHead, .receivingRequest: .request
        case .awaitingResponse, .closingAfterResponse, .closed: nil
        }
    }

    /// Bytes arrived from the client (before the HTTP decoder). While idle, they are the start of the next request.
    mutating func requestBytesReceived() {
        if state == .idle {
            state = .receivingHead
        }
    }

    /// A request head arrived. Cancelling a running idle grace is up to the caller (it is moot once not idle).
    mutating func requestHeadReceived(keepAlive: Bool) -> RequestAction {
        switch state {
        case .idle, .receivingHead:
            state = .receivingRequest(keepAlive: keepAlive)
            return .process
        case .receivingRequest, .awaitingResponse, .closingAfterResponse, .closed:
            // HTTPServerPipelineHandler delivers one request at a time, so only the after-last-response case happens.
            return .discard
        }
    }

    /// A part of the request body arrived.
    func requestBodyReceived() -> RequestAction {
        if case .receivingRequest = state { return .process }
        return .discard
    }

    /// The request is complete; `.process` means: call the responder.
    mutating func requestEndReceived() -> RequestAction {
        guard case .receivingRequest(let keepAlive) = state else { return .discard }
        state = .awaitingResponse(keepAlive: keepAlive)
        return .process
    }

    /// The responder produced the response; `responseAsksToClose` is a `Connection: close` set by the responder.
    mutating func responseReady(responseAsksToClose: Bool) -> ResponseAction {
        guard case .awaitingResponse(let requestKeepAlive) = state else { return .discard }
        let keepAlive = requestKeepAlive && !responseAsksToClose && !isDraining && !clientClosedInput
        state = keepAlive ? .idle : .closingAfterResponse
        return .write(keepAlive: keepAlive)
    }

    /// The request body exceeds the limit: answer early (e.g. `413`) and close; the rest of the request is discarded.
    mutating func requestTooLarge() -> ResponseAction {
        guard case .receivingRequest = state else { return .discard }
        state = .closingAfterResponse
        return .write(keepAlive: false)
    }

    /// The server started draining. Idempotent.
    mutating func drainStarted() -> ConnectionAction {
        guard !isDraining else { return .none }
        isDraining = true
        return state == .idle ? .startIdleGrace : .none
    }

    /// The idle grace period ended.
    mutating func idleGraceEnded() -> ConnectionAction {
        guard state == .idle else { return .none }
        state = .closed
        return .close
    }

    /// The idle timeout ended (not draining): a connection still waiting for a request is closed.
    mutating func idleTimeoutEnded() -> ConnectionAction {
        guard state == .idle else { return .none }
        state = .closed
        return .close
    }

    /// The request timeout ended: a request still arriving is answered with `408` and the connection closes.
    mutating func requestTimeoutEnded() -> RequestTimeoutAction {
        switch state {
        case .receivingHead:
            state = .closingAfterResponse
            return .answerRequestTimeout(headReceived: false)
        case .receivingRequest:
            state = .closingAfterResponse
            return .answerRequestTimeout(headReceived: true)
        case .idle, .awaitingResponse, .closingAfterResponse, .closed:
            return .none
        }
    }

    /// The client shut its sending side (TCP FIN): no further request can come.
    mutating func inputClosed() -> ConnectionAction {
        clientClosedInput = true
        switch state {
        case .idle, .receivingHead, .closingAfterResponse:
            // A partial head cannot become a request any more.
            state = .closed
            return .close
        case .receivingRequest, .awaitingResponse, .closed:
            // Answer the request in flight first; the response then closes the connection.
            return .none
        }
    }

    /// The client did not close within the time allowed after the last response.
    mutating func lingerEnded() -> ConnectionAction {
        guard state == .closingAfterResponse else { return .none }
        state = .closed
        return .close
    }

    /// The channel closed, for whatever reason.
    mutating func channelClosed() {
        state = .closed
    }
}
