import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// The supervisor's own relation to systemd (its `NOTIFY_SOCKET`, watchdog and socket-activation variables) never
/// leaks into instances: each instance sees only the values the supervisor made for it.
extension SupervisorTests {
    /// The environment a process started with.
    static func environment(of pid: Int32) throws -> [String: String] {
        var result: [String: String] = [:]
        for entry in try FileText.readBytes("/proc/\(pid)/environ").split(separator: 0) {
            let text = String(decoding: entry, as: UTF8.self)
            guard let equals = text.firstIndex(of: "=") else { continue }
            result[String(text[..<equals])] = String(text[text.index(after: equals)...])
        }
        return result
    }

    static let systemdVariables = [
        "NOTIFY_SOCKET", "WATCHDOG_USEC", "WATCHDOG_PID", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES",
    ]

    /// Starts a supervisor as systemd would with `WatchdogSec=` and a socket unit: all six variables set for it, the
    /// `LISTEN_PID` and `WATCHDOG_PID` naming the supervisor itself (fd 3 is there, though not a socket it can use).
    static func startWithSystemdEnvironment(_ arguments: [String]) throws -> SupervisorHarness {
        let supervisor = try SupervisorHarness(
            arguments,
            environment: ["WATCHDOG_USEC": "30000000", "LISTEN_FDS": "1", "LISTEN_FDNAMES": "from-systemd"],
            launcher: [
                "/bin/sh", "-c", "export LISTEN_PID=$$ WATCHDOG_PID=$$; exec 3</dev/null; exec \"$@\"", "sh",
            ])
        try supervisor.waitUntilReady()
        return supervisor
    }

    @Test(
        "app mode: the supervisor's NOTIFY_SOCKET, WATCHDOG_* and LISTEN_* do not reach instances; each gets its own NOTIFY_SOCKET only"
    )
    func systemdVariablesWithheldInAppMode() throws {
        let port = try freePort()
        let supervisor = try Self.startWithSystemdEnvironment([
            "--instances", "2", "--listen", "127.0.0.1:\(port)", "--", SupervisorHarness.demoServerPath, "--port",
            String(port),
        ])
        let own = try Self.environment(of: supervisor.process.pid)
        #expect(Set(Self.systemdVariables).isSubset(of: Set(own.keys)), "\(own)")
        #expect(own["LISTEN_PID"] == String(supervisor.process.pid))
        var sockets: Set<String> = []
        for pid in try supervisor.readyPIDs() {
            let environment = try Self.environment(of: pid)
            let notify = try #require(environment["NOTIFY_SOCKET"])
            #expect(notify != supervisor.systemd.path)
            #expect(notify.hasPrefix(supervisor.directory))
            sockets.insert(notify)
            for name in Self.systemdVariables.dropFirst() {
                #expect(environment[name] == nil, "\(name)=\(environment[name] ?? "") reached pid \(pid)")
            }
        }
        #expect(sockets.count == 2)
    }

    @Test(
        "reuseport mode with --watchdog-sec: LISTEN_* and WATCHDOG_* of an instance are its own, not the supervisor's")
    func systemdVariablesAreTheInstancesOwn() throws {
        let port = try freePort()
        let supervisor = try Self.startWithSystemdEnvironment([
            "--instances", "2", "--listen", "127.0.0.1:\(port)", "--listen-mode", "reuseport", "--watchdog-sec",
            "5s", "--", SupervisorHarness.releaseDemoServerPath,
        ])
        for pid in try supervisor.readyPIDs() {
            let environment = try Self.environment(of: pid)
            let context = Comment(
                rawValue: "pid \(pid): \(environment.filter { Self.systemdVariables.contains($0.key) })")
            #expect(environment["NOTIFY_SOCKET"]?.hasPrefix(supervisor.directory) == true, context)
            #expect(environment["LISTEN_FDS"] == "1", context)
            #expect(environment["LISTEN_PID"] == String(pid), context)
            #expect(environment["LISTEN_FDNAMES"] == "listen0", context)
            #expect(environment["WATCHDOG_USEC"] == "5000000", context)
            #expect(environment["WATCHDOG_PID"] == String(pid), context)
        }
    }
}
