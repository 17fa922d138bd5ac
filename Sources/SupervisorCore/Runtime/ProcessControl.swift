internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// What an instance's start needs: the program, its words and environment, and what it inherits.
struct InstanceLaunch: Sendable {
    let path: String
    let arguments: [String]
    let environment: [String]
    let listeners: [(fd: Int32, name: String)]
    let watchdog: Duration?
    let credentials: InstanceCredentials?
    /// The nice value it starts with until it is ready; 0: the supervisor's own.
    var nice: Int32 = 0
    /// Whether it starts under `SCHED_IDLE`, until it is ready or `start-idle` is up.
    var idle = false
}

/// How the supervisor's loop acts on its instances' processes: starts them, signals them, kills their groups, and
/// collects their exits. The loop does all of that through here, so the action dispatch and the reaping are tested
/// with a fake and no process (`Tests/SupervisorCoreTests/SupervisorLoopTests.swift`); ``SystemProcesses`` is the
/// real one.
///
/// A process is *held* from its start (or its announcement with `MAINPID=`) until it is reaped or seen to exit; only
/// a held process is signalled, so no signal reaches a process that took a number over.
protocol ProcessControl: AnyObject {
    /// Starts an instance and holds its process.
    ///
    /// - Throws: ``SystemCallError`` of the call that failed (`pipe2`, `fork`, `execve`).
    func launch(_ launch: InstanceLaunch, nullDevice: Int32) throws(SystemCallError) -> SpawnedProcess
    /// Holds a process pinned already (an announced main process).
    func hold(_ handle: ProcessHandle, as pid: Int32)
    /// Whether `pid` is held.
    func holds(_ pid: Int32) -> Bool
    /// Whether a held `pid` still runs (it may have exited without being reaped here: a main process whose own
    /// parent reaps it).
    func isAlive(_ pid: Int32) -> Bool
    /// Stops holding `pid`; returns whether it was held.
    @discardableResult func release(_ pid: Int32) -> Bool
    /// Sends `signal` to a held process. Returns `nil` when it was sent or the process has just exited (`ESRCH`),
    /// else the errno.
    func send(_ signal: UnixSignal, to pid: Int32) -> Int32?
    /// SIGKILL for the process group `leader` leads: as a group while the leader is held (its number cannot name
    /// another group then), else to each of the supervisor's own children in that group.
    func killGroup(_ leader: Int32)
    /// The next child of the supervisor that has exited, reaped and no longer held; `nil` when none has.
    func reapNext() -> (pid: Int32, status: ExitStatus)?
    /// Every held process and its pidfd (-1 without one), for an in-place upgrade to hand over.
    var held: [(pid: Int32, descriptor: Int32)] { get }
    /// Holds a process handed over by an in-place upgrade.
    func adopt(_ handle: ProcessHandle, as pid: Int32)
}

extension ProcessControl {
    var held: [(pid: Int32, descriptor: Int32)] { [] }
    func adopt(_ handle: ProcessHandle, as pid: Int32) { hold(handle, as: pid) }
}

/// The real processes: pidfds (``ProcessHandle``), ``ProcessSpawner``, `waitpid`.
final class SystemProcesses: ProcessControl {
    /// Every process the supervisor may signal, by pid: the first process of each instance (its child) until it is
    /// reaped, and each main process announced with `MAINPID=` until it exits.
    private var handles: [Int32: ProcessHandle] = [:]

    init() {}

    func launch(_ launch: InstanceLaunch, nullDevice: Int32) throws(SystemCallError) -> SpawnedProcess {
        let process = try ProcessSpawner.spawn(
            path: launch.path, arguments: launch.arguments, environment: launch.environment,
            listeners: launch.listeners, watchdog: launch.watchdog, credentials: launch.credentials,
            nice: launch.nice, idle: launch.idle, nullDevice: nullDevice)
        handles[process.pid] = ProcessHandle.open(process.pid)
        return process
    }

    func hold(_ handle: ProcessHandle, as pid: Int32) { handles[pid] = handle }

    var held: [(pid: Int32, descriptor: Int32)] { handles.map { ($0.key, $0.value.descriptor) } }

    func holds(_ pid: Int32) -> Bool { handles[pid] != nil }

    func isAlive(_ pid: Int32) -> Bool { handles[pid]?.isAlive == true }

    @discardableResult
    func release(_ pid: Int32) -> Bool { handles.removeValue(forKey: pid) != nil }

    func send(_ signal: UnixSignal, to pid: Int32) -> Int32? {
        guard let handle = handles[pid] else { return nil }
        if handle.signal(signal.rawValue) || errno == ESRCH { return nil }
        return errno
    }

    func killGroup(_ leader: Int32) {
        if handles[leader] != nil {
            kill(-leader, SIGKILL)
            return
        }
        for child in ProcessTable.children(of: getpid()) where ProcessStat.read(pid: child)?.processGroup == leader {
            kill(child, SIGKILL)
        }
    }

    func reapNext() -> (pid: Int32, status: ExitStatus)? {
        while true {
            var status: Int32 = 0
            let pid = waitpid(-1, &status, WNOHANG)
            if pid < 0 && errno == EINTR { continue }
            guard pid > 0 else { return nil }
            // Reaped: from now on the number may name another process.
            handles[pid] = nil
            return (pid, ExitStatus(waitStatus: status))
        }
    }
}
