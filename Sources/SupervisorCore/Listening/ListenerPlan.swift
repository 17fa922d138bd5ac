/// One listening socket the supervisor holds in the `reuseport` and `shared` listen modes.
package enum ListenerKey: Hashable, Codable, Sendable {
    /// The one socket of an address that every instance gets (`shared`).
    case shared(ListenAddress)
    /// The socket of an address that belongs to one slot and is handed from each instance to its replacement
    /// (`reuseport`).
    case slot(Slot, ListenAddress)
}

extension ListenerKey {
    /// The address the socket serves.
    package var address: ListenAddress {
        switch self {
        case .shared(let address), .slot(_, let address): address
        }
    }

    /// The path of a Unix socket; `nil` for TCP and UDP.
    package var unixPath: String? { address.kind == .unix ? address.path : nil }
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
    /// `supervisor-shared-127.0.0.1_8080`, `supervisor-slot1-[__1]_8080`, `supervisor-slot0-udp_127.0.0.1_53`,
    /// `supervisor-shared-unix-/run/app/app.sock`: printable ASCII without `:`, as `FDNAME=` requires (each `:` of an
    /// IP address becomes `_`; a Unix path is escaped with `%XX`). The IP address is there for people reading the
    /// store (`systemd-analyze fdstore`, systemd 254 and later); ``init(storeName:address:)`` trusts the socket's
    /// bound address, not the name, except for a Unix socket: the kernel names it by the temporary path it was bound
    /// to before the rename, so its path comes from the name.
    package var storeName: String {
        let address = address.kind == .unix ? Self.unixPrefix + Self.escaped(address.path) : Self.nameText(address)
        switch self {
        case .shared: return "\(Self.storePrefix)shared-\(address)"
        case .slot(let slot, _): return "\(Self.storePrefix)slot\(slot.index)-\(address)"
        }
    }

    /// The key a stored socket bound to `address` stands for, by what its name says (shared, or which slot, and a
    /// Unix socket's path); `nil` for a name that is not one of ``storeName``'s.
    package init?(storeName: String, address bound: ListenAddress) {
        guard storeName.hasPrefix(Self.storePrefix) else { return nil }
        let rest = storeName.dropFirst(Self.storePrefix.count)
        let address: ListenAddress
        let addressText: Substring
        if rest.hasPrefix("shared-") {
            addressText = rest.dropFirst("shared-".count)
        } else if rest.hasPrefix("slot"), let dash = rest.firstIndex(of: "-") {
            addressText = rest[rest.index(after: dash)...]
        } else {
            return nil
        }
        if bound.kind == .unix {
            guard addressText.hasPrefix(Self.unixPrefix),
                let path = Self.unescaped(addressText.dropFirst(Self.unixPrefix.count)), path.hasPrefix("/")
            else { return nil }
            address = ListenAddress(unixPath: path)
        } else {
            address = bound.unnamed
        }
        if rest.hasPrefix("shared-") {
            self = .shared(address)
            return
        }
        guard let dash = rest.firstIndex(of: "-"),
            let index = Int(rest[rest.index(rest.startIndex, offsetBy: 4)..<dash]), index >= 0
        else { return nil }
        self = .slot(Slot(index), address)
    }

    private static let storePrefix = "supervisor-"
    private static let unixPrefix = "unix-"

    private static func nameText(_ address: ListenAddress) -> String {
        address.unnamed.description.map { $0 == ":" ? "_" : String($0) }.joined()
    }

    /// `%XX` for `%`, `:` and every byte that is not printable ASCII.
    private static func escaped(_ path: String) -> String {
        var text = ""
        for byte in path.utf8 {
            if byte > 0x20 && byte < 0x7F && byte != UInt8(ascii: "%") && byte != UInt8(ascii: ":") {
                text.append(Character(Unicode.Scalar(byte)))
            } else {
                let hex = String(byte, radix: 16, uppercase: true)
                text += "%" + (hex.count == 1 ? "0" + hex : hex)
            }
        }
        return text
    }

    private static func unescaped(_ text: Substring) -> String? {
        var bytes: [UInt8] = []
        var index = text.startIndex
        while index < text.endIndex {
            let character = text[index]
            if character == "%" {
                let end = text.index(index, offsetBy: 3, limitedBy: text.endIndex) ?? text.endIndex
                guard text.distance(from: index, to: end) == 3,
                    let byte = UInt8(text[text.index(after: index)..<end], radix: 16)
                else { return nil }
                bytes.append(byte)
                index = end
            } else {
                bytes.append(contentsOf: character.utf8)
                index = text.index(after: index)
            }
        }
        return String(validating: bytes, as: UTF8.self)
    }
}
