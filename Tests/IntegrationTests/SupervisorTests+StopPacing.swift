import Foundation
import TestSupport
import Testing

#if canImport(Glibc)
import Glibc
#endif

extension SupervisorTests {
    /// How often `text` occurs in `log`.
    private static func occurrences(of text: String, in log: String) -> Int {
        log.components(separatedBy: text).count - 1
    }

    @Test("app mode: a rollout stops the old instances one at a time, each once the one before closed its listeners")
    func appModeStopsOneAtATime() throws {
        let port = try freePort()
        // With a bake the old instances are stopped together, at its end, rather than each as its replacement is
        // ready.
        let supervisor = try Self.startDemo(port: port, extra: ["--verbose", "--bake", "0.2s"])
        let before = try supervisor.readyPIDs()
        #expect(try supervisor.cli("reload").exitCode == 0)
        #expect(eventually(timeout: .seconds(5)) { before.allSatisfy { !isAlive($0) } })
        // Of the two old instances the second is signalled once the first closed its listeners, not 0.25 s later.
        #expect(
            eventually { Self.occurrences(of: "closed its listeners", in: supervisor.log) == 1 }, "\(supervisor.log)")
        #expect(!supervisor.log.contains("still listens"))
    }

    @Test(
        "app mode: an old instance that keeps listening after its stop signal holds the next one back 0.25 s, no more")
    func appModeStubbornInstanceWaitsBounded() throws {
        let port = try freePort()
        let supervisor = try Self.startDemo(
            instances: 3, port: port, extra: ["--drain-timeout", "2s", "--bake", "0.2s"],
            serverArguments: ["--ignore-sigterm"])
        let before = try supervisor.readyPIDs()
        #expect(try supervisor.cli("reload").exitCode == 0)
        // Each of the first two waits the longest the pacing allows; the third has no one after it.
        #expect(
            eventually { Self.occurrences(of: "still listens 0.25 s after its stop signal", in: supervisor.log) == 2 },
            "\(supervisor.log)")
        #expect(
            eventually {
                Self.occurrences(of: "received SIGTERM and ignored it", in: supervisor.log) == 3
            })
        // The drain timeout still runs from the rollout's end: all three are killed within it.
        #expect(eventually(timeout: .seconds(6)) { before.allSatisfy { !isAlive($0) } })
    }

    @Test("reuseport and shared modes signal every old instance at once: the supervisor's sockets stay open")
    func supervisorBoundModesAreNotPaced() throws {
        for mode in ["reuseport", "shared"] {
            let port = try freePort()
            let supervisor = try SupervisorHarness(
                ["--instances", "2", "--listen", "127.0.0.1:\(port)", "--listen-mode", mode, "--verbose", "--"]
                    + [SupervisorHarness.demoServerPath])
            try supervisor.waitUntilReady()
            let before = try supervisor.readyPIDs()
            #expect(try supervisor.cli("reload").exitCode == 0)
            #expect(eventually(timeout: .seconds(5)) { before.allSatisfy { !isAlive($0) } })
            #expect(!supervisor.log.contains("closed its listeners"), "\(mode)")
        }
    }

    @Test("stop-pace: in shared mode the old instances get their stop signals that far apart; without it, together")
    func stopPaceSpacesStopSignals() throws {
        for pace in ["1.5s", "0"] {
            let port = try freePort()
            let supervisor = try Self.startDemo(
                port: port, extra: ["--listen-mode", "shared", "--stop-pace", pace])
            let before = try supervisor.readyPIDs()
            #expect(before.count == 2)
            #expect(try supervisor.cli("reload").exitCode == 0)
            // An old instance without connections drains in milliseconds once signalled.
            usleep(600_000)
            let signalled = before.filter { supervisor.log.contains("demo-server[\($0)]: received SIGTERM") }
            if pace == "0" {
                #expect(signalled.count == 2, "pace \(pace): \(supervisor.log)")
            } else {
                #expect(signalled.count == 1, "pace \(pace): \(supervisor.log)")
                #expect(before.filter(isAlive).count == 1, "pace \(pace)")
            }
            #expect(eventually(timeout: .seconds(5)) { before.allSatisfy { !isAlive($0) } }, "pace \(pace)")
        }
    }
}
