public import NIOCore
public import NIOHTTP1

/// A complete HTTP/1.x request as a ``HTTPResponder`` sees it: head and the whole body.
public struct HTTPServerRequest: Sendable {
    /// Method, URI, version and headers.
    public var head: HTTPRequestHead
    /// The body, empty when there is none. Its size is at most
    /// ``SupervisedHTTPServer/Configuration/maximumRequestBodySize``; larger requests never reach the responder.
    public var body: ByteBuffer
    /// The client's address, when the socket still knew it when the request arrived.
    public var remoteAddress: SocketAddress?

    /// A request from its parts.
    public init(head: HTTPRequestHead, body: ByteBuffer = ByteBuffer(), remoteAddress: SocketAddress? = nil) {
        self.head = head
        self.body = body
        self.remoteAddress = remoteAddress
    }
}
