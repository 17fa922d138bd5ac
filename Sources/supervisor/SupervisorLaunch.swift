import ArgumentParser
import Logging
import Metrics
import Prometheus
import SupervisorCore
import SupervisorHTTP
import SystemdSupport

/// A supervisor started the way `run` starts one, with its logging, its metrics and its health endpoint; `verify`
/// starts its private one the same way.
struct SupervisorLaunch {
    let supervisor: Supervisor
    private let endpoint: HealthEndpoint?

    /// Sets up logging (debug lines with `verbose`) and metrics for this process, checks everything
    /// ``Supervisor/prepare(source:environment:)`` checks, and starts the health endpoint when one is configured.
    ///
    /// - Throws: ``ValidationFailure`` with the message a person must act on.
    static func start(
        source: ConfigurationSource,
        environment: [String: String],
        verbose: Bool
    ) async throws -> SupervisorLaunch {
        LoggingSystem.bootstrap { label in
            StandardErrorLogHandler(label: label, logLevel: verbose ? .debug : .info)
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor.prepare(source: source, environment: environment)
        } catch {
            throw ValidationFailure(error.description)
        }
        var endpoint: HealthEndpoint?
        if let address = supervisor.configuration.health {
            do {
                endpoint = try await HealthEndpoint.start(
                    address: address, observer: supervisor.observer, registry: registry)
            } catch {
                throw ValidationFailure("cannot serve the health endpoint on \(address): \(error)")
            }
        }
        return SupervisorLaunch(supervisor: supervisor, endpoint: endpoint)
    }

    /// Supervises until stopped; returns the exit code (see ``Supervisor/run()``).
    func run() async throws -> Int32 {
        let code = try await supervisor.run()
        await endpoint?.stop()
        return code
    }
}
