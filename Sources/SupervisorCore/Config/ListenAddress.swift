internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// An address and port to serve on, optionally named: `127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:80` (every IPv4
/// address), `[::]:80` (every address), `http=127.0.0.1:8080`.
///
/// The name is what `LISTEN_FDNAMES` calls the socket in the supervisor-bound listen modes, and what matches a socket
/// that systemd passes (`FileDescriptorName=`); ``Configuration`` names unnamed addresses `listen0`, `listen1`, ….
package struct ListenAddress: Hashable, Codable, Sendable, CustomStringConvertible {
    /// The IP address, without brackets.
    package let host: String
    package let port: UInt16
    /// The socket's name, if one was given.
    package let name: String?

    package init(host: String, port: UInt16, name: String? = nil) {
        self.host = host
        self.port = port
        self.name = name
    }

    /// Parses `[NAME=]ADDR:PORT`.
    ///
    /// - Throws: ``ConfigurationError`` naming the text and the expected form.
    package init(parsing input: String) throws(ConfigurationError) {
        let example =
            "use [NAME=]ADDRESS:PORT with an IP address, e.g. 127.0.0.1:8080, [::1]:8080, 0.0.0.0:80 or [::]:80"
        var text = input
        var name: String?
        if let equals = text.firstIndex(of: "=") {
            let given = String(text[..<equals])
            guard !given.isEmpty, given.count <= 255,
                given.allSatisfy({ $0.isASCII && ($0.isLetter || $0.isNumber || "-_.".contains($0)) })
            else {
                throw ConfigurationError(
                    "listen address '\(input)': the name '\(given)' may hold only letters, digits, '-', '_' and '.'")
            }
            name = given
            text = String(text[text.index(after: equals)...])
        }
        guard let colon = text.lastIndex(of: ":") else {
            throw ConfigurationError("listen address '\(text)' has no port; \(example)")
        }
        var host = String(text[..<colon])
        let portText = text[text.index(after: colon)...]
        guard let port = UInt16(portText), port > 0 else {
            throw ConfigurationError("listen address '\(text)' has an invalid port '\(portText)'; \(example)")
        }
        if host.hasPrefix("[") && host.hasSuffix("]") {
            host = String(host.dropFirst().dropLast())
            guard Self.isIPv6(host) else {
                throw ConfigurationError("listen address '\(text)': '\(host)' is not an IPv6 address; \(example)")
            }
        } else if host == "*" || host.isEmpty {
            throw ConfigurationError(
                "listen address '\(text)' has no address; use 0.0.0.0:\(port) (IPv4) or [::]:\(port) (IPv4 and IPv6)")
        } else if host.contains(":") {
            throw ConfigurationError("listen address '\(text)': put an IPv6 address in brackets, e.g. [::1]:8080")
        } else if !Self.isIPv4(host) {
            throw ConfigurationError(
                "listen address '\(text)': '\(host)' is not an IP address (host names are not resolved); \(example)")
        }
        self.host = host
        self.port = port
        self.name = name
    }

    /// The same address with another name.
    package func named(_ name: String) -> ListenAddress { ListenAddress(host: host, port: port, name: name) }

    /// The same address without its name, to compare addresses.
    package var unnamed: ListenAddress { ListenAddress(host: host, port: port) }

    /// Listens on every address.
    package var isWildcard: Bool { host == "0.0.0.0" || host == "::" }

    package var isIPv6: Bool { host.contains(":") }

    /// `127.0.0.1:8080`, `[::1]:8080`; without the name.
    package var description: String { ServiceEnvironment.address(host: host, port: Int(port)) }

    /// The address as `/proc/net/tcp{,6}` prints it (hex of the in-memory bytes, 32-bit words in host order).
    var procHexAddress: String? {
        var bytes: [UInt8]
        if isIPv6 {
            var address = in6_addr()
            guard inet_pton(AF_INET6, host, &address) == 1 else { return nil }
            bytes = withUnsafeBytes(of: &address) { Array($0) }
        } else {
            var address = in_addr()
            guard inet_pton(AF_INET, host, &address) == 1 else { return nil }
            bytes = withUnsafeBytes(of: &address) { Array($0) }
        }
        var text = ""
        for word in stride(from: 0, to: bytes.count, by: 4) {
            for byte in bytes[word..<word + 4].reversed() {
                text +=
                    byte < 16
                    ? "0" + String(byte, radix: 16, uppercase: true) : String(byte, radix: 16, uppercase: true)
            }
        }
        return text
    }

    /// Whether a listening socket from `/proc/net` would take connections meant for this address.
    package func overlaps(_ socket: ListeningSocket) -> Bool {
        guard socket.port == port else { return false }
        if isWildcard || socket.isWildcard { return true }
        return socket.hexAddress == procHexAddress
    }

    private static func isIPv4(_ text: String) -> Bool {
        var address = in_addr()
        return inet_pton(AF_INET, text, &address) == 1
    }

    private static func isIPv6(_ text: String) -> Bool {
        var address = in6_addr()
        return inet_pton(AF_INET6, text, &address) == 1
    }
}
