internal import CSupervisorShims
internal import Logging
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

extension Supervisor {
    /// The `supervisor lifeline` process and the write end of its pipe (see ``Lifeline``).
    struct LifelineLink {
        let pid: Int32
        let fd: Int32
    }

    /// Starts the lifeline (again) and lists every live instance with it. Without one, instances outlive a
    /// supervisor killed with SIGKILL: that is logged, and supervision goes on.
    func startLifeline() {
        var fds: [Int32] = [-1, -1]
        guard supervisor_pipe_cloexec(&fds) == 0 else {
            logger.warning("cannot start the lifeline (\(SystemCallError.last("pipe2"))); \(lifelineLoss)")
            return
        }
        defer { close(fds[0]) }
        do {
            let process = try ProcessSpawner.spawn(
                path: "/proc/self/exe", arguments: ["supervisor", "lifeline"],
                environment: ["\(ServiceEnvironment.supervisorName)=\(initialConfiguration.name)"],
                standardInput: fds[0], outputTo: 2,
                nullDevice: nullDevice)
            _ = fcntl(fds[1], F_SETFL, fcntl(fds[1], F_GETFL) | O_NONBLOCK)
            lifeline = LifelineLink(pid: process.pid, fd: fds[1])
            logger.debug("lifeline started (pid \(process.pid))")
        } catch {
            close(fds[1])
            logger.warning("cannot start the lifeline (\(error)); \(lifelineLoss)")
            return
        }
        // Only groups whose leader is not reaped: the lifeline pins each leader by its number as it reads the line.
        for running in instances.values where processes.holds(running.pid) {
            lifelineWatch(group: running.pid, configuration: running.configuration)
            if let record = machine.records.first(where: { $0.pid == running.pid }), let mainPID = record.mainPID,
                mainPID != running.pid
            {
                lifelineWatch(mainPID: mainPID, group: running.pid)
            }
        }
    }

    private var lifelineLoss: String {
        "if the supervisor is killed, its instances keep running until stopped by hand (or by systemd)"
    }

    /// Lists an instance's process group with the lifeline.
    func lifelineWatch(group: Int32, configuration: Configuration) {
        tellLifeline(
            Lifeline.watchLine(
                group: group, signal: configuration.stopSignal.rawValue, drainTimeout: configuration.drainTimeout))
    }

    /// Tells the lifeline an instance's main process, announced with `MAINPID=`, so it stops that process too.
    func lifelineWatch(mainPID: Int32, group: Int32) {
        tellLifeline(Lifeline.mainLine(group: group, mainPID: mainPID))
    }

    /// Takes a reaped instance's process group off the lifeline's list.
    func lifelineForget(group: Int32) {
        tellLifeline(Lifeline.forgetLine(group: group))
    }

    /// After an upgrade in place, a lifeline of this binary takes over from the one the previous binary started,
    /// which still runs that binary (deleted from disk, after a package upgrade, and so on needrestart's list): the
    /// new one is started and told every group first, then the old one gets SIGKILL (it is this process's child, not
    /// reaped: the number is its own), so it ends without stopping anything. At every moment one of them knows every
    /// group. When no new one can be started, the old one stays.
    func replaceLifeline() {
        guard let previous = lifeline else { return }
        lifeline = nil
        startLifeline()
        guard let current = lifeline else {
            lifeline = previous
            return
        }
        kill(previous.pid, SIGKILL)
        close(previous.fd)
        retiredLifeline = previous.pid
        logger.debug("lifeline replaced: pid \(previous.pid) (the previous binary) -> \(current.pid)")
    }

    /// Called when a reaped child was the lifeline: it is started again.
    func lifelineExited(_ status: ExitStatus) {
        if let lifeline { close(lifeline.fd) }
        lifeline = nil
        guard exitCode == nil, machine.lifecycle == .running else { return }
        logger.warning("the lifeline \(status); starting it again")
        startLifeline()
    }

    /// Ends the lifeline at a clean exit: with nothing listed, it exits at end of file, and is reaped here (for at
    /// most a second), so no process of the supervisor outlives it.
    func closeLifeline() async {
        guard let lifeline else { return }
        self.lifeline = nil
        close(lifeline.fd)
        let deadline = ContinuousClock.now + .seconds(1)
        while waitpid(lifeline.pid, nil, WNOHANG) == 0 && ContinuousClock.now < deadline {
            try? await Task.sleep(for: .milliseconds(10))
        }
    }

    private func tellLifeline(_ line: String) {
        guard let lifeline else { return }
        let bytes = Array(line.utf8)
        let written = bytes.withUnsafeBytes { write(lifeline.fd, $0.baseAddress, $0.count) }
        if written != bytes.count {
            logger.warning("could not tell the lifeline '\(line.dropLast())': \(SystemCallError.reason(errno))")
        }
    }
}
