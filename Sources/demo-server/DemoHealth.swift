import NIOHTTP1
import SupervisedServer
import Synchronization
import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// What the demo server's admin port says about it, and the responder that says it: `GET /health` answers `200`
/// while the server is healthy and `503` otherwise, with one line naming the process.
final class DemoHealth: Sendable {
    /// The states a supervisor's probe can see.
    enum State: Sendable, Equatable {
        /// Listening, but not (yet) ready: before start-up completes, and for ever with `--never-ready`.
        case notReady
        case healthy
        /// Still serving its main port, but failing its health check on purpose (`--unhealthy-after`).
        case unhealthy
        /// Stopping: the drain has begun.
        case draining
    }

    private let state = Mutex(State.notReady)
    /// `pid=… generation=… instance=…`.
    private let identity: String

    init() {
        let generation = ServiceEnvironment.value(of: ServiceEnvironment.generation) ?? "0"
        let instance = ServiceEnvironment.value(of: ServiceEnvironment.instance) ?? "0"
        identity = "pid=\(getpid()) generation=\(generation) instance=\(instance)"
    }

    /// The state now.
    var current: State { state.withLock { $0 } }

    /// Moves to `newState`, except out of `.draining`, which is final.
    func set(_ newState: State) {
        state.withLock { state in
            if state != .draining { state = newState }
        }
    }

    /// `GET /health` (and `HEAD`): `200 ok pid=…` when healthy; `503` with `not ready`, `unhealthy` or `draining`
    /// otherwise. Other methods → 405, other paths → 404.
    func respond(to request: HTTPServerRequest) -> HTTPServerResponse {
        if let refusal = DemoResponder.refusal(of: request, servingOnly: "/health", hint: " (try /health)") {
            return refusal
        }
        switch current {
        case .healthy:
            return HTTPServerResponse(status: .ok, text: "ok \(identity)\n")
        case .notReady:
            return HTTPServerResponse(status: .serviceUnavailable, text: "not ready \(identity)\n")
        case .unhealthy:
            return HTTPServerResponse(status: .serviceUnavailable, text: "unhealthy \(identity)\n")
        case .draining:
            return HTTPServerResponse(status: .serviceUnavailable, text: "draining \(identity)\n")
        }
    }

    /// The responder for the admin ``SupervisedHTTPServer``: quick and non-blocking, so it runs on the event loop.
    var responder: HTTPResponder {
        .onEventLoop { request in self.respond(to: request) }
    }
}
