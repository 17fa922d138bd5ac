#if canImport(Glibc)
import Glibc
#endif

/// A path-bound AF_UNIX datagram socket to hand to a child as `NOTIFY_SOCKET`, receiving its sd_notify messages.
package final class NotifyReceiver {
    package let path: String
    private let descriptor: CInt

    package init() throws {
        let path = "/tmp/demo-server-test-notify-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        let descriptor = try posixCall("socket(AF_UNIX)") {
            socket(AF_UNIX, CInt(SOCK_DGRAM.rawValue) | CInt(SOCK_CLOEXEC.rawValue), 0)
        }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        do {
            _ = try withUnsafePointer(to: &address) { pointer in
                try pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) { generic in
                    try posixCall("bind(\(path))") {
                        bind(descriptor, generic, socklen_t(MemoryLayout<sockaddr_un>.size))
                    }
                }
            }
        } catch {
            close(descriptor)
            throw error
        }
        self.path = path
        self.descriptor = descriptor
    }

    deinit {
        close(descriptor)
        unlink(path)
    }

    /// The next datagram's text, or `nil` when none arrives within `timeout`.
    package func receive(timeout: Duration) -> String? {
        var poller = pollfd(fd: descriptor, events: Int16(POLLIN), revents: 0)
        guard (try? posixCall("poll") { poll(&poller, 1, millisecondsLeft(until: .now + timeout)) }) ?? 0 > 0 else {
            return nil
        }
        var bytes = [UInt8](repeating: 0, count: 4096)
        let count = bytes.withUnsafeMutableBytes { raw in recv(descriptor, raw.baseAddress, raw.count, 0) }
        guard count >= 0 else { return nil }
        return String(decoding: bytes[0..<count], as: UTF8.self)
    }

    /// Receives until a message contains `key` (e.g. `READY=1`); returns that message, or `nil` after `timeout`.
    package func receive(containing key: String, timeout: Duration) -> String? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            guard let message = receive(timeout: deadline - .now) else { return nil }
            if message.split(separator: "\n").contains(where: { $0 == key }) { return message }
        }
        return nil
    }
}
