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
