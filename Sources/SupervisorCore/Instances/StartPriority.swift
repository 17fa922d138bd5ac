internal import CSupervisorShims

#if canImport(Glibc)
import Glibc
#endif

/// New instances start at a lower CPU priority until they are ready: the work of starting (loading, initialising,
/// warming up) then takes the CPU only where the instances that serve leave it, and does not delay their answers.
///
/// Two ways, each set before exec so that every thread the program starts inherits it:
/// - `start-nice`: a nice value. At readiness the supervisor sets every thread of the instance's process tree that
///   still has it back to 0. A thread that sets its own nice value is left alone, and out of reach: the Swift
///   runtime's Dispatch workers set theirs from their quality of service as they start.
/// - `start-idle`: the `SCHED_IDLE` policy, which no nice value undoes, so it holds for every thread. At readiness,
///   or once `start-idle` is up (so that a start on cores the load keeps busy is not starved until its ready
///   timeout), every thread of the tree still under it goes back to `SCHED_OTHER`.
///
/// Setting either back needs `CAP_SYS_NICE` (root) or an `RLIMIT_NICE` of 20 (`LimitNICE=+0` in a unit): a
/// supervisor without either starts its instances at the usual priority, and says so once.
struct StartPriority {
    /// Whether this process may set the priority of its instances' threads back to the usual one.
    let canRestore: Bool

    init(canRestore: Bool = StartPriority.mayLowerNiceValues()) {
        self.canRestore = canRestore
    }

    /// The nice value instances of `configuration` start with: 0 when it could not be set back.
    func nice(for configuration: Configuration) -> Int32 {
        canRestore ? configuration.startNice : 0
    }

    /// Whether instances of `configuration` start under `SCHED_IDLE`: not when it could not be undone.
    func idle(for configuration: Configuration) -> Bool {
        canRestore && configuration.startIdle > .zero
    }

    /// Sets each thread of the processes in the tree of `pid` back to the usual priority: the nice value to 0 where it
    /// is `nice`, the policy to `SCHED_OTHER` where it is `SCHED_IDLE` and `idle` says the instance started so.
    /// Returns how many threads it changed.
    @discardableResult
    func restore(_ pid: Int32, startedWith nice: Int32, idle: Bool) -> Int {
        guard nice > 0 || idle else { return 0 }
        var restored = 0
        for process in ProcessTable.tree(of: pid) {
            for entry in FileText.directoryEntries("/proc/\(process)/task") {
                guard let thread = id_t(entry) else { continue }
                var changed = false
                if nice > 0 {
                    // getpriority returns the nice value, and -1 both for nice -1 and for an error: errno tells.
                    errno = 0
                    let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread)
                    changed =
                        errno == 0 && current == nice
                        && setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, 0) == 0
                }
                if idle, supervisor_thread_is_idle(pid_t(thread)) == 1, supervisor_thread_end_idle(pid_t(thread)) == 0 {
                    changed = true
                }
                if changed { restored += 1 }
            }
        }
        return restored
    }

    /// `CAP_SYS_NICE` in the effective set (`CapEff` of `/proc/self/status`), or an `RLIMIT_NICE` that allows nice 0.
    static func mayLowerNiceValues() -> Bool {
        var limit = rlimit()
        if getrlimit(__rlimit_resource_t(__RLIMIT_NICE.rawValue), &limit) == 0, limit.rlim_cur >= 20 { return true }
        guard let status = FileText.read("/proc/self/status"),
            let field = FileText.statusValues("CapEff", in: status)?.first, let mask = UInt64(field, radix: 16)
        else { return false }
        let capSysNice: UInt64 = 23
        return mask & (1 << capSysNice) != 0
    }
}
