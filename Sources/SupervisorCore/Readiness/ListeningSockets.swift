#if canImport(Glibc)
import Glibc
#endif

/// A TCP socket in LISTEN state, from `/proc/net/tcp` or `/proc/net/tcp6`, or a bound UDP socket, from
/// `/proc/net/udp` or `/proc/net/udp6`.
package struct ListeningSocket: Equatable, Sendable {
    package let port: UInt16
    /// The local address as the kernel prints it (hex); all zeros for a wildcard address.
    package let hexAddress: String
    package let inode: UInt64

    /// Whether the socket listens on every address of its family.
    package var isWildcard: Bool { hexAddress.allSatisfy { $0 == "0" } }

    /// The LISTEN sockets in the text of `/proc/net/tcp` or `/proc/net/tcp6`; with `state` `07` (`TCP_CLOSE`, as
    /// the kernel prints an unconnected UDP socket), the bound sockets of `/proc/net/udp` or `/proc/net/udp6`.
    package static func parse(procNetTCP text: String, state: Substring = "0A") -> [ListeningSocket] {
        var sockets: [ListeningSocket] = []
        for line in text.split(separator: "\n").dropFirst() {
            let fields = line.split(separator: " ")
            // sl local_address rem_address st tx:rx tr:when retrnsmt uid timeout inode
            guard fields.count >= 10, fields[3] == state else { continue }
            let local = fields[1].split(separator: ":")
            guard local.count == 2, let port = UInt16(local[1], radix: 16), let inode = UInt64(fields[9]) else {
                continue
            }
            sockets.append(ListeningSocket(port: port, hexAddress: String(local[0]), inode: inode))
        }
        return sockets
    }

    /// Every LISTEN socket of this network namespace, IPv4 and IPv6.
    package static func current() -> [ListeningSocket] {
        ["/proc/net/tcp", "/proc/net/tcp6"].flatMap { path in
            FileText.read(path).map { parse(procNetTCP: $0) } ?? []
        }
    }

    /// Every unconnected (bound) UDP socket of this network namespace, IPv4 and IPv6.
    package static func currentUDP() -> [ListeningSocket] {
        ["/proc/net/udp", "/proc/net/udp6"].flatMap { path in
            FileText.read(path).map { parse(procNetTCP: $0, state: "07") } ?? []
        }
    }

    /// The socket inodes a process holds open, from the `socket:[INODE]` links in `/proc/PID/fd`. Read with one
    /// buffer for every link, since a server may hold many thousands.
    package static func socketInodes(ofProcess pid: Int32) -> Set<UInt64> {
        var inodes = Set<UInt64>()
        let path = "/proc/\(pid)/fd"
        guard let directory = opendir(path) else { return inodes }
        defer { closedir(directory) }
        let descriptor = dirfd(directory)
        withUnsafeTemporaryAllocation(of: UInt8.self, capacity: 64) { buffer in
            while let entry = readdir(directory) {
                let length = withUnsafePointer(to: entry.pointee.d_name) { name in
                    name.withMemoryRebound(to: CChar.self, capacity: 256) {
                        readlinkat(descriptor, $0, buffer.baseAddress!, 64)
                    }
                }
                // `socket:[` and at most 20 digits and `]`; anything longer is not a socket.
                guard length > 9, length < 64 else { continue }
                if let inode = socketInode(linkBytes: UnsafeBufferPointer(rebasing: buffer[0..<length])) {
                    inodes.insert(inode)
                }
            }
        }
        return inodes
    }

    /// The inode in the bytes of a socket link, `socket:[INODE]`.
    static func socketInode(linkBytes bytes: UnsafeBufferPointer<UInt8>) -> UInt64? {
        let prefix: [UInt8] = Array("socket:[".utf8)
        guard bytes.count > prefix.count + 1, bytes.starts(with: prefix), bytes.last == UInt8(ascii: "]") else {
            return nil
        }
        var value: UInt64 = 0
        for byte in bytes[prefix.count..<(bytes.count - 1)] {
            guard byte >= UInt8(ascii: "0"), byte <= UInt8(ascii: "9") else { return nil }
            let (scaled, overflowA) = value.multipliedReportingOverflow(by: 10)
            let (sum, overflowB) = scaled.addingReportingOverflow(UInt64(byte - UInt8(ascii: "0")))
            guard !overflowA, !overflowB else { return nil }
            value = sum
        }
        return value
    }

    /// The inode in a `/proc/PID/fd` link to a socket, `socket:[INODE]`; `nil` for anything else.
    static func socketInode(linkTarget target: String) -> UInt64? {
        Array(target.utf8).withUnsafeBufferPointer { socketInode(linkBytes: $0) }
    }
}
