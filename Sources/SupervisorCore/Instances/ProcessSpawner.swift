internal import CSupervisorShims
package import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// A process the supervisor started, with the read end of the pipe that carries its stdout and stderr.
package struct SpawnedProcess: Sendable {
    package let pid: Int32
    /// Non-blocking, close-on-exec; the caller owns it. -1 when the output was discarded.
    package let outputFD: Int32
}

/// Starts instance processes through the C shim (a vfork-style clone, then only async-signal-safe calls, then exec).
package enum ProcessSpawner {
    /// Starts `path` with `arguments` (`arguments[0]` is the name it sees) and `environment`, in a new session, with
    /// stdin from `/dev/null` (`nullDevice`, open for reading and writing) and stdout and stderr into one pipe, or
    /// into `/dev/null` with `discardOutput`.
    ///
    /// `listeners` are passed the systemd way: as descriptors 3, 4, … with `LISTEN_FDS`, `LISTEN_FDNAMES` and
    /// `LISTEN_PID`, which must name the child itself and so is written between the clone and exec. `watchdog` sets
    /// `WATCHDOG_USEC` and `WATCHDOG_PID` (the child's pid too), as systemd does for `WatchdogSec=`. A `nice` above 0
    /// is the child's nice value from before exec, and `idle` puts it under `SCHED_IDLE` (``StartPriority``).
    ///
    /// - Throws: ``SystemCallError`` for `pipe`, `fork` (the clone: it fails as fork does, with `EAGAIN` at a process
    ///   limit or `ENOMEM`) or `execve` (`ENOENT`, `EACCES`, `ENOEXEC`: the program cannot run), naming the program.
    package static func spawn(
        path: String,
        arguments: [String],
        environment: [String],
        listeners: [(fd: Int32, name: String)] = [],
        watchdog: Duration? = nil,
        discardOutput: Bool = false,
        credentials: InstanceCredentials? = nil,
        standardInput: Int32? = nil,
        outputTo: Int32? = nil,
        nice: Int32 = 0,
        idle: Bool = false,
        nullDevice: Int32
    ) throws(SystemCallError) -> SpawnedProcess {
        var pipeFDs: [Int32] = [-1, -1]
        let ownPipe = !discardOutput && outputTo == nil
        if ownPipe {
            try systemCall("pipe2") { supervisor_pipe_cloexec(&pipeFDs) }
        }
        let readEnd = pipeFDs[0]
        let writeEnd = ownPipe ? pipeFDs[1] : (outputTo ?? nullDevice)
        defer { if ownPipe { close(writeEnd) } }

        var variables = environment
        var pidVariables: [String] = []
        if !listeners.isEmpty {
            variables.append("\(ServiceEnvironment.listenFDs)=\(listeners.count)")
            variables.append(
                "\(ServiceEnvironment.listenFDNames)=\(ServiceEnvironment.fileDescriptorNames(listeners.map(\.name)))")
            pidVariables.append("\(ServiceEnvironment.listenPID)=")
        }
        if let watchdog {
            variables.append("\(ServiceEnvironment.watchdogMicroseconds)=\(ServiceEnvironment.watchdogValue(watchdog))")
            pidVariables.append("\(ServiceEnvironment.watchdogPID)=")
        }
        let firstPIDVariable = variables.count
        variables += pidVariables.map { $0 + Self.pidPlaceholder }
        let argv = CStringArray(arguments)
        let envp = CStringArray(variables)
        defer {
            argv.free()
            envp.free()
        }
        // The child writes its pid over each placeholder's digits.
        let pidSlots: [UnsafeMutablePointer<CChar>?] = pidVariables.enumerated().map { offset, name in
            envp.pointer[firstPIDVariable + offset]! + name.utf8.count
        }
        let descriptors = listeners.map(\.fd)
        let groups = credentials?.groups ?? []
        var pid: pid_t = 0
        let error = path.withCString { cPath in
            descriptors.withUnsafeBufferPointer { passed in
                pidSlots.withUnsafeBufferPointer { slots in
                    groups.withUnsafeBufferPointer { groupList in
                        var request = supervisor_spawn_request(
                            path: cPath, argv: argv.pointer, envp: envp.pointer, pass_fds: passed.baseAddress,
                            pass_fd_count: Int32(passed.count), stdin_fd: standardInput ?? nullDevice,
                            stdout_fd: writeEnd,
                            stderr_fd: writeEnd, pid_slots: slots.baseAddress, pid_slot_count: Int32(slots.count),
                            switch_credentials: credentials?.needsSwitch == true ? 1 : 0, uid: credentials?.uid ?? 0,
                            gid: credentials?.gid ?? 0, groups: groupList.baseAddress,
                            group_count: Int32(groupList.count), nice: nice, idle: idle ? 1 : 0)
                        return supervisor_spawn(&request, &pid)
                    }
                }
            }
        }
        if error != 0 {
            if readEnd >= 0 { close(readEnd) }
            throw SystemCallError(
                call: error == EAGAIN || error == ENOMEM ? "fork" : "execve", errno: error, subject: path)
        }
        if readEnd >= 0 { _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK) }
        return SpawnedProcess(pid: pid, outputFD: readEnd)
    }
}

extension ProcessSpawner {
    /// Room for any pid: the child overwrites the zeros.
    static let pidPlaceholder = "000000000000"
}

/// A NULL-terminated array of C strings, allocated with strdup; call ``free()`` when done.
struct CStringArray {
    let pointer: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>
    private let count: Int

    init(_ strings: [String]) {
        count = strings.count
        pointer = .allocate(capacity: strings.count + 1)
        for (index, string) in strings.enumerated() { pointer[index] = strdup(string) }
        pointer[strings.count] = nil
    }

    func free() {
        for index in 0..<count { Glibc.free(pointer[index]) }
        pointer.deallocate()
    }
}
