/// The `--ready listen` probe: an instance is ready when its process tree holds a LISTEN socket on every configured
/// port. Reads `/proc`; the program needs no change.
public struct ListenProbe: Sendable {
    public let ports: [UInt16]

    public init(ports: [UInt16]) { self.ports = ports }

    /// Whether the tree under `pid` listens on every port.
    public func isListening(pid: Int32, table: ProcessTable = .current()) -> Bool {
        let sockets = ListeningSocket.current()
        let wanted = Set(ports)
        let candidates = sockets.filter { wanted.contains($0.port) }
        guard !candidates.isEmpty else { return false }
        var inodes = Set<UInt64>()
        for process in table.tree(of: pid) { inodes.formUnion(ListeningSocket.socketInodes(ofProcess: process)) }
        let listeningPorts = Set(candidates.filter { inodes.contains($0.inode) }.map(\.port))
        return listeningPorts == wanted
    }
}
