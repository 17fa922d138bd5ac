internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// Where the instances serve, optionally named: a TCP address and port (`127.0.0.1:8080`, `[::1]:8080`, `0.0.0.0:80`
/// for every IPv4 address, `[::]:80` for every address), a UDP one (`udp:127.0.0.1:5353`, `udp:[::1]:5353`), or a
/// Unix stream socket's path (`unix:/run/app/app.sock`); `http=127.0.0.1:8080` names it.
///
/// The name is what `LISTEN_FDNAMES` calls the socket in the supervisor-bound listen modes, and what matches a socket
/// that systemd passes (`FileDescriptorName=`); ``Configuration`` names unnamed addresses `listen0`, `listen1`, ….
package struct ListenAddress: Hashable, Codable, Sendable, CustomStringConvertible {
    /// What kind of socket serves the address.
    package enum Kind: String, Codable, Sendable {
        /// A TCP listening socket (IPv4 or IPv6).
        case tcp
        /// A UDP socket (IPv4 or IPv6).
        case udp
        /// A Unix stream socket bound to a path in the file system.
        case unix
    }

    package let kind: Kind
    /// The IP address, without brackets; empty for a Unix socket.
    package let host: String
    /// The port; 0 for a Unix socket.
    package let port: UInt16
    /// The socket's path for a Unix socket; empty otherwise.
    package let path: String
    /// The socket's name, if one was given.
    package let name: String?

    /// The longest path a Unix socket can be bound to: `sun_path` holds 108 bytes, the last of them the final NUL.
    package static let maximumPathLength = 107

    /// A TCP or UDP address.
    package init(host: String, port: UInt16, name: String? = nil, kind: Kind = .tcp) {
        precondition(kind != .unix, "a Unix socket has a path: use init(unixPath:name:)")
        self.kind = kind
        self.host = host
        self.port = port
        self.path = ""
        self.name = name
    }

    /// A Unix socket's path.
    package init(unixPath path: String, name: String? = nil) {
        kind = .unix
        host = ""
        port = 0
        self.path = path
        self.name = name
    }

    private enum CodingKeys: String, CodingKey { case kind, host, port, path, name }

    /// Reads what ``encode(to:)`` writes; a handover state of an earlier release has no kind (TCP) and no path.
    package init(from decoder: any Decoder) throws {
        let container = try decoder.container(keyedBy: CodingKeys.self)
        kind = try container.decodeIfPresent(Kind.self, forKey: .kind) ?? .tcp
        host = try container.decode(String.self, forKey: .host)
        port = try container.decode(UInt16.self, forKey: .port)
        path = try container.decodeIfPresent(String.self, forKey: .path) ?? ""
        name = try container.decodeIfPresent(String.self, forKey: .name)
    }

    /// Parses `[NAME=]ADDR:PORT`, `[NAME=]udp:ADDR:PORT` or `[NAME=]unix:PATH` (`tcp:ADDR:PORT` is the same as
    /// `ADDR:PORT`).
    ///
    /// - Throws: ``ConfigurationError`` naming the text and the expected form.
    package init(parsing input: String) throws(ConfigurationError) {
        let example =
            "use [NAME=]ADDRESS:PORT with an IP address (e.g. 127.0.0.1:8080, [::1]:8080, 0.0.0.0:80 or [::]:80), "
            + "udp:ADDRESS:PORT or unix:/PATH"
        var text = input
        var name: String?
        // A name has no ':', so the '=' of `unix:/run/a=b.sock` is not taken for one.
        if let equals = text.firstIndex(of: "="), !text[..<equals].contains(":") {
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
        if text.hasPrefix("unix:") {
            self.init(unixPath: try Self.checkedPath(String(text.dropFirst(5)), in: text), name: name)
            return
        }
        var kind = Kind.tcp
        if text.hasPrefix("udp:") {
            kind = .udp
            text.removeFirst(4)
        } else if text.hasPrefix("tcp:") {
            text.removeFirst(4)
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
        self.init(host: host, port: port, name: name, kind: kind)
    }

    /// A Unix socket's path as given, checked: absolute, no NUL, short enough for `sun_path`.
    private static func checkedPath(_ path: String, in text: String) throws(ConfigurationError) -> String {
        guard path.hasPrefix("/") else {
            let hint =
                path.hasPrefix("@")
                ? "abstract sockets are not supported; give a path in the file system, e.g. unix:/run/app/app.sock"
                : "give an absolute path, e.g. unix:/run/app/app.sock"
            throw ConfigurationError("listen address '\(text)': \(hint)")
        }
        guard !path.hasSuffix("/"), !path.utf8.contains(0) else {
            throw ConfigurationError(
                "listen address '\(text)': the path must name a file, e.g. unix:/run/app/app.sock")
        }
        guard !path.contains(",") else {
            throw ConfigurationError(
                "listen address '\(text)': the path has a ',', which separates the addresses of SUPERVISOR_LISTEN; "
                    + "choose a path without one")
        }
        guard path.utf8.count <= maximumPathLength else {
            throw ConfigurationError(
                "listen address '\(text)': the path is \(path.utf8.count) bytes long, and a Unix socket's path can "
                    + "have at most \(maximumPathLength) (sun_path holds 108 bytes with the final NUL); choose a "
                    + "shorter path, e.g. under /run")
        }
        return path
    }

    /// The same address with another name.
    package func named(_ name: String) -> ListenAddress {
        kind == .unix
            ? ListenAddress(unixPath: path, name: name) : ListenAddress(host: host, port: port, name: name, kind: kind)
    }

    /// The same address without its name, to compare addresses.
    package var unnamed: ListenAddress {
        kind == .unix ? ListenAddress(unixPath: path) : ListenAddress(host: host, port: port, kind: kind)
    }

    /// The port of a TCP address; `nil` for UDP and Unix sockets.
    package var tcpPort: UInt16? { kind == .tcp ? port : nil }

    /// Listens on every address.
    package var isWildcard: Bool { host == "0.0.0.0" || host == "::" }

    package var isIPv6: Bool { host.contains(":") }

    /// `127.0.0.1:8080`, `[::1]:8080`, `udp:127.0.0.1:5353`, `unix:/run/app/app.sock`; without the name. The form
    /// ``init(parsing:)`` reads and `SUPERVISOR_LISTEN` carries.
    package var description: String {
        switch kind {
        case .tcp: ServiceEnvironment.address(host: host, port: Int(port))
        case .udp: "udp:" + ServiceEnvironment.address(host: host, port: Int(port))
        case .unix: "unix:" + path
        }
    }

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
