#if canImport(Glibc)
import Glibc
#endif

extension ListenAddress {
    /// The address a socket is bound to: a TCP or UDP address and port (by the socket's type), or a Unix socket's
    /// path; `nil` for other sockets, unbound and abstract Unix sockets, and descriptors that are not sockets.
    package init?(boundTo fd: Int32) {
        var storage = sockaddr_storage()
        var length = socklen_t(MemoryLayout<sockaddr_storage>.size)
        let result = withUnsafeMutablePointer(to: &storage) {
            $0.withMemoryRebound(to: sockaddr.self, capacity: 1) { getsockname(fd, $0, &length) }
        }
        guard result == 0 else { return nil }
        var type: Int32 = 0
        var typeLength = socklen_t(MemoryLayout<Int32>.size)
        guard getsockopt(fd, SOL_SOCKET, SO_TYPE, &type, &typeLength) == 0 else { return nil }
        func text(_ family: Int32, _ raw: UnsafeRawPointer) -> String {
            var buffer = [CChar](repeating: 0, count: Int(INET6_ADDRSTRLEN))
            inet_ntop(family, raw, &buffer, socklen_t(buffer.count))
            return String(decoding: buffer.prefix { $0 != 0 }.map { UInt8(bitPattern: $0) }, as: UTF8.self)
        }
        let kind: Kind
        switch type {
        case Int32(SOCK_STREAM.rawValue): kind = .tcp
        case Int32(SOCK_DGRAM.rawValue): kind = .udp
        default: return nil
        }
        switch Int32(storage.ss_family) {
        case AF_INET:
            let (host, port) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in.self, capacity: 1) { address in
                    var raw = address.pointee.sin_addr
                    return (text(AF_INET, &raw), UInt16(bigEndian: address.pointee.sin_port))
                }
            }
            self.init(host: host, port: port, kind: kind)
        case AF_INET6:
            let (host, port) = withUnsafePointer(to: &storage) {
                $0.withMemoryRebound(to: sockaddr_in6.self, capacity: 1) { address in
                    var raw = address.pointee.sin6_addr
                    return (text(AF_INET6, &raw), UInt16(bigEndian: address.pointee.sin6_port))
                }
            }
            self.init(host: host, port: port, kind: kind)
        case AF_UNIX where kind == .tcp:
            let offset = MemoryLayout<sockaddr_un>.offset(of: \.sun_path)!
            guard Int(length) > offset else { return nil }
            let bytes = withUnsafeBytes(of: &storage) { Array($0[offset..<Int(length)]) }
            // An abstract socket's name starts with NUL; a path ends at the first NUL (or at the length).
            guard let first = bytes.first, first == UInt8(ascii: "/") else { return nil }
            self.init(unixPath: String(decoding: bytes.prefix { $0 != 0 }, as: UTF8.self))
        default:
            return nil
        }
    }
}
