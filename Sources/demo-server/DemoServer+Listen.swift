import ArgumentParser
import SupervisedServer
import SystemdSupport

extension DemoServer {
    /// Where to listen: the sockets of `LISTEN_FDS` when they are meant for this process (the supervisor's
    /// `reuseport` and `shared` modes, or systemd socket activation), else `--port` (with `--host`), else the first
    /// address of `SUPERVISOR_LISTEN`. Inherited sockets win over `--port`, so one command line serves in every
    /// listen mode.
    func listenSources() throws -> [ListenSource] {
        let inherited = try InheritedSocket.fromEnvironment()
        if !inherited.isEmpty {
            return inherited.map(ListenSource.inherited)
        }
        if let port {
            return [.address(ListenAddress(host: host, port: port))]
        }
        let supervisorAddresses: [ListenAddress]
        do {
            supervisorAddresses = try ListenAddress.fromSupervisorEnvironment()
        } catch {
            throw ValidationError("\(ServiceEnvironment.listen): \(error)")
        }
        if let first = supervisorAddresses.first {
            return [.address(first)]
        }
        throw ValidationError(
            "no address to listen on: pass --port PORT [--host ADDR], or set SUPERVISOR_LISTEN=ADDR:PORT[,…] "
                + "(IPv6 as [::1]:8080), or pass sockets with LISTEN_FDS"
        )
    }
}
