internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// The listening sockets the supervisor owns in the `reuseport` and `shared` modes, bound on first need and closed
/// when ``ListenerPlan/needed(target:running:)`` no longer lists them.
///
/// Sockets received from systemd socket activation stand in for the `shared` socket of the same address. Under
/// systemd, each socket bound is also kept in systemd's file descriptor store and dropped from it when closed, so a
/// supervisor restarted after a crash takes the same sockets back (``adoptStored(_:for:)``).
///
/// The path of a Unix socket the supervisor bound (not one systemd passed) is its own: it is checked at each reload
/// (``unixPathProblems()``) and removed when the socket closes, while it still names it.
final class ListenerRegistry {
    private var sockets: [ListenerKey: Int32] = [:]
    private var activated: [ListenAddress: Int32] = [:]
    /// The socket files of the Unix sockets bound here, by key.
    private var socketFiles: [ListenerKey: UnixListener.FileIdentity] = [:]

    /// The receive buffer the last UDP socket bound got, when it is less than the configuration asked for.
    private var shortReceiveBuffer: (asked: Int32, got: Int32)?

    /// systemd's file descriptor store (``ListenerKey/storeName``), under systemd; `nil` otherwise.
    var fileDescriptorStore: SystemdNotifier?

    deinit {
        for fd in sockets.values { close(fd) }
        for fd in activated.values { close(fd) }
    }

    /// The sockets held for instances, for an in-place upgrade to hand over.
    var held: [(key: ListenerKey, fd: Int32)] { sockets.map { ($0.key, $0.value) } }

    /// The sockets systemd passed that no instance took yet.
    var activatedSockets: [(address: ListenAddress, fd: Int32)] { activated.map { ($0.key, $0.value) } }

    /// Holds the sockets an in-place upgrade handed over. A Unix socket's file is taken to be the one its path names
    /// now, as nothing of the supervisor removed it meanwhile.
    func restore(_ held: [(ListenerKey, Int32)], activated: [(ListenAddress, Int32)], ownFiles: Set<ListenerKey>) {
        for (key, fd) in held {
            sockets[key] = fd
            if ownFiles.contains(key), let path = key.unixPath,
                let identity = UnixListener.FileIdentity.ofSocket(at: path)
            {
                socketFiles[key] = identity
            }
        }
        for (address, fd) in activated { self.activated[address] = fd }
    }

    /// The held sockets whose Unix socket file is the supervisor's own, for an in-place upgrade to hand over.
    var ownFiles: Set<ListenerKey> { Set(socketFiles.keys) }

    /// How many sockets are held now.
    var count: Int { sockets.count + activated.count }

    /// Adopts a socket passed by systemd for `address`.
    func adopt(_ fd: Int32, for address: ListenAddress) {
        activated[address.unnamed] = fd
    }

    /// Adopts a socket of an earlier supervisor that systemd's file descriptor store passed back, as `key`; a Unix
    /// socket's file is the one its path names now.
    func adoptStored(_ fd: Int32, for key: ListenerKey) {
        if let earlier = sockets.updateValue(fd, forKey: key) { close(earlier) }
        if let path = key.unixPath { socketFiles[key] = UnixListener.FileIdentity.ofSocket(at: path) }
    }

    /// Binds every socket `configuration` needs for its slots, so that a bind error fails the start or the reload
    /// before any instance runs.
    ///
    /// - Throws: ``SystemFailure`` (``SystemFailure/Code/listen``) naming the address and the reason.
    func prepare(_ configuration: Configuration) throws(SystemFailure) {
        for index in 0..<configuration.instances {
            _ = try descriptors(for: configuration, slot: Slot(index))
        }
    }

    /// The descriptors an instance of `configuration` in `slot` receives, binding what is missing.
    ///
    /// - Throws: ``SystemFailure`` (``SystemFailure/Code/listen``) naming the address and the reason.
    func descriptors(for configuration: Configuration, slot: Slot) throws(SystemFailure) -> [Int32] {
        var result: [Int32] = []
        for (key, address) in zip(ListenerPlan.keys(for: configuration, slot: slot), configuration.listen) {
            if let fd = sockets[key] {
                result.append(fd)
                continue
            }
            let fd: Int32
            if case .shared(let unnamed) = key, let adopted = activated.removeValue(forKey: unnamed) {
                fd = adopted
            } else if address.kind == .unix {
                let bound = try UnixListener.bind(
                    address, backlog: configuration.backlog, permissions: configuration.socketPermissions)
                fd = bound.fd
                socketFiles[key] = bound.identity
                fileDescriptorStore?.store(fd, name: key.storeName)
            } else {
                do {
                    fd = try IPListener.bind(address, backlog: configuration.backlog)
                } catch {
                    throw SystemFailure(.listen, "cannot listen: \(error.description)", cause: error)
                }
                if address.kind == .udp {
                    let got = IPListener.setReceiveBuffer(fd, bytes: configuration.receiveBuffer)
                    if got < configuration.receiveBuffer { shortReceiveBuffer = (configuration.receiveBuffer, got) }
                }
                fileDescriptorStore?.store(fd, name: key.storeName)
            }
            sockets[key] = fd
            result.append(fd)
        }
        return result
    }

    /// A warning, once, when a UDP socket got a smaller receive buffer than `receive-buffer` asks for; `nil` otherwise.
    func takeReceiveBufferWarning() -> String? {
        guard let (asked, got) = shortReceiveBuffer else { return nil }
        shortReceiveBuffer = nil
        return "the UDP sockets' receive buffer is \(got) bytes, not the \(asked) receive-buffer asks for: "
            + "net.core.rmem_max caps it for a supervisor without CAP_NET_ADMIN, and datagrams that arrive while no "
            + "instance reads are dropped once it is full. Raise the cap ('net.core.rmem_max = \(asked)' in "
            + "/etc/sysctl.d/) or lower receive-buffer"
    }

    /// Closes every socket not in `needed`, removing the path of a Unix socket bound here while it names it.
    func release(keeping needed: Set<ListenerKey>) {
        for (key, fd) in sockets where !needed.contains(key) {
            fileDescriptorStore?.removeStored(name: key.storeName)
            if let path = key.unixPath, let identity = socketFiles.removeValue(forKey: key) {
                UnixListener.remove(path, ifNaming: identity)
            }
            close(fd)
            sockets[key] = nil
        }
    }

    /// Removes the paths of the Unix sockets bound here that still name them, at stop; the sockets stay open for
    /// instances still draining. (Those systemd passed are systemd's to remove.)
    func removeSocketFiles() {
        for (key, identity) in socketFiles {
            if let path = key.unixPath { UnixListener.remove(path, ifNaming: identity) }
        }
        socketFiles = [:]
    }

    /// What became of the paths of the Unix sockets bound here, for each that no longer names its socket: `unix:PATH`
    /// and what happened (`it was removed`).
    func unixPathProblems() -> [(address: String, problem: String)] {
        socketFiles.compactMap { key, identity in
            guard let path = key.unixPath, let problem = UnixListener.replacement(at: path, of: identity) else {
                return nil
            }
            return ("unix:\(path)", problem)
        }.sorted { $0.address < $1.address }
    }
}
