#if canImport(Glibc)
import Glibc
#endif

/// New instances start at a lower CPU priority, a nice value of `start-nice`, until they are ready: the work of
/// starting (loading, initialising, warming up) then takes the CPU only where the instances that serve leave it, and
/// does not delay their answers. At readiness the supervisor sets every thread of the instance's process tree that
/// still has that nice value back to 0 (a thread the program moved itself is left alone), so the instance serves at
/// the usual priority.
///
/// Setting a nice value back to 0 needs `CAP_SYS_NICE` (root) or an `RLIMIT_NICE` of 20 (`LimitNICE=+0` in a unit):
/// a supervisor without either starts its instances at the usual priority, and says so once.
struct StartPriority {
    /// Whether this process may set the nice value of its instances' threads back to 0.
    let canRestore: Bool

    init(canRestore: Bool = StartPriority.mayLowerNiceValues()) {
        self.canRestore = canRestore
    }

    /// The nice value instances of `configuration` start with: 0 when it could not be set back.
    func nice(for configuration: Configuration) -> Int32 {
        canRestore ? configuration.startNice : 0
    }

    /// Sets each thread of the processes in the tree of `pid` whose nice value is `nice` back to 0; returns how many.
    @discardableResult
    func restore(_ pid: Int32, startedWith nice: Int32) -> Int {
        guard nice > 0 else { return 0 }
        var restored = 0
        for process in ProcessTable.tree(of: pid) {
            for entry in FileText.directoryEntries("/proc/\(process)/task") {
                guard let thread = id_t(entry) else { continue }
                // getpriority returns the nice value, and -1 both for nice -1 and for an error: errno tells.
                errno = 0
                let current = getpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread)
                if errno == 0, current == nice, setpriority(__priority_which_t(PRIO_PROCESS.rawValue), thread, 0) == 0 {
                    restored += 1
                }
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
