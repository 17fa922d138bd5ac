import Foundation
import TestSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// `start-nice`: a new instance starts at a lower CPU priority and is set back to the usual one once it is ready.
extension SupervisorTests {
    /// The nice value of each thread of `pid` by thread id.
    static func threadNiceValues(of pid: Int32) -> [Int32: Int] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var values: [Int32: Int] = [:]
        for thread in tasks {
            guard let tid = Int32(thread),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8),
                let nice = ProcessStat(statLine: stat)?.nice
            else { continue }
            values[tid] = Int(nice)
        }
        return values
    }

    /// The scheduling policy of each thread of `pid` by thread id (field 41 of its stat line: 0 `SCHED_OTHER`, 5
    /// `SCHED_IDLE`).
    static func threadPolicies(of pid: Int32) -> [Int32: Int] {
        let tasks = (try? FileManager.default.contentsOfDirectory(atPath: "/proc/\(pid)/task")) ?? []
        var values: [Int32: Int] = [:]
        for thread in tasks {
            guard let tid = Int32(thread),
                let stat = try? String(contentsOfFile: "/proc/\(pid)/task/\(thread)/stat", encoding: .utf8),
                let close = stat.lastIndex(of: ")")
            else { continue }
            // Fields from 3 (state) on follow the command; field 41 is the 39th of them.
            let fields = stat[stat.index(after: close)...].split(separator: " ")
            if fields.count > 38, let policy = Int(fields[38]) { values[tid] = policy }
        }
        return values
    }

    /// The pid of an instance of `generation` that is still starting, once it has one.
    static func startingInstance(_ supervisor: SupervisorHarness, generation: Int) throws(HarnessError) -> Int32 {
        let deadline = ContinuousClock.now + .seconds(10)
        while ContinuousClock.now < deadline {
            // The control socket may not answer yet.
            let starting = (try? supervisor.status())?.instances.first {
                $0.generation == generation && $0.state == "starting" && $0.pid != nil
            }
            if let pid = starting?.pid { return pid }
            usleep(20_000)
        }
        throw HarnessError("no instance of generation \(generation) was seen starting; log:\n\(supervisor.log)")
    }

    @Test("start-nice: an instance starts at nice 15 and serves at 0 once ready, every thread of it, across a reload")
    func startNiceUntilReady() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness([
            "--instances", "1", "--listen", "127.0.0.1:\(port)", "--listen-mode", "shared", "--start-nice", "15",
            "--", SupervisorHarness.demoServerPath, "--startup-delay", "1500",
        ])
        guard StartPriority.mayLowerNiceValues() else {
            // Without CAP_SYS_NICE the supervisor cannot set it back, so it does not lower it, and says so.
            try supervisor.waitUntilReady()
            #expect(supervisor.log.contains("start-nice 15 is not applied"), "\(supervisor.log)")
            let pid = try #require(try supervisor.readyPIDs().first)
            let values = Self.threadNiceValues(of: pid)
            #expect(values[pid] == 0, "\(values)")
            return
        }
        for generation in [1, 2] {
            if generation == 2 {
                let reload = try ChildProcess(
                    ["reload", "--name", supervisor.name, "--control-socket", supervisor.controlSocket],
                    executable: SupervisorHarness.supervisorPath)
                let pid = try Self.startingInstance(supervisor, generation: 2)
                usleep(300_000)
                let starting = Self.threadNiceValues(of: pid)
                #expect(starting[pid] == 15, "starting: \(starting)")
                // The instance that serves meanwhile is at the usual priority.
                for old in try supervisor.readyPIDs(generation: 1) {
                    let values = Self.threadNiceValues(of: old)
                    #expect(values[old] == 0 && !values.values.contains(15), "\(values)")
                }
                #expect(reload.waitForExit(timeout: .seconds(20)) == .exited(0), "\(reload.output)")
            } else {
                let pid = try Self.startingInstance(supervisor, generation: 1)
                usleep(300_000)
                let starting = Self.threadNiceValues(of: pid)
                #expect(starting[pid] == 15, "starting: \(starting)")
                try supervisor.waitUntilReady()
            }
            let ready = try #require(try supervisor.readyPIDs(generation: generation).first)
            // Threads the server started after the delay (its event loops) inherited 15, and are back at 0 too. (The
            // Swift runtime's Dispatch workers set their own nice value by quality of service, 0 or -4, and are left
            // alone: they never had 15.)
            let serving = Self.threadNiceValues(of: ready)
            #expect(serving.count > 1 && serving[ready] == 0 && !serving.values.contains(15), "ready: \(serving)")
            #expect(try RawHTTPConnection(port: port).request().status == 200)
        }
    }

    @Test("start-idle: every thread of a starting instance runs under SCHED_IDLE, and none once it is ready")
    func startIdleUntilReady() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness([
            "--instances", "1", "--listen", "127.0.0.1:\(port)", "--listen-mode", "shared", "--start-idle", "20s",
            "--", SupervisorHarness.demoServerPath, "--startup-delay", "1500",
        ])
        let pid = try Self.startingInstance(supervisor, generation: 1)
        guard StartPriority.mayLowerNiceValues() else {
            try supervisor.waitUntilReady()
            #expect(supervisor.log.contains("start-idle 20 s is not applied"), "\(supervisor.log)")
            #expect(Self.threadPolicies(of: pid)[pid] == 0)
            return
        }
        usleep(300_000)
        let starting = Self.threadPolicies(of: pid)
        #expect(!starting.isEmpty && starting.values.allSatisfy { $0 == 5 }, "starting: \(starting)")
        try supervisor.waitUntilReady()
        // The threads started after the delay (the event loops, Dispatch's workers) inherited SCHED_IDLE and are back
        // at SCHED_OTHER too.
        let serving = Self.threadPolicies(of: pid)
        #expect(serving.count > 1 && serving.values.allSatisfy { $0 == 0 }, "ready: \(serving)")
        #expect(try RawHTTPConnection(port: port).request().status == 200)
    }

    @Test("start-idle is a limit: an instance not ready when it is up goes on starting at the usual priority")
    func startIdleTimeLimit() throws {
        let port = try freePort()
        let supervisor = try SupervisorHarness([
            "--instances", "1", "--listen", "127.0.0.1:\(port)", "--listen-mode", "shared", "--start-idle", "0.3s",
            "--", SupervisorHarness.demoServerPath, "--startup-delay", "2500",
        ])
        guard StartPriority.mayLowerNiceValues() else { return }
        let pid = try Self.startingInstance(supervisor, generation: 1)
        usleep(1_200_000)
        let status = try supervisor.status()
        #expect(status.instances.first { $0.pid == pid }?.state == "starting", "\(status)")
        let policies = Self.threadPolicies(of: pid)
        #expect(!policies.isEmpty && policies.values.allSatisfy { $0 == 0 }, "after start-idle: \(policies)")
        #expect(supervisor.log.contains("is not ready after start-idle 0.3 s"), "\(supervisor.log)")
        try supervisor.waitUntilReady()
    }
}
