import NIOCore
import NIOHTTP1
import SupervisedServer
import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// What the demo server answers: `GET /` tells which process answered, so a client can see the kernel balance
/// connections and a rollout replace instances.
struct DemoResponder: Sendable {
    /// `pid=… generation=… instance=… version=…` and a newline.
    let identity: String
    /// The body of `GET /`: ``identity``, padded to `bodyBytes`; built once and shared by every response.
    private let body: ByteBuffer

    /// - Parameter bodyBytes: pad the body with lines of `.` to at least this many bytes (large responses take long
    ///   enough to be caught mid-way when the server dies).
    init(versionString: String, bodyBytes: Int = 0) {
        let generation = ServiceEnvironment.value(of: ServiceEnvironment.generation) ?? "0"
        let instance = ServiceEnvironment.value(of: ServiceEnvironment.instance) ?? "0"
        identity = "pid=\(getpid()) generation=\(generation) instance=\(instance) version=\(versionString)\n"
        var body = ByteBuffer(string: identity)
        let line = String(repeating: ".", count: 63) + "\n"
        while body.readableBytes < bodyBytes { body.writeString(line) }
        self.body = body
    }

    /// `GET /` (and `HEAD /`) → 200 with ``identity``; other methods on `/` → 405; other paths → 404.
    func respond(to request: HTTPServerRequest) -> HTTPServerResponse {
        Self.refusal(of: request, servingOnly: "/")
            ?? HTTPServerResponse(status: .ok, headers: ["Content-Type": "text/plain; charset=utf-8"], body: body)
    }

    /// `404` for a path other than `path` (with `hint` after it), `405` for a method other than `GET` and `HEAD`;
    /// `nil` for a request to serve.
    static func refusal(of request: HTTPServerRequest, servingOnly path: String, hint: String = "")
        -> HTTPServerResponse?
    {
        let requested = request.head.uri.split(separator: "?", maxSplits: 1, omittingEmptySubsequences: false)[0]
        guard requested == path else {
            return HTTPServerResponse(status: .notFound, text: "not found: \(requested)\(hint)\n")
        }
        guard request.head.method == .GET || request.head.method == .HEAD else {
            var response = HTTPServerResponse(status: .methodNotAllowed, text: "method not allowed\n")
            response.headers.add(name: "Allow", value: "GET, HEAD")
            return response
        }
        return nil
    }

    /// The responder for ``SupervisedHTTPServer``: quick and non-blocking, so it runs on the event loop.
    var responder: HTTPResponder {
        .onEventLoop { request in self.respond(to: request) }
    }
}
