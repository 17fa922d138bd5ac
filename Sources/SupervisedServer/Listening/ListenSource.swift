/// Where a listening socket comes from: bound by this process, or inherited from its parent.
public enum ListenSource: Sendable, Hashable, CustomStringConvertible {
    /// Bind a new socket to the address with `SO_REUSEADDR` and `SO_REUSEPORT`, so that several processes share the
    /// port and the kernel balances new connections among them (the supervisor's `app` listen mode).
    case address(ListenAddress)
    /// Adopt a socket that is already bound and listening (the supervisor's `reuseport` and `shared` modes, systemd
    /// socket activation). Closing it on drain closes only this process's descriptor.
    ///
    /// When several processes accept on one socket, a debug build of swift-nio 2.101 can trap (an assertion in
    /// `BaseSocketChannel.readable0` expects a readable listener to have a connection, but another process took
    /// it). Release builds are not affected: build instances that share sockets in release mode.
    case inherited(InheritedSocket)

    /// What the environment asks for: the sockets of `LISTEN_FDS` when it is meant for this process, otherwise the
    /// addresses of `SUPERVISOR_LISTEN`; empty when neither is set.
    ///
    /// - Throws: ``InheritedSocketError`` or ``ListenAddressError`` when the variable in use is malformed.
    public static func fromEnvironment() throws -> [ListenSource] {
        let inherited = try InheritedSocket.fromEnvironment()
        if !inherited.isEmpty {
            return inherited.map(ListenSource.inherited)
        }
        return try ListenAddress.fromSupervisorEnvironment().map(ListenSource.address)
    }

    /// `127.0.0.1:8080` or `inherited fd 3 (web)`.
    public var description: String {
        switch self {
        case .address(let address): "\(address)"
        case .inherited(let socket): "inherited \(socket)"
        }
    }
}
