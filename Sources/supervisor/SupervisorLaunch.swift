import ArgumentParser
import Logging
import Metrics
import Prometheus
import SupervisorCore
import SupervisorHTTP
import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

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
        let registry = bootstrap(verbose: verbose)
        let supervisor: Supervisor
        do {
            supervisor = try Supervisor.prepare(source: source, environment: environment)
        } catch {
            throw ValidationFailure(error.description)
        }
        return SupervisorLaunch(supervisor: supervisor, endpoint: try await serveHealth(of: supervisor, registry))
    }

    /// A supervisor rebuilt from the state an in-place upgrade handed over on descriptor `handover` (see
    /// ``Supervisor/resume(_:source:environment:failure:)``). When it cannot be rebuilt, the program from before the
    /// upgrade is executed again with the same state, and this does not return.
    ///
    /// - Throws: ``ValidationFailure`` when not even that could be done.
    static func resume(
        handover: Int32,
        source: ConfigurationSource,
        environment: [String: String],
        failure: String?,
        verbose: Bool
    ) async throws -> SupervisorLaunch {
        let registry = bootstrap(verbose: verbose)
        let state: HandoverState
        do {
            state = try HandoverState.decode(try Handover.read(handover), newestFormat: Failpoint.newestFormat)
        } catch {
            // Not even the previous program's descriptor is known: nothing to go back to.
            throw ValidationFailure("cannot take over from the previous supervisor: \(error)")
        }
        do {
            let supervisor = try Supervisor.resume(
                state, source: source, environment: environment, failure: failure)
            let endpoint = try await serveHealth(of: supervisor, registry)
            close(handover)
            return SupervisorLaunch(supervisor: supervisor, endpoint: endpoint)
        } catch {
            let reason = "\(error)"
            if failure != nil {
                // This is the previous program already: going back again would loop.
                throw ValidationFailure("cannot take over from the previous supervisor either: \(reason)")
            }
            printError("supervisor: the new binary cannot take over (\(reason)); executing the previous one again")
            let code = Handover.execute(
                path: "", executable: state.descriptors.previousExecutable, arguments: state.arguments,
                environment: state.environment + [
                    "\(ServiceEnvironment.handoverState)=\(handover)",
                    "\(ServiceEnvironment.handoverFailure)=\(reason)",
                ],
                keeping: state.keptDescriptors + [handover])
            throw ValidationFailure("cannot execute the previous supervisor again: errno \(code)")
        }
    }

    /// Logging to standard error (debug lines with `verbose`) and metrics for this process; returns the registry the
    /// health endpoint serves.
    private static func bootstrap(verbose: Bool) -> PrometheusCollectorRegistry {
        LoggingSystem.bootstrap { label in
            StandardErrorLogHandler(label: label, logLevel: verbose ? .debug : .info)
        }
        let registry = PrometheusCollectorRegistry()
        MetricsSystem.bootstrap(PrometheusMetricsFactory(registry: registry))
        return registry
    }

    private static func serveHealth(
        of supervisor: Supervisor,
        _ registry: PrometheusCollectorRegistry
    ) async throws -> HealthEndpoint? {
        guard let address = supervisor.configuration.health, let socket = supervisor.healthSocket else { return nil }
        do {
            return try await HealthEndpoint.start(
                socket: socket, address: address, observer: supervisor.observer, registry: registry)
        } catch {
            throw ValidationFailure("cannot serve the health endpoint on \(address): \(error)")
        }
    }

    /// Supervises until stopped; returns the exit code (see ``Supervisor/run()``).
    func run() async throws -> Int32 {
        let code = try await supervisor.run()
        await endpoint?.stop()
        return code
    }
}
