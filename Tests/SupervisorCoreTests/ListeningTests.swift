import Foundation
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

@Suite("Listen modes: which sockets, and tcp_migrate_req")
struct ListeningTests {
    private func configuration(_ mode: ListenMode, instances: Int, listen: [String]) throws -> Configuration {
        var layer = ConfigurationLayer()
        layer[Settings.command] = ["/bin/true"]
        layer[Settings.instances] = instances
        layer[Settings.listenMode] = mode
        layer[Settings.listen] = try listen.map { try ListenAddress(parsing: $0) }
        return try Configuration(layer, defaultInstances: 1)
    }

    @Test("reuseport: one socket per slot and address, in the order of the addresses")
    func reuseportKeys() throws {
        let config = try configuration(.reuseport, instances: 2, listen: ["127.0.0.1:80", "[::1]:80"])
        let v4 = ListenAddress(host: "127.0.0.1", port: 80)
        let v6 = ListenAddress(host: "::1", port: 80)
        #expect(ListenerPlan.keys(for: config, slot: Slot(1)) == [.slot(Slot(1), v4), .slot(Slot(1), v6)])
        #expect(ListenerPlan.needed(target: config, running: []).count == 4)
    }

    @Test("shared: one socket per address for every slot; app: none")
    func sharedAndAppKeys() throws {
        let shared = try configuration(.shared, instances: 3, listen: ["127.0.0.1:80"])
        #expect(
            ListenerPlan.needed(target: shared, running: []) == [.shared(ListenAddress(host: "127.0.0.1", port: 80))])
        let app = try configuration(.app, instances: 3, listen: ["127.0.0.1:80"])
        #expect(ListenerPlan.needed(target: app, running: []).isEmpty)
    }

    @Test("store names of UDP and Unix sockets: a Unix path comes back from the name, not the temporary bound name")
    func storeNamesOfOtherKinds() {
        let udp = ListenAddress(host: "127.0.0.1", port: 53, kind: .udp)
        #expect(ListenerKey.slot(Slot(1), udp).storeName == "supervisor-slot1-udp_127.0.0.1_53")
        #expect(ListenerKey(storeName: "supervisor-slot1-udp_127.0.0.1_53", address: udp) == .slot(Slot(1), udp))
        let unix = ListenAddress(unixPath: "/run/app: 1%/a.sock")
        let name = ListenerKey.shared(unix).storeName
        #expect(name == "supervisor-shared-unix-/run/app%3A%201%25/a.sock")
        #expect(!name.contains(":") && name.allSatisfy { $0.isASCII && !$0.isWhitespace })
        let bound = ListenAddress(unixPath: "/run/app: 1%/.~x1z")
        #expect(ListenerKey(storeName: name, address: bound) == .shared(unix))
        for foreign in ["supervisor-shared-127.0.0.1_80", "supervisor-shared-unix-%zz", "supervisor-shared-unix-rel"] {
            #expect(ListenerKey(storeName: foreign, address: bound) == nil, "\(foreign)")
        }
    }

    @Test("a Unix socket path at the length limit binds whatever the length of its name, and leaves nothing else")
    func unixPathAtTheLimit() throws {
        var template = Array("/tmp/unix-limit-XXXXXX".utf8CString)
        let base = try #require(
            template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) }.map { String(cString: $0) })
        defer { try? FileManager.default.removeItem(atPath: base) }
        for nameLength in [1, 2, 4, 5, 20] {
            // A directory whose path leaves exactly nameLength bytes of the 107 for the name.
            let padding = ListenAddress.maximumPathLength - nameLength - 1 - base.utf8.count - 1
            let directory = base + "/" + String(repeating: "d", count: padding)
            #expect(mkdir(directory, 0o700) == 0)
            let path = directory + "/" + String(repeating: "s", count: nameLength)
            #expect(path.utf8.count == ListenAddress.maximumPathLength)
            let temporary = UnixListener.temporaryPath(in: directory)
            #expect(temporary.utf8.count <= ListenAddress.maximumPathLength && temporary.hasPrefix(directory + "/"))
            #expect(!temporary.hasSuffix("/.") && !temporary.hasSuffix("/"), "\(temporary)")
            // Bound twice: the second time over the stale socket file the first left.
            for _ in 0..<2 {
                let bound = try UnixListener.bind(
                    ListenAddress(unixPath: path), backlog: 8, permissions: .standard)
                #expect(UnixListener.names(path, bound.identity))
                close(bound.fd)
            }
            let entries = try FileManager.default.contentsOfDirectory(atPath: directory)
            #expect(entries == [String(repeating: "s", count: nameLength)], "\(entries)")
        }
    }

    @Test("the file descriptor store's names: FDNAME-safe, and read back as the same key from the bound address")
    func storeNames() {
        let v4 = ListenAddress(host: "127.0.0.1", port: 8080)
        let v6 = ListenAddress(host: "::1", port: 443, name: "api")
        let keys: [ListenerKey] = [.shared(v4), .slot(Slot(0), v4), .slot(Slot(12), v6.unnamed), .shared(v6.unnamed)]
        #expect(
            keys.map(\.storeName) == [
                "supervisor-shared-127.0.0.1_8080", "supervisor-slot0-127.0.0.1_8080", "supervisor-slot12-[__1]_443",
                "supervisor-shared-[__1]_443",
            ])
        for key in keys {
            #expect(!key.storeName.contains(":") && key.storeName.allSatisfy { $0.isASCII && !$0.isWhitespace })
        }
        // The name says shared or which slot; the address comes from the socket (a name in the listen entry is not
        // part of the key).
        #expect(ListenerKey(storeName: "supervisor-slot3-127.0.0.1_8080", address: v6) == .slot(Slot(3), v6.unnamed))
        #expect(ListenerKey(storeName: "supervisor-shared-x", address: v4) == .shared(v4))
        for foreign in [
            "web", "supervisor-", "supervisor-slot-127.0.0.1_80", "supervisor-slotx-1", "supervisor-slot-1-a",
        ] {
            #expect(ListenerKey(storeName: foreign, address: v4) == nil, "\(foreign)")
        }
    }

    @Test("scaling down: a slot's socket stays while a running instance uses it, and goes once none does")
    func scaleDown() throws {
        let old = try configuration(.reuseport, instances: 3, listen: ["127.0.0.1:80"])
        let new = try configuration(.reuseport, instances: 1, listen: ["127.0.0.1:80"])
        let address = ListenAddress(host: "127.0.0.1", port: 80)
        let whileOldRun = ListenerPlan.needed(target: new, running: [(Slot(2), old)])
        #expect(whileOldRun == [.slot(Slot(0), address), .slot(Slot(2), address)])
        #expect(ListenerPlan.needed(target: new, running: []) == [.slot(Slot(0), address)])
    }

    @Test("tcp_migrate_req: 0 is set to 1 under auto, left under off, and 1 stays")
    func migration() throws {
        let directory = "/tmp/supervisor-unit-\(getpid())"
        mkdir(directory, 0o700)
        let path = "\(directory)/tcp_migrate_req"
        func write(_ text: String) throws {
            let fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
            defer { close(fd) }
            _ = text.withCString { Glibc.write(fd, $0, strlen($0)) }
        }
        let migration = KernelMigration(path: path)
        try write("0\n")
        #expect(migration.apply(.off) == .leftDisabled)
        #expect(migration.apply(.auto) == .enabled)
        #expect(FileText.read(path) == "1\n")
        #expect(migration.apply(.auto) == .alreadyEnabled)
        #expect(KernelMigration(path: "\(directory)/missing").apply(.auto) == .unsupported)
        try write("0\n")
        chmod(path, 0o400)
        if geteuid() != 0 {
            guard case .notPermitted = migration.apply(.auto) else {
                Issue.record("a read-only setting must be reported as not permitted")
                return
            }
        }
    }

    @Test("lossless: supervisor-bound modes always; app mode only with tcp_migrate_req")
    func lossless() {
        #expect(LosslessState(mode: .reuseport, migration: .leftDisabled).lossless)
        #expect(LosslessState(mode: .shared, migration: .unsupported).lossless)
        #expect(LosslessState(mode: .app, migration: .enabled).lossless)
        // UDP in app mode: the instances' own sockets close with them, whatever tcp_migrate_req says.
        let udpApp = LosslessState(mode: .app, migration: .enabled, udp: true)
        #expect(!udpApp.lossless && udpApp.description == "no (UDP sockets of the instances' own)")
        #expect(LosslessState(mode: .reuseport, migration: .leftDisabled, udp: true).lossless)
        let off = LosslessState(mode: .app, migration: .notPermitted("Read-only file system"))
        #expect(!off.lossless)
        #expect(off.description == "no (tcp_migrate_req=0)")
        #expect(KernelMigration.message(for: .notPermitted("EROFS"), mode: .app)?.warning == true)
        #expect(KernelMigration.message(for: .notPermitted("EROFS"), mode: .reuseport) == nil)
    }
}
