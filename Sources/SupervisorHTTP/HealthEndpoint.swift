internal import NIOHTTP1
public import Prometheus
internal import SupervisedServer
public import SupervisorCore

/// The supervisor's HTTP endpoint (``HealthRoutes``), served with the same lossless HTTP server as the demo
/// instances, on a port it owns alone (no `SO_REUSEPORT`: a second supervisor on the same port is an error, not a
/// silent split). Slow or oversized requests are cut off; answering never waits for the supervisor's work, except
/// `/healthz`, which waits at most one second for its event loop.
public final class HealthEndpoint: Sendable {
    private let server: SupervisedHTTPServer

    private init(server: SupervisedHTTPServer) {
        self.server = server
    }

    /// Binds `address` and starts answering.
    ///
    /// - Throws: an error naming the address when it cannot be bound, e.g. when it is in use.
    public static func start(
        address: SupervisorCore.ListenAddress,
        observer: SupervisorObserver,
        registry: PrometheusCollectorRegistry
    ) async throws -> HealthEndpoint {
        let routes = HealthRoutes(observer: observer, registry: registry)
        let configuration = SupervisedHTTPServer.Configuration(
            idleGrace: .milliseconds(100),
            drainDeadline: .seconds(2),
            maximumRequestBodySize: 4096,
            reusePort: false,
            requestTimeout: .seconds(5)
        )
        let server = try await SupervisedHTTPServer.start(
            listeningOn: [.address(SupervisedServer.ListenAddress(host: address.host, port: Int(address.port)))],
            configuration: configuration,
            responder: HTTPResponder { request in
                await routes.respond(method: request.head.method, uri: request.head.uri)
            }
        )
        return HealthEndpoint(server: server)
    }

    /// Stops answering: finishes the requests in flight, then closes.
    public func stop() async {
        await server.drain()
    }
}
