internal import CSupervisorShims

#if canImport(Glibc)
import Glibc
#endif

/// What stops the instances when the supervisor itself dies without stopping them (SIGKILL, a crash, the OOM
/// killer): a small process of its own (`supervisor lifeline`), started first, that holds the read end of a pipe.
/// The supervisor writes a line for each instance process group it starts and each it reaps; when the pipe reaches
/// end of file with groups still listed, the supervisor is gone, and the lifeline sends each group its stop signal,
/// waits for its drain timeout, then sends SIGKILL. After a clean stop the list is empty and it just exits.
///
/// It pins each group's leader, and each main process the supervisor tells it of, with a pidfd as it reads the
/// line, and at the end signals a group only while its leader is alive (then the group number cannot have been
/// reused), and a main process only through its pidfd.
///
/// Under systemd with `KillMode=mixed` this is a second line of defence: systemd kills the unit's cgroup as well.
package enum Lifeline {
    /// One process group to stop if the supervisor dies.
    package struct Group: Equatable, Sendable {
        package let id: Int32
        package let signal: Int32
        package let drainTimeout: Duration
        /// The main process announced with `MAINPID=`, when it is not the leader.
        package var mainPID: Int32?
    }

    /// The groups listed so far, from the lines `+PGID SIGNAL DRAIN_MS`, `=PGID MAINPID` and `-PGID`.
    package struct Registry: Equatable, Sendable {
        package private(set) var groups: [Int32: Group] = [:]

        package init() {}

        /// Applies one line; returns `false` for a line that is not understood (it is ignored).
        @discardableResult
        package mutating func apply(_ line: Substring) -> Bool {
            let fields = line.dropFirst().split(separator: " ")
            switch line.first {
            case "+":
                guard fields.count == 3, let id = Int32(fields[0]), id > 1, let signal = Int32(fields[1]),
                    let milliseconds = Int64(fields[2]), milliseconds >= 0
                else { return false }
                groups[id] = Group(id: id, signal: signal, drainTimeout: .milliseconds(milliseconds))
                return true
            case "=":
                guard fields.count == 2, let id = Int32(fields[0]), let mainPID = Int32(fields[1]), mainPID > 1,
                    groups[id] != nil
                else { return false }
                groups[id]?.mainPID = mainPID
                return true
            case "-":
                guard fields.count == 1, let id = Int32(fields[0]) else { return false }
                groups[id] = nil
                return true
            default:
                return false
            }
        }
    }

    /// The line that lists a group.
    package static func watchLine(group: Int32, signal: Int32, drainTimeout: Duration) -> String {
        "+\(group) \(signal) \(drainTimeout.milliseconds)\n"
    }

    /// The line that adds a group's main process.
    package static func mainLine(group: Int32, mainPID: Int32) -> String { "=\(group) \(mainPID)\n" }

    /// The line that takes a group off the list.
    package static func forgetLine(group: Int32) -> String { "-\(group)\n" }

    /// The lifeline process's work: reads lines from `input` until end of file, then stops what is still listed.
    /// Returns how many groups it had to stop.
    package static func run(input: Int32, log: (String) -> Void) -> Int {
        var registry = Registry()
        var pins = Pins()
        var pending: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(input, $0.baseAddress, $0.count) }
            if count < 0 && errno == EINTR { continue }
            if count <= 0 { break }
            pending += buffer[0..<count]
            while let newline = pending.firstIndex(of: UInt8(ascii: "\n")) {
                let line = Substring(decoding: pending[..<newline], as: UTF8.self)
                if registry.apply(line) { pins.update(for: line, registry) }
                pending.removeSubrange(...newline)
            }
        }
        let groups = registry.groups.values.filter { pins.leaderAlive($0.id) || pins.mainAlive($0) }
        guard !groups.isEmpty else { return 0 }
        log(
            "the supervisor is gone without stopping its instances; stopping process groups "
                + groups.map { String($0.id) }.sorted().joined(separator: ", "))
        let start = ContinuousClock.now
        for group in groups { pins.signal(group, group.signal) }
        var remaining = groups
        while !remaining.isEmpty {
            usleep(50_000)
            let elapsed = ContinuousClock.now - start
            remaining = remaining.filter { group in
                guard pins.leaderAlive(group.id) || pins.mainAlive(group) else { return false }
                if elapsed >= group.drainTimeout {
                    log("process group \(group.id) did not exit within \(group.drainTimeout); sending SIGKILL")
                    pins.signal(group, SIGKILL)
                    return false
                }
                return true
            }
        }
        return groups.count
    }

    /// The pidfds of the listed leaders and main processes, by group.
    private struct Pins {
        var leaders: [Int32: ProcessHandle] = [:]
        var mains: [Int32: ProcessHandle] = [:]

        mutating func update(for line: Substring, _ registry: Registry) {
            let fields = line.dropFirst().split(separator: " ")
            guard let id = fields.first.flatMap({ Int32($0) }) else { return }
            switch line.first {
            case "+":
                leaders[id] = ProcessHandle.open(id)
                mains[id] = nil
            case "=":
                mains[id] = registry.groups[id]?.mainPID.flatMap { ProcessHandle.open($0) }
            default:
                leaders[id] = nil
                mains[id] = nil
            }
        }

        /// While the leader lives, its group number is its own.
        func leaderAlive(_ group: Int32) -> Bool { leaders[group]?.isAlive == true }

        func mainAlive(_ group: Group) -> Bool { mains[group.id]?.isAlive == true }

        func signal(_ group: Group, _ signal: Int32) {
            if leaderAlive(group.id) { kill(-group.id, signal) }
            mains[group.id]?.signal(signal)
        }
    }
}
