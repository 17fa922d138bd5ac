public import NIOCore
internal import SystemdSupport

/// A host and port to listen on, written `ADDR:PORT` as in `SUPERVISOR_LISTEN`: `127.0.0.1:8080`, `0.0.0.0:80`,
/// `localhost:8080`, and IPv6 in brackets, `[::1]:8080`; a UDP one is written `udp:127.0.0.1:5353`.
///
/// The host is kept as written; it is resolved when the socket is bound, so a name that does not resolve fails then.
public struct ListenAddress: Sendable, Hashable, CustomStringConvertible {
    /// The transport protocol.
    public enum Transport: Sendable, Hashable {
        case tcp
        case udp
    }

    /// The host name or IP address, without brackets.
    public var host: String
    /// The port, `0...65535`; `0` lets the kernel choose a free port.
    public var port: Int
    /// TCP, or UDP (`udp:` in the text).
    public var transport: Transport

    /// An address from its parts. The values are not checked here; binding fails on a bad host or port.
    public init(host: String, port: Int, transport: Transport = .tcp) {
        self.host = host
        self.port = port
        self.transport = transport
    }

    /// Parses `ADDR:PORT` or `[IPV6]:PORT`, each optionally after `tcp:` or `udp:`.
    ///
    /// - Throws: ``ListenAddressError`` when the text has no port, the port is not a number in `0...65535`, the host
    ///   is empty, or an IPv6 address is not in brackets; and for `unix:`, a socket the supervisor binds and passes in
    ///   `LISTEN_FDS`.
    public init(parsing input: some StringProtocol) throws(ListenAddressError) {
        var text = String(input)
        if text.hasPrefix("unix:") {
            throw ListenAddressError(
                text: text,
                reason: "a Unix socket is bound by the supervisor (listen-mode shared) and passed in LISTEN_FDS, "
                    + "which this process did not get")
        }
        var transport = Transport.tcp
        if text.hasPrefix("udp:") {
            transport = .udp
            text.removeFirst(4)
        } else if text.hasPrefix("tcp:") {
            text.removeFirst(4)
        }
        let host: Substring
        let portText: Substring
        if text.hasPrefix("[") {
            guard let close = text.firstIndex(of: "]") else {
                throw ListenAddressError(text: text, reason: "the IPv6 address has no closing bracket")
            }
            host = text[text.index(after: text.startIndex)..<close]
            let rest = text[text.index(after: close)...]
            guard rest.first == ":" else {
                throw ListenAddressError(text: text, reason: "expected ':PORT' after the bracketed address")
            }
            portText = rest.dropFirst()
        } else {
            guard let colon = text.lastIndex(of: ":") else {
                throw ListenAddressError(text: text, reason: "expected ADDR:PORT, e.g. 127.0.0.1:8080 or [::1]:8080")
            }
            host = text[..<colon]
            if host.contains(":") {
                throw ListenAddressError(text: text, reason: "write an IPv6 address in brackets, e.g. [::1]:8080")
            }
            portText = text[text.index(after: colon)...]
        }
        guard !host.isEmpty else {
            throw ListenAddressError(text: text, reason: "the address is empty (use 0.0.0.0 or [::] for all)")
        }
        guard let port = Int(portText), (0...65535).contains(port) else {
            throw ListenAddressError(text: text, reason: "the port '\(portText)' is not a number in 0...65535")
        }
        self.init(host: String(host), port: port, transport: transport)
    }

    /// The address a socket is bound to, or `nil` for a UNIX domain socket (it has no host and port).
    public init?(_ address: SocketAddress) {
        guard let host = address.ipAddress, let port = address.port else { return nil }
        self.init(host: host, port: port)
    }

    /// Parses a list as `SUPERVISOR_LISTEN` writes it: `ADDR:PORT` entries, comma-separated; blanks around entries and
    /// empty entries are ignored.
    ///
    /// - Throws: ``ListenAddressError`` for the first entry that does not parse.
    public static func parseList(_ text: some StringProtocol) throws(ListenAddressError) -> [ListenAddress] {
        var addresses: [ListenAddress] = []
        for entry in ServiceEnvironment.listenAddresses(in: text) {
            addresses.append(try ListenAddress(parsing: entry))
        }
        return addresses
    }

    /// The addresses in `SUPERVISOR_LISTEN` (``ServiceEnvironment/listen``), in order; empty when it is unset.
    ///
    /// - Throws: ``ListenAddressError`` when an entry does not parse.
    public static func fromSupervisorEnvironment() throws(ListenAddressError) -> [ListenAddress] {
        guard let value = ServiceEnvironment.value(of: ServiceEnvironment.listen) else { return [] }
        return try parseList(value)
    }

    /// `host:port`, with IPv6 hosts in brackets, after `udp:` for UDP: the form ``init(parsing:)`` reads.
    public var description: String {
        (transport == .udp ? "udp:" : "") + ServiceEnvironment.address(host: host, port: port)
    }
}

/// A listen address that does not parse, with the text and what is wrong with it.
public struct ListenAddressError: Error, Hashable, CustomStringConvertible {
    /// The text as given.
    public let text: String
    /// What is wrong, in words a person can act on.
    public let reason: String

    /// `invalid listen address '…': reason`.
    public var description: String { "invalid listen address '\(text)': \(reason)" }
}
