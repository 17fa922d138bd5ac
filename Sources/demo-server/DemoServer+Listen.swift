import ArgumentParser
import SupervisedServer
import SystemdSupport

extension DemoServer {
    /// Where to serve: HTTP on stream sockets, and with `--udp-echo` the echo on UDP ones.
    struct Sources {
        var stream: [ListenSource] = []
        var datagram: [UDPEcho.Source] = []
    }

    /// Where to listen: the sockets of `LISTEN_FDS` when they are meant for this process (the supervisor's
    /// `reuseport` and `shared` modes, or systemd socket activation), else `--port` (with `--host`), else the first
    /// TCP address of `SUPERVISOR_LISTEN`; with `--udp-echo`, every `udp:` address of it too. Inherited sockets win
    /// over `--port`, so one command line serves in every listen mode.
    func listenSources() throws -> Sources {
        var sources = Sources()
        let inherited = try InheritedSocket.fromEnvironment()
        if !inherited.isEmpty {
            for socket in inherited {
                if !socket.isDatagram {
                    sources.stream.append(.inherited(socket))
                } else if udpEcho {
                    sources.datagram.append(.inherited(socket))
                } else {
                    throw ValidationError(
                        "LISTEN_FDS passes a UDP socket (\(socket)); pass --udp-echo to answer datagrams on it")
                }
            }
            return sources
        }
        let supervisorAddresses: [ListenAddress]
        do {
            supervisorAddresses = try ListenAddress.fromSupervisorEnvironment()
        } catch {
            throw ValidationError("\(ServiceEnvironment.listen): \(error)")
        }
        if udpEcho {
            sources.datagram = supervisorAddresses.filter { $0.transport == .udp }.map(UDPEcho.Source.address)
        }
        if let port {
            sources.stream = [.address(ListenAddress(host: host, port: port))]
        } else if let first = supervisorAddresses.first(where: { $0.transport == .tcp }) {
            sources.stream = [.address(first)]
        }
        guard sources.stream.isEmpty && sources.datagram.isEmpty else { return sources }
        throw ValidationError(
            "no address to listen on: pass --port PORT [--host ADDR], or set SUPERVISOR_LISTEN=ADDR:PORT[,…] "
                + "(IPv6 as [::1]:8080; udp:ADDR:PORT with --udp-echo), or pass sockets with LISTEN_FDS"
        )
    }
}
