internal import CSupervisorShims
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// TCP sockets as the kernel's `NETLINK_SOCK_DIAG` interface lists them: one request per address family, filtered in
/// the kernel by state and local port, so its cost follows the sockets that match, not every socket of the host.
package enum TCPSocketTable {
    /// One socket: the inode that `/proc/PID/fd` links name, its local port and its TCP state.
    package struct Socket: Equatable, Sendable {
        package let inode: UInt64
        package let localPort: UInt16
        /// The TCP state as the kernel numbers it (1 established, 10 listen, …).
        package let state: UInt8
    }

    /// The states of a connection that a process still holds: established, and the closing states in which the
    /// descriptor is still open (fin-wait, close-wait, last-ack, closing). LISTEN, SYN-RECV (not accepted yet) and
    /// TIME-WAIT (no descriptor) are left out.
    static let openConnectionStates: UInt32 = [1, 4, 5, 8, 9, 11].reduce(0) { $0 | (1 << $1) }

    /// LISTEN only.
    static let listenState: UInt32 = 1 << 10

    /// The most local ports one request filters on.
    static let maximumPorts = 64

    /// The sockets in `states` on any of `ports`, IPv4 and IPv6 (an IPv4 connection to an IPv6 wildcard listener
    /// appears under IPv6).
    ///
    /// - Throws: ``SystemCallError`` naming `sock_diag` when the kernel refuses the request.
    /// With `ipv6: false` or `ipv4: false` one family is not asked for: each request walks the kernel's whole
    /// connection table, so a census of IPv4 listeners asks only for IPv4.
    static func sockets(
        onPorts ports: Set<UInt16>,
        states: UInt32 = openConnectionStates,
        ipv4: Bool = true,
        ipv6: Bool = true
    ) throws(SystemCallError) -> [Socket] {
        let sorted = ports.sorted()
        guard !sorted.isEmpty else { return [] }
        var found: [Socket] = []
        let families = (ipv4 ? [AF_INET] : []) + (ipv6 ? [AF_INET6] : [])
        for start in stride(from: 0, to: sorted.count, by: maximumPorts) {
            let chunk = Array(sorted[start..<min(start + maximumPorts, sorted.count)])
            for family in families {
                found += try dump(family: family, states: states, ports: chunk)
            }
        }
        return found
    }

    private static func dump(family: Int32, states: UInt32, ports: [UInt16]) throws(SystemCallError) -> [Socket] {
        var capacity = 256
        while true {
            var buffer = [supervisor_tcp_socket](repeating: supervisor_tcp_socket(), count: capacity)
            var count = 0
            let error = ports.withUnsafeBufferPointer { portBuffer in
                supervisor_tcp_sockets(
                    family, states, portBuffer.baseAddress, Int32(portBuffer.count), &buffer, capacity, &count)
            }
            guard error == 0 else {
                throw SystemCallError(call: "sock_diag", errno: error, subject: family == AF_INET ? "(IPv4)" : "(IPv6)")
            }
            // Sockets come and go between two dumps; a second try with room to spare is rarely needed.
            if count > capacity {
                capacity = count + count / 4 + 16
                continue
            }
            return buffer[0..<count].map { Socket(inode: $0.inode, localPort: $0.local_port, state: $0.state) }
        }
    }
}
