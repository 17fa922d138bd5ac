/// Counts the live TCP connections each instance holds on its listen ports, including those of its descendants
/// (gunicorn and Puma workers are the instance's children, nginx's too): the socket inodes in `/proc/PID/fd` of every
/// process of its tree, matched with the connections the kernel lists for those ports (``TCPSocketTable``).
///
/// It asks the kernel once per address family (the kernel walks its whole connection table for that, about a
/// millisecond here) and reads `/proc` for the instances' trees only, so it runs only when someone looks: once a
/// second while an instance drains, and for `status`, `/status` and `/metrics` (bench/census measures it).
package enum ConnectionCensus {
    /// An instance to count for.
    package struct Subject: Equatable, Sendable {
        /// Whatever tells the instance apart for the caller (one instance of the runtime).
        package let key: InstanceID
        /// Its first process: its tree is counted.
        package let pid: Int32
        /// Its listen ports: connections on other ports (outgoing ones, admin ports) are not counted.
        package let ports: Set<UInt16>
        /// Whether it listens on IPv6 addresses (whose connections include IPv4 ones on a dual-stack wildcard), and
        /// on IPv4 ones.
        package let ipv6: Bool
        package let ipv4: Bool

        package init(key: InstanceID, pid: Int32, ports: Set<UInt16>, ipv4: Bool = true, ipv6: Bool = true) {
            self.key = key
            self.pid = pid
            self.ports = ports
            self.ipv4 = ipv4
            self.ipv6 = ipv6
        }

        /// An instance listening on `addresses`. One that binds its own sockets (`app` mode) may bind an IPv6
        /// wildcard for an IPv4 address, whose IPv4 connections the kernel lists as IPv6: both families are asked.
        package init(key: InstanceID, pid: Int32, listen addresses: [ListenAddress], bindsItself: Bool) {
            self.init(
                key: key, pid: pid, ports: Set(addresses.compactMap(\.tcpPort)),
                ipv4: bindsItself || addresses.contains { !$0.isIPv6 },
                ipv6: bindsItself || addresses.contains(where: \.isIPv6))
        }
    }

    /// Open connections per subject's key; a subject whose count cannot be known (the kernel refused the request) is
    /// missing. A subject with no connection counts 0.
    package static func count(_ subjects: [Subject]) -> [InstanceID: Int] {
        let ports = subjects.reduce(into: Set<UInt16>()) { $0.formUnion($1.ports) }
        guard !subjects.isEmpty, !ports.isEmpty,
            let sockets = try? TCPSocketTable.sockets(
                onPorts: ports, ipv4: subjects.contains(where: \.ipv4), ipv6: subjects.contains(where: \.ipv6))
        else { return [:] }
        guard !sockets.isEmpty else { return Dictionary(uniqueKeysWithValues: subjects.map { ($0.key, 0) }) }
        return tally(subjects, sockets: sockets) { pid in
            ProcessTable.tree(of: pid).reduce(into: Set<UInt64>()) {
                $0.formUnion(ListeningSocket.socketInodes(ofProcess: $1))
            }
        }
    }

    /// Matches sockets with the inodes each subject's processes hold.
    static func tally(
        _ subjects: [Subject],
        sockets: [TCPSocketTable.Socket],
        inodesOf: (Int32) -> Set<UInt64>
    ) -> [InstanceID: Int] {
        var counts: [InstanceID: Int] = [:]
        for subject in subjects {
            let held = inodesOf(subject.pid)
            counts[subject.key] =
                sockets.filter {
                    $0.inode != 0 && subject.ports.contains($0.localPort) && held.contains($0.inode)
                }.count
        }
        return counts
    }
}
