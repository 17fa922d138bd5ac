import Foundation
import SystemdSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// Processes that are only records: what the supervisor launched, signalled and killed, and exits that a test
/// makes happen. Each launch gets a pipe as its output, so the instance's output reader is real.
final class FakeProcesses: ProcessControl {
    private(set) var launched: [(pid: Int32, launch: InstanceLaunch)] = []
    private(set) var signals: [(pid: Int32, signal: UnixSignal)] = []
    private(set) var groupKills: [Int32] = []
    private var held: Set<Int32> = []
    private var exits: [(pid: Int32, status: SupervisorCore.ExitStatus)] = []
    private var writeEnds: [Int32] = []
    private var nextPID: Int32 = 100_000
    /// Makes the next launch fail as `execve` would.
    var failNextLaunch: Int32?

    deinit { for fd in writeEnds { close(fd) } }

    func launch(_ launch: InstanceLaunch, nullDevice: Int32) throws(SystemCallError) -> SpawnedProcess {
        if let errno = failNextLaunch {
            failNextLaunch = nil
            throw SystemCallError(call: "execve", errno: errno, subject: launch.path)
        }
        var fds: [Int32] = [-1, -1]
        guard pipe(&fds) == 0 else { throw .last("pipe") }
        for fd in fds { _ = fcntl(fd, F_SETFD, FD_CLOEXEC) }
        _ = fcntl(fds[0], F_SETFL, O_NONBLOCK)
        writeEnds.append(fds[1])
        nextPID += 1
        launched.append((nextPID, launch))
        held.insert(nextPID)
        return SpawnedProcess(pid: nextPID, outputFD: fds[0])
    }

    func hold(_ handle: ProcessHandle, as pid: Int32) { held.insert(pid) }
    func holds(_ pid: Int32) -> Bool { held.contains(pid) }
    func isAlive(_ pid: Int32) -> Bool { held.contains(pid) && !exits.contains { $0.pid == pid } }
    @discardableResult func release(_ pid: Int32) -> Bool { held.remove(pid) != nil }

    func send(_ signal: UnixSignal, to pid: Int32) -> Int32? {
        signals.append((pid, signal))
        return nil
    }

    func killGroup(_ leader: Int32) { groupKills.append(leader) }

    func reapNext() -> (pid: Int32, status: SupervisorCore.ExitStatus)? {
        guard !exits.isEmpty else { return nil }
        let exit = exits.removeFirst()
        held.remove(exit.pid)
        return exit
    }

    /// The process `pid` ends with `status`; the supervisor sees it at its next SIGCHLD.
    func exit(_ pid: Int32, _ status: SupervisorCore.ExitStatus = .exited(code: 0)) { exits.append((pid, status)) }

    /// The value of `name` in a launch's environment.
    static func variable(_ name: String, of launch: InstanceLaunch) -> String? {
        launch.environment.first { $0.hasPrefix("\(name)=") }.map { String($0.dropFirst(name.count + 1)) }
    }
}

/// The supervisor's loop with ``FakeProcesses``: its actions (spawn, signal, timers, replies) and its reaping, without
/// a single process. The integration tests do the same with real ones.
@Suite("Supervisor loop: action dispatch and reaping with fake processes")
struct SupervisorLoopTests {
    /// A supervisor of `instances` instances of `/bin/true` (never run), its runtime files in a fresh directory.
    private func withSupervisor(
        instances: Int = 2,
        _ body: (Supervisor, FakeProcesses) async throws -> Void
    ) async throws {
        var template = Array("/tmp/supervisor-loop-XXXXXX".utf8CString)
        let made = try #require(template.withUnsafeMutableBufferPointer { mkdtemp($0.baseAddress!) })
        let directory = String(cString: made)
        chmod(directory, 0o755)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        var flags = ConfigurationLayer()
        flags[Settings.command] = ["/bin/true"]
        flags[Settings.instances] = instances
        flags[Settings.controlSocket] = "\(directory)/loop.sock"
        flags[Settings.name] = "loop"
        let source = ConfigurationSource(file: nil, flags: flags, defaultInstances: 1, searchPath: "/usr/bin:/bin")
        let processes = FakeProcesses()
        let supervisor = try Supervisor.prepare(source: source, environment: [:], processes: processes)
        try await body(supervisor, processes)
        // What the instances still hold (notify sockets, output pipes) is closed, as the loop does at their exit.
        for record in supervisor.machine.records { supervisor.release(record.id) }
    }

    /// `READY=1` from the instance's own process, as its notify socket would deliver it.
    private func ready(_ supervisor: Supervisor, _ pid: Int32) throws {
        let record = try #require(supervisor.machine.records.first { $0.pid == pid })
        let datagram = NotifyDatagram(
            bytes: Array("READY=1".utf8), senderPID: pid, senderUID: getuid(), truncated: false, receivedDescriptors: 0)
        supervisor.dispatch(.notify(record.id, datagram))
    }

    @Test("the start spawns every slot with the supervisor's environment; READY=1 makes each ready")
    func start() async throws {
        try await withSupervisor { supervisor, processes in
            supervisor.start()
            #expect(processes.launched.count == 2)
            let slots = processes.launched.compactMap {
                FakeProcesses.variable(ServiceEnvironment.instance, of: $0.launch)
            }
            #expect(slots.sorted() == ["0", "1"])
            for (_, launch) in processes.launched {
                #expect(launch.path == "/bin/true")
                #expect(FakeProcesses.variable(ServiceEnvironment.generation, of: launch) == "1")
                #expect(FakeProcesses.variable(ServiceEnvironment.supervisorName, of: launch) == "loop")
                #expect(FakeProcesses.variable(ServiceEnvironment.notifySocket, of: launch)?.hasSuffix(".sock") == true)
            }
            #expect(supervisor.instances.count == 2)
            for (pid, _) in processes.launched { try ready(supervisor, pid) }
            #expect(supervisor.machine.records.allSatisfy { $0.phase == .ready })
            #expect(supervisor.machine.lifecycle == .running)
        }
    }

    @Test("an instance's exit is reaped at SIGCHLD: it is released, and its slot restarts when the backoff timer fires")
    func exitAndRestart() async throws {
        try await withSupervisor { supervisor, processes in
            supervisor.start()
            for (pid, _) in processes.launched { try ready(supervisor, pid) }
            let crashed = processes.launched[0].pid
            let crashedID = try #require(supervisor.machine.records.first { $0.pid == crashed }?.id)
            processes.exit(crashed, SupervisorCore.ExitStatus.exited(code: 3))
            supervisor.dispatch(.signal(.child))
            #expect(supervisor.instances[crashedID] == nil, "the exited instance's socket and pipe are released")
            #expect(!processes.holds(crashed))
            #expect(processes.launched.count == 2, "the restart waits for its backoff")
            let restart = try #require(
                supervisor.timers.queue.entries.compactMap { entry -> RolloutMachine.TimerID? in
                    if case .timer(let timer) = entry.event, case .restart = timer { return timer }
                    return nil
                }.first)
            supervisor.dispatch(.timer(restart))
            #expect(processes.launched.count == 3)
            let replacement = processes.launched[2]
            #expect(FakeProcesses.variable(ServiceEnvironment.instance, of: replacement.launch) == "0")
            #expect(supervisor.machine.records.contains { $0.pid == replacement.pid && $0.phase == .starting })
        }
    }

    @Test("a reload starts the new generation, stops each old instance once its replacement is ready, and answers")
    func reload() async throws {
        try await withSupervisor { supervisor, processes in
            supervisor.start()
            let old = processes.launched.map(\.pid)
            for pid in old { try ready(supervisor, pid) }
            let (replies, reply) = AsyncStream.makeStream(of: ControlReply.self)
            supervisor.dispatch(.control(ControlRequest(command: .reload), reply))
            #expect(processes.launched.count == 4)
            let new = processes.launched.suffix(2)
            #expect(new.allSatisfy { FakeProcesses.variable(ServiceEnvironment.generation, of: $0.launch) == "2" })
            #expect(processes.signals.isEmpty, "nothing old is stopped before its replacement is ready")
            for (pid, _) in new { try ready(supervisor, pid) }
            #expect(Set(processes.signals.map(\.pid)) == Set(old))
            #expect(processes.signals.allSatisfy { $0.signal == .terminate })
            for pid in old { processes.exit(pid) }
            supervisor.dispatch(.signal(.child))
            #expect(supervisor.machine.records.count == 2)
            // The caller got progress lines, then the result. Ending the stream here as well keeps a missing
            // `finish()` from hanging the test; the result line is what must be there.
            reply.finish()
            let lines = try await Self.collect(replies)
            let result = try #require(lines.last?.result)
            #expect(result.ok, "\(result.message)")
            #expect(lines.dropLast().allSatisfy { $0.progress != nil })
        }
    }

    @Test("a first generation that cannot be launched ends the run with exit code 1 and the reason")
    func launchFails() async throws {
        try await withSupervisor(instances: 1) { supervisor, processes in
            processes.failNextLaunch = ENOEXEC
            supervisor.start()
            #expect(processes.launched.isEmpty)
            #expect(supervisor.instances.isEmpty)
            #expect(supervisor.exitCode == 1)
            #expect(supervisor.machine.lifecycle == .exited)
            let result = try #require(supervisor.exitResult)
            #expect(!result.ok)
            #expect(result.message.contains("execve /bin/true failed"), "\(result.message)")
        }
    }

    @Test("a stop sends each live instance the stop signal, and the loop ends once they are reaped")
    func stop() async throws {
        try await withSupervisor { supervisor, processes in
            supervisor.start()
            let pids = processes.launched.map(\.pid)
            for pid in pids { try ready(supervisor, pid) }
            supervisor.dispatch(.signal(.terminate))
            #expect(Set(processes.signals.map(\.pid)) == Set(pids))
            #expect(supervisor.exitCode == nil)
            for pid in pids { processes.exit(pid) }
            supervisor.dispatch(.signal(.child))
            #expect(supervisor.exitCode == 0)
            #expect(supervisor.instances.isEmpty)
        }
    }
}

extension SupervisorLoopTests {
    /// What a reply stream holds, once it is finished.
    fileprivate static func collect(_ stream: AsyncStream<ControlReply>) async throws -> [ControlReply] {
        var lines: [ControlReply] = []
        for await reply in stream { lines.append(reply) }
        return lines
    }
}
