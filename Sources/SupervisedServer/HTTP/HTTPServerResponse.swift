public import NIOCore
public import NIOHTTP1

/// A complete response that a ``HTTPResponder`` returns.
///
/// The server sets `Content-Length` from the body and decides about `Connection` itself (keep-alive, or `close` when
/// draining or when the client asked for it), so a responder normally sets neither. A `Connection: close` header set
/// by the responder is honoured: the connection is closed after this response.
public struct HTTPServerResponse: Sendable {
    /// The status code and reason phrase.
    public var status: HTTPResponseStatus
    /// Response headers, e.g. `Content-Type`.
    public var headers: HTTPHeaders
    /// The body. It is not sent for `HEAD` requests, `1xx`, `204` and `304` responses.
    public var body: ByteBuffer

    /// A response from its parts.
    public init(status: HTTPResponseStatus, headers: HTTPHeaders = [:], body: ByteBuffer = ByteBuffer()) {
        self.status = status
        self.headers = headers
        self.body = body
    }

    /// A `text/plain; charset=utf-8` response.
    public init(status: HTTPResponseStatus, text: String) {
        self.init(
            status: status,
            headers: ["Content-Type": "text/plain; charset=utf-8"],
            body: ByteBuffer(string: text)
        )
    }
}
