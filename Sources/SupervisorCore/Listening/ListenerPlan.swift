/// One listening socket the supervisor holds in the `reuseport` and `shared` listen modes.
package enum ListenerKey: Hashable, Codable, Sendable {
    /// The one socket of an address that every instance gets (`shared`).
    case shared(ListenAddress)
    /// The socket of an address that belongs to one slot and is handed from each instance to its replacement
    /// (`reuseport`).
    case slot(Slot, ListenAddress)
}

/// Which sockets an instance gets and which ones the supervisor must keep: pure rules, no sockets.
package enum ListenerPlan {
    /// The sockets an instance of `configuration` in `slot` receives, in `LISTEN_FDS` order (the order of the
    /// `listen` addresses); empty in `app` mode.
    package static func keys(for configuration: Configuration, slot: Slot) -> [ListenerKey] {
        switch configuration.listenMode {
        case .app: []
        case .reuseport: configuration.listen.map { .slot(slot, $0.unnamed) }
        case .shared: configuration.listen.map { .shared($0.unnamed) }
        }
    }

    /// The sockets still needed: those of every slot of the target configuration, and those of every instance that
    /// still accepts (`running`). A socket needed by neither can close: an instance that is draining holds its own
    /// descriptor and closes it when it stops accepting, which is when the socket really goes away.
    package static func needed(target: Configuration?, running: [(Slot, Configuration)]) -> Set<ListenerKey> {
        var keys = Set<ListenerKey>()
        if let target {
            for index in 0..<target.instances { keys.formUnion(Self.keys(for: target, slot: Slot(index))) }
        }
        for (slot, configuration) in running { keys.formUnion(Self.keys(for: configuration, slot: slot)) }
        return keys
    }
}

/// The names of the supervisor's listening sockets in systemd's file descriptor store (`FDSTORE=1` with `FDNAME=`),
/// which a supervisor restarted after a crash receives in `LISTEN_FDNAMES` and takes back.
extension ListenerKey {
    /// `supervisor-shared-127.0.0.1_8080`, `supervisor-slot1-[__1]_8080`: printable ASCII without `:`, as `FDNAME=`
    /// requires (each `:` of the address becomes `_`). The address is there for people reading the store
    /// (`systemd-analyze fdstore`, systemd 254 and later); ``init(storeName:address:)`` trusts the socket's bound
    /// address, not the name.
    package var storeName: String {
        switch self {
        case .shared(let address): "\(Self.storePrefix)shared-\(Self.nameText(address))"
        case .slot(let slot, let address): "\(Self.storePrefix)slot\(slot.index)-\(Self.nameText(address))"
        }
    }

    /// The key a stored socket bound to `address` stands for, by what its name says (shared, or which slot); `nil`
    /// for a name that is not one of ``storeName``'s.
    package init?(storeName: String, address: ListenAddress) {
        guard storeName.hasPrefix(Self.storePrefix) else { return nil }
        let rest = storeName.dropFirst(Self.storePrefix.count)
        if rest.hasPrefix("shared-") {
            self = .shared(address.unnamed)
            return
        }
        guard rest.hasPrefix("slot"), let dash = rest.firstIndex(of: "-"),
            let index = Int(rest[rest.index(rest.startIndex, offsetBy: 4)..<dash]), index >= 0
        else { return nil }
        self = .slot(Slot(index), address.unnamed)
    }

    private static let storePrefix = "supervisor-"

    private static func nameText(_ address: ListenAddress) -> String {
        address.unnamed.description.map { $0 == ":" ? "_" : String($0) }.joined()
    }
}
