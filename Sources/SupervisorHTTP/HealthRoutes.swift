internal import NIOCore
package import NIOHTTP1
package import Prometheus
package import SupervisedServer
package import SupervisorCore

#if canImport(FoundationEssentials)
internal import FoundationEssentials
#else
internal import Foundation
#endif

/// What the supervisor's HTTP endpoint answers, independent of sockets:
///
/// - `GET /healthz`: 200 while the supervisor's event loop answers and at least one instance is ready, else 503.
/// - `GET /readyz`: 200 while at least `min-ready` instances are ready and the supervisor is not shutting down
///   (a rollout in progress or rolled back does not change that: the host keeps serving), else 503.
/// - `GET /readyz?release=v2` (or `?generation=3`): the gate for deploy tools (``ReleaseGate``): 200 only while that
///   release serves with `min-ready` of its instances ready and no rollout in progress, else 503; 400 for a query it
///   cannot read, so that a misspelt gate never opens.
/// - `GET /status`: the status as JSON, without the command's arguments and the probes' secrets
///   (``StatusReport/redactingSecrets()``).
/// - `GET /metrics`: Prometheus text.
///
/// `HEAD` is answered like `GET`; other methods get 405, other paths 404. Bodies of the probes are one line a person
/// can read.
package struct HealthRoutes: Sendable {
    let observer: SupervisorObserver
    let registry: PrometheusCollectorRegistry
    /// How long `/healthz` waits for the event loop.
    let livenessTimeout: Duration

    package init(
        observer: SupervisorObserver, registry: PrometheusCollectorRegistry, livenessTimeout: Duration = .seconds(1)
    ) {
        self.observer = observer
        self.registry = registry
        self.livenessTimeout = livenessTimeout
    }

    /// The paths served.
    package static let paths = ["/healthz", "/readyz", "/status", "/metrics"]

    /// The response to a request for `uri` with `method`.
    package func respond(method: HTTPMethod, uri: String) async -> HTTPServerResponse {
        let path = String(uri.prefix { $0 != "?" })
        guard Self.paths.contains(path) else {
            return text(.notFound, "not found: \(path); try \(Self.paths.joined(separator: ", "))")
        }
        guard method == .GET || method == .HEAD else {
            var response = text(.methodNotAllowed, "method \(method.rawValue) not allowed on \(path); use GET")
            response.headers.replaceOrAdd(name: "Allow", value: "GET, HEAD")
            return response
        }
        switch path {
        case "/healthz":
            let answer = await observer.liveness(timeout: livenessTimeout)
            return text(answer.ok ? .ok : .serviceUnavailable, answer.text)
        case "/readyz":
            guard let mark = uri.firstIndex(of: "?") else {
                let answer = observer.readiness()
                return text(answer.ok ? .ok : .serviceUnavailable, answer.text)
            }
            let query: ReleaseGate.Query
            do { query = try ReleaseGate.Query(parsing: uri[uri.index(after: mark)...]) } catch {
                return text(.badRequest, "bad query on /readyz: \(error)")
            }
            let answer = observer.readiness(for: query)
            return text(answer.ok ? .ok : .serviceUnavailable, answer.text)
        case "/status":
            guard let report = observer.statusCountingConnections() else {
                return text(.serviceUnavailable, "not started yet")
            }
            let encoder = JSONEncoder()
            encoder.outputFormatting = [.prettyPrinted, .sortedKeys]
            guard let body = try? encoder.encode(report.redactingSecrets()) else {
                return text(.internalServerError, "cannot encode the status")
            }
            return response(.ok, contentType: "application/json", body: Array(body) + [UInt8(ascii: "\n")])
        default:
            // Counting sets supervisor_connections, so the scrape sees the connections as they are now.
            _ = observer.statusCountingConnections()
            var bytes: [UInt8] = []
            registry.emit(into: &bytes)
            return response(.ok, contentType: "text/plain; version=0.0.4; charset=utf-8", body: bytes)
        }
    }

    private func text(_ status: HTTPResponseStatus, _ line: String) -> HTTPServerResponse {
        response(status, contentType: "text/plain; charset=utf-8", body: Array((line + "\n").utf8))
    }

    private func response(_ status: HTTPResponseStatus, contentType: String, body: [UInt8]) -> HTTPServerResponse {
        var headers = HTTPHeaders()
        headers.add(name: "Content-Type", value: contentType)
        headers.add(name: "Cache-Control", value: "no-store")
        return HTTPServerResponse(status: status, headers: headers, body: ByteBuffer(bytes: body))
    }
}
