/// Finds processes outside the supervisor's instances that already listen where the instances are to listen.
package struct PortConflict: Equatable, Sendable, CustomStringConvertible {
    package let address: ListenAddress
    /// The process holding the socket, when this user may see it.
    package let pid: Int32?
    package let command: String?

    package var description: String {
        let owner = pid.map { "pid \($0)\(command.map { " (\($0))" } ?? "")" } ?? "a process of another user"
        return
            "\(address.kind == .udp ? "UDP port" : "port") \(address.port) (\(address)) is already in use by \(owner); "
            + "stop it or choose another --listen port"
    }

    /// Conflicts for the TCP and UDP addresses among `addresses`, ignoring sockets held by `ownProcesses`. (A Unix
    /// socket's path is checked when it is bound: ``UnixListener``.)
    package static func find(
        for addresses: [ListenAddress],
        ignoring ownProcesses: Set<Int32> = []
    ) -> [PortConflict] {
        let tcp = ListeningSocket.current()
        let udp = addresses.contains { $0.kind == .udp } ? ListeningSocket.currentUDP() : []
        var conflicts: [PortConflict] = []
        var table: ProcessTable?
        var inodesByProcess: [Int32: Set<UInt64>] = [:]
        for address in addresses where address.kind != .unix {
            let overlapping = (address.kind == .udp ? udp : tcp).filter { address.overlaps($0) }
            guard !overlapping.isEmpty else { continue }
            if table == nil {
                table = .current()
                for pid in table!.processes.keys { inodesByProcess[pid] = ListeningSocket.socketInodes(ofProcess: pid) }
            }
            for socket in overlapping {
                let owners = inodesByProcess.filter { $0.value.contains(socket.inode) }.map(\.key).sorted()
                if !owners.isEmpty && owners.allSatisfy(ownProcesses.contains) { continue }
                let owner = owners.first { !ownProcesses.contains($0) }
                conflicts.append(
                    PortConflict(address: address, pid: owner, command: owner.flatMap { table!.processes[$0]?.command })
                )
                break
            }
        }
        return conflicts
    }
}
