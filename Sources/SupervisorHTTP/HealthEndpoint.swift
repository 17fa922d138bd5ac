internal import Logging
internal import NIOHTTP1
package import Prometheus
internal import SupervisedServer
package import SupervisorCore
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's HTTP endpoint (``HealthRoutes``), served with the same lossless HTTP server as the demo
/// instances, on a port it owns alone (no `SO_REUSEPORT`: a second supervisor on the same port is an error, not a
/// silent split). Slow or oversized requests are cut off; answering never waits for the supervisor's work, except
/// `/healthz`, which waits at most one second for its event loop.
///
/// Anyone who can reach the port can connect, so connections are limited: at most ``maximumConnections`` open
/// (those beyond get `503` and are closed, and the refusals are logged), and one idle for ``idleTimeout`` is
/// closed. Health checkers and scrapers need a handful; idle connections by the thousand would otherwise take every
/// descriptor of the supervisor, which then cannot start instances.
package final class HealthEndpoint: Sendable {
    /// Connections open at once, at most.
    package static let maximumConnections = 64
    /// How long a connection may wait for its next request.
    package static let idleTimeout: Duration = .seconds(5)

    private let server: SupervisedHTTPServer

    private init(server: SupervisedHTTPServer) {
        self.server = server
    }

    /// Starts answering on `socket`, listening at `address` (the supervisor binds it, so that an in-place upgrade
    /// hands it over; the endpoint serves a duplicate, and the socket stays the caller's).
    ///
    /// - Throws: an error naming the address when the socket cannot be served.
    package static func start(
        socket: Int32,
        address: SupervisorCore.ListenAddress,
        observer: SupervisorObserver,
        registry: PrometheusCollectorRegistry
    ) async throws -> HealthEndpoint {
        let routes = HealthRoutes(observer: observer, registry: registry)
        let refusals = RefusalLog(address: address)
        let configuration = SupervisedHTTPServer.Configuration(
            idleGrace: .milliseconds(100),
            drainDeadline: .seconds(2),
            maximumRequestBodySize: 4096,
            reusePort: false,
            requestTimeout: .seconds(5),
            idleTimeout: idleTimeout,
            maximumConnections: maximumConnections,
            onConnectionRefused: { refusals.refused() }
        )
        let duplicate = fcntl(socket, F_DUPFD_CLOEXEC, 3)
        guard duplicate >= 0 else {
            throw HealthEndpointError(description: "cannot serve \(address): dup failed: errno \(errno)")
        }
        let server = try await SupervisedHTTPServer.start(
            listeningOn: [.inherited(InheritedSocket(descriptor: duplicate))],
            configuration: configuration,
            responder: HTTPResponder { request in
                await routes.respond(method: request.head.method, uri: request.head.uri)
            }
        )
        return HealthEndpoint(server: server)
    }

    /// Stops answering: finishes the requests in flight, then closes.
    package func stop() async {
        await server.drain()
    }
}

/// Why the endpoint cannot serve.
struct HealthEndpointError: Error, CustomStringConvertible {
    let description: String
}

/// Logs connections the endpoint refused: the first at once, then a count at most every ten seconds, so a flood of
/// connections does not become a flood of log lines.
private final class RefusalLog: Sendable {
    private struct State {
        var unreported = 0
        var lastReport: ContinuousClock.Instant?
    }

    private let state = Mutex(State())
    private let logger = Logger(label: "supervisor[health]")
    private let address: SupervisorCore.ListenAddress

    init(address: SupervisorCore.ListenAddress) {
        self.address = address
    }

    func refused() {
        let now = ContinuousClock.now
        let count: Int? = state.withLock { state in
            state.unreported += 1
            if let last = state.lastReport, now - last < .seconds(10) { return nil }
            state.lastReport = now
            defer { state.unreported = 0 }
            return state.unreported
        }
        guard let count else { return }
        let text =
            "health endpoint \(address): refused \(count) connection\(count == 1 ? "" : "s") with 503: "
            + "\(HealthEndpoint.maximumConnections) are open, the limit (each closes after "
            + "\(HealthEndpoint.idleTimeout.secondsText) idle)"
        logger.warning("\(text)")
    }
}
