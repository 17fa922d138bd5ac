internal import Logging

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// At exit, stops what instances left behind outside their process groups: a process that called `setsid()`
    /// (a daemon that forked away without sending `MAINPID=`) escapes the group kill, and when its parent exits it
    /// becomes this process's child (the supervisor is a child subreaper). Each gets SIGTERM, then SIGKILL after the
    /// drain timeout (at most 5 s), so nothing an instance started outlives the supervisor.
    func stopOrphans() async {
        let me = getpid()
        let orphans = ProcessTable.current().processes.values
            .filter { $0.parentPID == me && $0.pid != lifeline?.pid }
            .map(\.pid).sorted()
        guard !orphans.isEmpty else { return }
        // Within the margin systemd was given for the exit (EXTEND_TIMEOUT_USEC at stop).
        let grace = min(initialConfiguration.drainTimeout, Self.stopMargin)
        let deadline = ContinuousClock.now + grace
        let pids = orphans.map(String.init).joined(separator: ", ")
        logger.warning(
            "stopping processes that instances left behind outside their process groups: pids \(pids); send MAINPID= to have them supervised"
        )
        for pid in orphans { signalWithGroup(pid, SIGTERM) }
        var remaining = Set(orphans)
        while !remaining.isEmpty {
            remaining = remaining.filter { waitpid($0, nil, WNOHANG) == 0 }
            if remaining.isEmpty { break }
            if ContinuousClock.now >= deadline {
                for pid in remaining {
                    logger.warning(
                        "pid \(pid) did not exit within \(grace); sending SIGKILL")
                    signalWithGroup(pid, SIGKILL)
                    waitpid(pid, nil, 0)
                }
                return
            }
            try? await Task.sleep(for: .milliseconds(50))
        }
    }

    /// Signals `pid`, and its process group when it leads one.
    private func signalWithGroup(_ pid: Int32, _ signal: Int32) {
        if getpgid(pid) == pid { kill(-pid, signal) }
        kill(pid, signal)
    }
}
