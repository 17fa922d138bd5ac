import ArgumentParser
import SupervisedServer

extension DemoServer {
    /// Where to listen: `--port` (with `--host`) first, then the sockets of `LISTEN_FDS`, then the first address of
    /// `SUPERVISOR_LISTEN`.
    func listenSources() throws -> [ListenSource] {
        if let port {
            return [.address(ListenAddress(host: host, port: port))]
        }
        let inherited = try InheritedSocket.fromEnvironment()
        if !inherited.isEmpty {
            return inherited.map(ListenSource.inherited)
        }
        let supervisorAddresses: [ListenAddress]
        do {
            supervisorAddresses = try ListenAddress.fromSupervisorEnvironment()
        } catch {
            throw ValidationError("\(ListenAddress.supervisorEnvironmentVariable): \(error)")
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
