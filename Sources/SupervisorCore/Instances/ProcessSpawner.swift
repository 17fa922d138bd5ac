internal import CSupervisorShims

#if canImport(Glibc)
import Glibc
#endif

/// A process the supervisor started, with the read end of the pipe that carries its stdout and stderr.
public struct SpawnedProcess: Sendable {
    public let pid: Int32
    /// Non-blocking, close-on-exec; the caller owns it.
    public let outputFD: Int32
}

/// Starts instance processes through the C shim (fork, then only async-signal-safe calls, then exec).
public enum ProcessSpawner {
    /// Starts `path` with `arguments` (`arguments[0]` is the name it sees) and `environment`, in a new session, with
    /// stdin from `/dev/null` and stdout and stderr into one pipe.
    ///
    /// `listeners` are passed the systemd way: as descriptors 3, 4, … with `LISTEN_FDS`, `LISTEN_FDNAMES` and
    /// `LISTEN_PID`, which must name the child itself and so is written between fork and exec.
    ///
    /// - Throws: ``SystemCallError`` for `pipe`, `fork` or `execve` (`ENOENT`, `EACCES`, `ENOEXEC`: the program
    ///   cannot run), naming the program.
    public static func spawn(
        path: String,
        arguments: [String],
        environment: [String],
        listeners: [(fd: Int32, name: String)] = [],
        nullDevice: Int32
    ) throws(SystemCallError) -> SpawnedProcess {
        var pipeFDs: [Int32] = [-1, -1]
        try systemCall("pipe2") { supervisor_pipe_cloexec(&pipeFDs) }
        let readEnd = pipeFDs[0]
        let writeEnd = pipeFDs[1]
        defer { close(writeEnd) }

        var variables = environment
        if !listeners.isEmpty {
            variables.append("LISTEN_FDS=\(listeners.count)")
            variables.append("LISTEN_FDNAMES=\(listeners.map(\.name).joined(separator: ":"))")
            variables.append(Self.listenPIDPlaceholder)
        }
        let argv = CStringArray(arguments)
        let envp = CStringArray(variables)
        defer {
            argv.free()
            envp.free()
        }
        // The child writes its pid over the placeholder's digits.
        let listenPIDDigits = listeners.isEmpty ? nil : envp.pointer[variables.count - 1]! + "LISTEN_PID=".utf8.count
        let descriptors = listeners.map(\.fd)
        var pid: pid_t = 0
        let error = path.withCString { cPath in
            descriptors.withUnsafeBufferPointer { passed in
                var request = supervisor_spawn_request(
                    path: cPath, argv: argv.pointer, envp: envp.pointer, pass_fds: passed.baseAddress,
                    pass_fd_count: Int32(passed.count), stdin_fd: nullDevice, stdout_fd: writeEnd, stderr_fd: writeEnd,
                    listen_pid_digits: listenPIDDigits)
                return supervisor_spawn(&request, &pid)
            }
        }
        if error != 0 {
            close(readEnd)
            throw SystemCallError(
                call: error == EAGAIN || error == ENOMEM ? "fork" : "execve", errno: error, subject: path)
        }
        _ = fcntl(readEnd, F_SETFL, fcntl(readEnd, F_GETFL) | O_NONBLOCK)
        return SpawnedProcess(pid: pid, outputFD: readEnd)
    }
}

extension ProcessSpawner {
    /// Room for any pid: the child overwrites the zeros.
    static let listenPIDPlaceholder = "LISTEN_PID=000000000000"
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
