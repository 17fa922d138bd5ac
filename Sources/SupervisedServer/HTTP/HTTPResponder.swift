import NIOCore
import NIOHTTP1

/// The application part of a ``SupervisedHTTPServer``: turns a complete request into a complete response.
///
/// The server owns the connection (keep-alive, pipelining, the drain); the responder only maps requests to responses,
/// so every application gets the same correct drain.
public struct HTTPResponder: Sendable {
    enum Body: Sendable {
        case onEventLoop(@Sendable (HTTPServerRequest) -> HTTPServerResponse)
        case async(@Sendable (HTTPServerRequest) async throws -> HTTPServerResponse)
    }

    let body: Body

    /// A responder that runs as a Swift task per request. It may suspend and do I/O; if it throws, the client gets
    /// `500 Internal Server Error` and the connection stays usable.
    public init(_ respond: @escaping @Sendable (HTTPServerRequest) async throws -> HTTPServerResponse) {
        self.body = .async(respond)
    }

    /// A responder that runs directly on the connection's event loop, with no task per request: the fastest form, for
    /// work that is quick and never blocks (blocking there stalls every connection of that loop).
    public static func onEventLoop(_ respond: @escaping @Sendable (HTTPServerRequest) -> HTTPServerResponse) -> Self {
        HTTPResponder(body: .onEventLoop(respond))
    }

    private init(body: Body) {
        self.body = body
    }

    /// The response to `request`, completed on `eventLoop`; never fails (errors become `500`).
    func response(to request: HTTPServerRequest, on eventLoop: any EventLoop) -> EventLoopFuture<HTTPServerResponse> {
        switch body {
        case .onEventLoop(let respond):
            return eventLoop.makeSucceededFuture(respond(request))
        case .async(let respond):
            return eventLoop.makeFutureWithTask { try await respond(request) }.recover { _ in
                HTTPServerResponse(status: .internalServerError, text: "internal server error\n")
            }
        }
    }
}
