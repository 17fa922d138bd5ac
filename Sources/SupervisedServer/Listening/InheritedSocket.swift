internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// A listening socket passed down by the parent process with the `sd_listen_fds` protocol: systemd socket
/// activation, or the supervisor in its `reuseport` and `shared` listen modes.
///
/// The parent puts the sockets at descriptors 3, 4, … and sets `LISTEN_FDS` (how many), `LISTEN_PID` (the pid they
/// are meant for) and optionally `LISTEN_FDNAMES` (colon-separated names).
public struct InheritedSocket: Sendable, Hashable, CustomStringConvertible {
    /// The first descriptor of the protocol, `SD_LISTEN_FDS_START`.
    public static let firstDescriptor: CInt = 3

    /// The file descriptor, `3` or higher.
    public let descriptor: CInt
    /// Its name from `LISTEN_FDNAMES`, or `nil` when none was given (systemd then says `unknown`).
    public let name: String?

    /// A socket at `descriptor`, e.g. one a test or another protocol handed over. For ``ListenSource/inherited(_:)``
    /// it must be a stream socket (TCP or Unix) in listening state; adopting it fails otherwise. A datagram socket
    /// (``isDatagram``, UDP) is for a datagram server, such as NIO's `DatagramBootstrap.withBoundSocket(_:)`.
    public init(descriptor: CInt, name: String? = nil) {
        self.descriptor = descriptor
        self.name = name
    }

    /// The sockets that `LISTEN_FDS` passes to this process, in descriptor order, read with libsystemd's
    /// `sd_listen_fds_with_names` (``SocketActivation``).
    ///
    /// Returns an empty array when `LISTEN_FDS` or `LISTEN_PID` is unset, or when `LISTEN_PID` is not this process
    /// (the variables were meant for an ancestor and leaked through). Each returned descriptor is made close-on-exec,
    /// so it does not leak into programs this process starts. The variables are not unset: `unsetenv` is not
    /// thread-safe.
    ///
    /// - Throws: ``InheritedSocketError`` when a variable is malformed, `LISTEN_FDNAMES` has a different number of
    ///   names than `LISTEN_FDS`, or a descriptor is neither a listening stream socket (TCP, Unix) nor a datagram
    ///   socket (UDP).
    public static func fromEnvironment() throws(InheritedSocketError) -> [InheritedSocket] {
        let activated: [ActivatedSocket]
        do { activated = try SocketActivation.receive() } catch {
            throw InheritedSocketError("the sockets passed in LISTEN_FDS cannot be used: \(error)")
        }
        let named = ServiceEnvironment.value(of: ServiceEnvironment.listenFDNames) != nil
        var sockets: [InheritedSocket] = []
        for passed in activated {
            let socket = InheritedSocket(descriptor: passed.fd, name: named ? passed.name : nil)
            if !socket.isDatagram { try socket.checkListening() }
            sockets.append(socket)
        }
        return sockets
    }

    /// Whether it is a datagram socket (`SOCK_DGRAM`: UDP), to serve with a datagram server rather than accept on.
    public var isDatagram: Bool {
        var type: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        return getsockopt(descriptor, SOL_SOCKET, SO_TYPE, &type, &length) == 0 && type == CInt(SOCK_DGRAM.rawValue)
    }

    /// `fd 3 (name)`.
    public var description: String {
        name.map { "fd \(descriptor) (\($0))" } ?? "fd \(descriptor)"
    }

    /// Checks that the descriptor is a socket in listening state.
    private func checkListening() throws(InheritedSocketError) {
        var listening: CInt = 0
        var length = socklen_t(MemoryLayout<CInt>.size)
        do {
            try systemCall("getsockopt", subject: "\(self) SO_ACCEPTCONN") {
                getsockopt(descriptor, SOL_SOCKET, SO_ACCEPTCONN, &listening, &length)
            }
        } catch {
            throw InheritedSocketError("\(self) from LISTEN_FDS is not a usable listening socket: \(error)")
        }
        guard listening != 0 else {
            throw InheritedSocketError("\(self) from LISTEN_FDS is a socket but not in listening state")
        }
    }
}

/// Inherited sockets that cannot be used, with what is wrong in words a person can act on.
public struct InheritedSocketError: Error, Hashable, CustomStringConvertible {
    /// What is wrong.
    public let description: String

    init(_ description: String) {
        self.description = description
    }
}
