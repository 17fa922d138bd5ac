import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// What a supervisor holds does not grow with reloads: descriptors, zombies. `bench/leaks` does the same for 1000
/// reloads and reports memory too.
extension SupervisorTests {
    /// What each descriptor of a process refers to (`socket:[INODE]`, `pipe:[INODE]`, a path), by number.
    static func openDescriptors(of pid: Int32) -> [Int: String] {
        var result: [Int: String] = [:]
        for name in FileText.directoryEntries("/proc/\(pid)/fd") {
            guard let fd = Int(name) else { continue }
            result[fd] = FileText.readLink("/proc/\(pid)/fd/\(name)") ?? "?"
        }
        return result
    }

    /// The descriptors of a process once those closed in passing (a control connection that just ended) are gone:
    /// the smallest table seen within half a second, or the first no larger than `expected`.
    static func settledDescriptors(of pid: Int32, expected: Int? = nil) -> [Int: String] {
        var smallest = openDescriptors(of: pid)
        for _ in 0..<10 where smallest.count > expected ?? 0 {
            usleep(50_000)
            let now = openDescriptors(of: pid)
            if now.count < smallest.count { smallest = now }
        }
        return smallest
    }

    /// Children of `pid` that exited and were not collected yet (state `Z`).
    static func zombieChildren(of pid: Int32) -> [Int32] {
        FileText.directoryEntries("/proc").compactMap(Int32.init).filter { child in
            guard let stat = FileText.read("/proc/\(child)/stat"), let close = stat.lastIndex(of: ")") else {
                return false
            }
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            return fields.count > 1 && fields[0] == "Z" && fields[1] == "\(pid)"
        }
    }

    /// Waits until the rollout is over and only the current generation's instances are left.
    static func waitUntilSettled(_ supervisor: SupervisorHarness, generation: Int) throws -> Bool {
        try eventually {
            let report = try supervisor.status()
            return report.rollout == nil && report.instances.count == 2
                && report.instances.allSatisfy { $0.generation == generation && $0.state == "ready" }
        }
    }

    @Test(
        "30 reloads: the supervisor's open descriptors return to their count after the first reload, and no zombie remains"
    )
    func reloadsLeakNothing() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness([
            "--instances", "2", "--listen", "127.0.0.1:\(port)", "--",
            SupervisorHarness.releaseDemoServerPath, "--port", String(port),
        ])
        try supervisor.waitUntilReady()
        let pid = supervisor.process.pid
        var tables: [[Int: String]] = []
        var zombiesLeft: [Int: [Int32]] = [:]
        for generation in 2...31 {
            let reload = try supervisor.cli("reload")
            #expect(reload.exitCode == 0, "\(reload.stderr)")
            #expect(try Self.waitUntilSettled(supervisor, generation: generation))
            // Read what the supervisor told "systemd" (READY=1, STATUS=…): a manager that stops reading blocks
            // sd_notify, whose socket would then count as one more descriptor.
            #expect(supervisor.waitForSystemd("READY=1", timeout: .seconds(5)) != nil)
            _ = supervisor.waitForSystemd("nothing more", timeout: .milliseconds(20))
            // Every old instance is collected soon after it exits.
            if !eventually(timeout: .seconds(2), { Self.zombieChildren(of: pid).isEmpty }) {
                zombiesLeft[generation] = Self.zombieChildren(of: pid)
            }
            tables.append(Self.settledDescriptors(of: pid, expected: tables.first?.count))
        }
        #expect(zombiesLeft.isEmpty, "zombies after reloads: \(zombiesLeft)")
        let afterFirst = try #require(tables.first)
        let last = try #require(tables.last)
        #expect(
            tables.allSatisfy { $0.count <= afterFirst.count },
            """
            open descriptors after each reload: \(tables.map(\.count))
            after the first: \(afterFirst.sorted { $0.key < $1.key })
            after the last: \(last.sorted { $0.key < $1.key })
            """)
    }
}
