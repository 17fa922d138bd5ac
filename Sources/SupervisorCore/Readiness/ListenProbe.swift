/// The `--ready listen` probe for instances that bind their own sockets (`app` mode): an instance is ready when its
/// process tree holds a LISTEN socket on every configured port. The kernel lists the LISTEN sockets of those ports
/// (``TCPSocketTable``: filtered by state and port, so thousands of TIME-WAIT entries cost nothing, unlike a read
/// of `/proc/net/tcp`); `/proc/PID/fd` says whose they are. The program needs no change.
package struct ListenProbe: Sendable {
    package let ports: [UInt16]

    package init(ports: [UInt16]) { self.ports = ports }

    /// The LISTEN sockets on `ports` now; from `/proc/net/tcp{,6}` where netlink is not allowed (a unit's
    /// `RestrictAddressFamilies=` without `AF_NETLINK`).
    package static func listeningSockets(onPorts ports: Set<UInt16>) -> [TCPSocketTable.Socket] {
        if let sockets = try? TCPSocketTable.sockets(onPorts: ports, states: TCPSocketTable.listenState) {
            return sockets
        }
        return ListeningSocket.current().filter { ports.contains($0.port) }.map {
            TCPSocketTable.Socket(inode: $0.inode, localPort: $0.port, state: 10)
        }
    }

    /// Whether the tree under `pid` listens on every port, given the LISTEN sockets of this namespace.
    package func isListening(pid: Int32, sockets: [TCPSocketTable.Socket]? = nil) -> Bool {
        let wanted = Set(ports)
        guard !wanted.isEmpty else { return false }
        let sockets = sockets ?? Self.listeningSockets(onPorts: wanted)
        let listeningPorts = Set(Self.listening(by: pid, on: wanted, sockets: sockets).map(\.localPort))
        return listeningPorts == wanted
    }

    /// The LISTEN sockets on `ports` that the tree under `pid` holds (of `sockets`, by default those of now). The
    /// tree is read alone (``ProcessTable/tree(of:)``), so the cost follows the tree and not the host's process count:
    /// the stop pacing of `app` mode asks at each reload, and the listen probe every 50 ms while an instance starts.
    package static func listening(
        by pid: Int32,
        on ports: Set<UInt16>,
        sockets: [TCPSocketTable.Socket]? = nil
    ) -> [TCPSocketTable.Socket] {
        let candidates = (sockets ?? listeningSockets(onPorts: ports)).filter { ports.contains($0.localPort) }
        guard !candidates.isEmpty else { return [] }
        var inodes = Set<UInt64>()
        for process in ProcessTable.tree(of: pid) { inodes.formUnion(ListeningSocket.socketInodes(ofProcess: process)) }
        return candidates.filter { inodes.contains($0.inode) }
    }
}
