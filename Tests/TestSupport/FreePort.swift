#if canImport(Glibc)
import Glibc
#endif

/// A TCP port on 127.0.0.1 that was free a moment ago: bind port 0, read the port the kernel chose, close.
package func freePort() throws -> Int {
    let socket = try TCPListeningSocket(port: 0)
    return socket.port
}

/// A listening TCP socket on 127.0.0.1 owned by the test (closed on deinit), e.g. to pass to a child as LISTEN_FDS.
package final class TCPListeningSocket {
    package let descriptor: CInt
    package let port: Int

    package init(port: Int, reusePort: Bool = false) throws {
        let descriptor = try posixCall("socket") {
            socket(AF_INET, CInt(SOCK_STREAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        }
        do {
            var one: CInt = 1
            try posixCall("setsockopt(SO_REUSEADDR)") {
                setsockopt(descriptor, SOL_SOCKET, SO_REUSEADDR, &one, socklen_t(MemoryLayout<CInt>.size))
            }
            if reusePort {
                try posixCall("setsockopt(SO_REUSEPORT)") {
                    setsockopt(descriptor, SOL_SOCKET, SO_REUSEPORT, &one, socklen_t(MemoryLayout<CInt>.size))
                }
            }
            var address = sockaddr_in.loopback(port: port)
            _ = try withUnsafePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    try posixCall("bind") { bind(descriptor, generic, socklen_t(MemoryLayout<sockaddr_in>.size)) }
                }
            }
            try posixCall("listen") { listen(descriptor, 128) }
            var bound = sockaddr_in()
            var length = socklen_t(MemoryLayout<sockaddr_in>.size)
            _ = try withUnsafeMutablePointer(to: &bound) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    try posixCall("getsockname") { getsockname(descriptor, generic, &length) }
                }
            }
            self.descriptor = descriptor
            self.port = Int(UInt16(bigEndian: bound.sin_port))
        } catch {
            close(descriptor)
            throw error
        }
    }

    deinit {
        close(descriptor)
    }
}

extension sockaddr_in {
    /// 127.0.0.1:port.
    package static func loopback(port: Int) -> sockaddr_in {
        var address = sockaddr_in()
        address.sin_family = sa_family_t(AF_INET)
        address.sin_port = UInt16(port).bigEndian
        address.sin_addr.s_addr = UInt32(0x7f00_0001).bigEndian
        return address
    }
}
