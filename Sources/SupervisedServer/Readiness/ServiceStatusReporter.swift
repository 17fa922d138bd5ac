public import NIOCore
public import SystemdSupport

/// Tells the service manager (systemd, or the supervisor playing its part) about the server's life over sd_notify:
/// `READY=1` once listening, `STOPPING=1` when the drain begins, and a `STATUS=` line throughout.
///
/// Every call is a no-op when `NOTIFY_SOCKET` is unset (see ``SystemdSupport/SystemdNotifier``), and a failure to
/// send is ignored: a server keeps serving when its manager is gone. The results say whether a message was sent.
///
/// It sends no `WATCHDOG=1`: when the manager asks for a watchdog (`WATCHDOG_USEC`), start a ``ServiceWatchdog``
/// once ready, `try ServiceWatchdog.startIfEnabled()`.
public struct ServiceStatusReporter: Sendable {
    private let notifier: SystemdNotifier

    /// A reporter that sends through `notifier`.
    public init(notifier: SystemdNotifier = SystemdNotifier()) {
        self.notifier = notifier
    }

    /// Sends `READY=1` with `STATUS=listening on 127.0.0.1:8080, unix:/run/app.sock, udp:127.0.0.1:5353, …`. Call it
    /// once every socket listens, not before: on `READY=1` the supervisor counts this instance as serving and starts
    /// stopping the ones it replaces.
    ///
    /// - Parameters:
    ///   - addresses: The stream sockets' addresses (TCP, Unix).
    ///   - datagram: The datagram sockets' addresses (UDP).
    @discardableResult
    public func reportListening(on addresses: [SocketAddress], datagram: [SocketAddress] = []) -> Bool {
        let names =
            addresses.map { Self.name(of: $0, datagram: false) } + datagram.map { Self.name(of: $0, datagram: true) }
        return notifier.ready(status: "listening on \(names.joined(separator: ", "))")
    }

    /// `127.0.0.1:8080`, `udp:[::1]:5353`, `unix:/run/app.sock`.
    public static func name(of address: SocketAddress, datagram: Bool) -> String {
        if let path = address.pathname { return "unix:\(path)" }
        guard var listen = ListenAddress(address) else { return "\(address)" }
        if datagram { listen.transport = .udp }
        return listen.description
    }

    /// Reports a drain step: `STOPPING=1` with `STATUS=draining: N connections` when it starts, then
    /// `STATUS=draining: N connections` as the number falls, and `STATUS=drained` (or how many connections the
    /// deadline closed) at the end. Pass it as, or call it from, the progress closure of
    /// ``SupervisedHTTPServer/drain(progress:)``.
    @discardableResult
    public func report(_ progress: DrainProgress) -> Bool {
        switch progress {
        case .started:
            notifier.stopping(status: progress.description)
        case .waiting, .finished:
            notifier.status(progress.description)
        }
    }
}
