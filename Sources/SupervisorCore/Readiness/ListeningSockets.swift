/// A TCP socket in LISTEN state, from `/proc/net/tcp` or `/proc/net/tcp6`.
public struct ListeningSocket: Equatable, Sendable {
    public let port: UInt16
    /// The local address as the kernel prints it (hex); all zeros for a wildcard address.
    public let hexAddress: String
    public let inode: UInt64

    /// Whether the socket listens on every address of its family.
    public var isWildcard: Bool { hexAddress.allSatisfy { $0 == "0" } }

    /// The LISTEN sockets in the text of `/proc/net/tcp` or `/proc/net/tcp6`.
    public static func parse(procNetTCP text: String) -> [ListeningSocket] {
        var sockets: [ListeningSocket] = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            guard fields.count >= 10, fields[3] == "0A" else { continue }
            let local = fields[1].split(separator: ":")
            guard local.count == 2, let port = UInt16(local[1], radix: 16), let inode = UInt64(fields[9]) else {
                continue
            }
            sockets.append(ListeningSocket(port: port, hexAddress: String(local[0]), inode: inode))
        }
        return sockets
    }

    /// Every LISTEN socket of this network namespace, IPv4 and IPv6.
    public static func current() -> [ListeningSocket] {
        ["/proc/net/tcp", "/proc/net/tcp6"].flatMap { path in
            FileText.read(path).map { parse(procNetTCP: $0) } ?? []
        }
    }

    /// The socket inodes a process holds open, from the `socket:[INODE]` links in `/proc/PID/fd`.
    public static func socketInodes(ofProcess pid: Int32) -> Set<UInt64> {
        var inodes = Set<UInt64>()
        for entry in FileText.directoryEntries("/proc/\(pid)/fd") {
            guard let target = FileText.readLink("/proc/\(pid)/fd/\(entry)"),
                let inode = socketInode(linkTarget: target)
            else { continue }
            inodes.insert(inode)
        }
        return inodes
    }

    /// The inode in a `/proc/PID/fd` link to a socket, `socket:[INODE]`; `nil` for anything else.
    static func socketInode(linkTarget target: String) -> UInt64? {
        guard target.hasPrefix("socket:["), target.hasSuffix("]") else { return nil }
        return UInt64(target.dropFirst(8).dropLast())
    }
}
