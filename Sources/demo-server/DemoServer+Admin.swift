import ArgumentParser
import SupervisedServer
import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

extension DemoServer {
    /// The admin port: `--admin-port`, else `SUPERVISOR_ADMIN_PORT`, else none.
    func adminPortToUse() throws -> Int? {
        if let adminPort { return adminPort }
        guard let text = ServiceEnvironment.value(of: ServiceEnvironment.adminPort) else { return nil }
        guard let port = Int(text), (0...65535).contains(port) else {
            throw ValidationError("\(ServiceEnvironment.adminPort)='\(text)' is not a port in 0...65535")
        }
        return port
    }

    /// Starts the admin listener on 127.0.0.1:`port`, bound without SO_REUSEPORT: the port is this instance's alone,
    /// so a stale process still holding it makes this one fail instead of sharing its health probes.
    func startAdminServer(port: Int, health: DemoHealth, log: DemoLog) async throws -> SupervisedHTTPServer {
        let configuration = SupervisedHTTPServer.Configuration(
            idleGrace: .milliseconds(drainGrace),
            drainDeadline: .seconds(drainDeadline),
            reusePort: false,
            requestTimeout: Self.limit(seconds: requestTimeout),
            idleTimeout: Self.limit(seconds: idleTimeout)
        )
        let admin = try await SupervisedHTTPServer.start(
            listeningOn: [.address(ListenAddress(host: "127.0.0.1", port: port))],
            configuration: configuration,
            responder: health.responder
        )
        for address in admin.localAddresses {
            log.info("admin port: GET /health on \(ListenAddress(address).map(\.description) ?? "\(address)")")
        }
        return admin
    }

    /// `nil` (no limit) for 0, else the duration.
    static func limit(seconds: Double) -> Duration? {
        seconds > 0 ? .seconds(seconds) : nil
    }
}
