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
final class ListenerRegistry {
    private var sockets: [ListenerKey: Int32] = [:]
    private var activated: [ListenAddress: Int32] = [:]

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

    /// Holds the sockets an in-place upgrade handed over.
    func restore(_ held: [(ListenerKey, Int32)], activated: [(ListenAddress, Int32)]) {
        for (key, fd) in held { sockets[key] = fd }
        for (address, fd) in activated { self.activated[address] = fd }
    }

    /// How many sockets are held now.
    var count: Int { sockets.count + activated.count }

    /// Adopts a socket passed by systemd for `address`.
    func adopt(_ fd: Int32, for address: ListenAddress) {
        activated[address.unnamed] = fd
    }

    /// Adopts a socket of an earlier supervisor that systemd's file descriptor store passed back, as `key`.
    func adoptStored(_ fd: Int32, for key: ListenerKey) {
        if let earlier = sockets.updateValue(fd, forKey: key) { close(earlier) }
    }

    /// Binds every socket `configuration` needs for its slots, so that a bind error fails the start or the reload
    /// before any instance runs.
    ///
    /// - Throws: ``SystemFailure`` (``SystemFailure/Code/listen``) naming the address and the reason.
    func prepare(_ configuration: Configuration) throws(SystemFailure) {
        for index in 0..<configuration.instances {
            do {
                _ = try descriptors(for: configuration, slot: Slot(index))
            } catch {
                throw SystemFailure(.listen, "cannot listen: \(error.description)", cause: error)
            }
        }
    }

    /// The descriptors an instance of `configuration` in `slot` receives, binding what is missing.
    func descriptors(for configuration: Configuration, slot: Slot) throws(SystemCallError) -> [Int32] {
        var result: [Int32] = []
        for (key, address) in zip(ListenerPlan.keys(for: configuration, slot: slot), configuration.listen) {
            if let fd = sockets[key] {
                result.append(fd)
                continue
            }
            let fd: Int32
            if case .shared(let unnamed) = key, let adopted = activated.removeValue(forKey: unnamed) {
                fd = adopted
            } else {
                fd = try TCPListener.bind(address, backlog: configuration.backlog)
                fileDescriptorStore?.store(fd, name: key.storeName)
            }
            sockets[key] = fd
            result.append(fd)
        }
        return result
    }

    /// Closes every socket not in `needed`.
    func release(keeping needed: Set<ListenerKey>) {
        for (key, fd) in sockets where !needed.contains(key) {
            fileDescriptorStore?.removeStored(name: key.storeName)
            close(fd)
            sockets[key] = nil
        }
    }
}
