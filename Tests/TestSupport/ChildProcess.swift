import Foundation

#if canImport(Glibc)
import Glibc
#endif

/// A child process (by default `demo-server`), started with `posix_spawn`, stderr captured to a file; SIGKILLed and reaped on
/// deinit if still running.
package final class ChildProcess {
    /// How the process ended.
    package enum Termination: Equatable, CustomStringConvertible {
        case exited(CInt)
        case signaled(CInt)

        package var description: String {
            switch self {
            case .exited(let code): "exited with status \(code)"
            case .signaled(let signal): "killed by signal \(signal)"
            }
        }
    }

    /// The built `demo-server`: next to the test bundle, which lives in the products directory.
    package static var demoServerPath: String { Products.path(of: "demo-server") }

    package let pid: pid_t
    private let stderrPath: String
    private var termination: Termination?

    /// Starts `demo-server arguments…`.
    ///
    /// - Parameters:
    ///   - environment: Added to the test's environment, from which `NOTIFY_SOCKET`, `LISTEN_*` and `SUPERVISOR_*`
    ///     are removed first so each test states what it passes.
    ///   - executable: The program to start instead (e.g. `/bin/sh` to wrap the demo server); `arguments` follow.
    ///   - descriptorsToPass: Descriptors dup2'd to 3, 4, … in the child.
    package init(
        _ arguments: [String],
        environment: [String: String] = [:],
        executable: String = ChildProcess.demoServerPath,
        descriptorsToPass: [CInt] = []
    ) throws {
        stderrPath = "/tmp/demo-server-test-\(getpid())-\(UInt32.random(in: 0...UInt32.max)).log"
        var actions = posix_spawn_file_actions_t()
        posix_spawn_file_actions_init(&actions)
        defer { posix_spawn_file_actions_destroy(&actions) }
        posix_spawn_file_actions_addopen(&actions, 0, "/dev/null", O_RDONLY, 0)
        posix_spawn_file_actions_addopen(&actions, 2, stderrPath, O_WRONLY | O_CREAT | O_TRUNC, 0o600)
        posix_spawn_file_actions_adddup2(&actions, 2, 1)
        for (offset, descriptor) in descriptorsToPass.enumerated() {
            posix_spawn_file_actions_adddup2(&actions, descriptor, 3 + CInt(offset))
        }
        // NIO 2.101 creates sockets without close-on-exec: without this, a child would inherit the connections of
        // servers running in this test process and keep them open after those servers close them.
        try Self.closeDescriptors(from: 3 + CInt(descriptorsToPass.count), in: &actions)
        var attributes = posix_spawnattr_t()
        posix_spawnattr_init(&attributes)
        defer { posix_spawnattr_destroy(&attributes) }
        // The child must see SIGTERM and SIGINT whatever the test runner's threads block or ignore.
        var noSignals = sigset_t()
        sigemptyset(&noSignals)
        posix_spawnattr_setsigmask(&attributes, &noSignals)
        var defaults = sigset_t()
        sigemptyset(&defaults)
        for signal in [SIGTERM, SIGINT, SIGHUP, SIGPIPE, SIGCHLD, SIGUSR1, SIGUSR2] {
            sigaddset(&defaults, signal)
        }
        posix_spawnattr_setsigdefault(&attributes, &defaults)
        posix_spawnattr_setflags(&attributes, Int16(POSIX_SPAWN_SETSIGMASK | POSIX_SPAWN_SETSIGDEF))

        let argv = ([executable] + arguments).map { strdup($0) } + [nil]
        let envp = Self.environment(adding: environment).map { strdup("\($0.key)=\($0.value)") } + [nil]
        defer {
            for pointer in argv + envp { free(pointer) }
        }
        var pid: pid_t = 0
        let result = posix_spawn(&pid, executable, &actions, &attributes, argv, envp)
        guard result == 0 else { throw PosixError(call: "posix_spawn(\(executable))", errno: result) }
        self.pid = pid
    }

    deinit {
        if termination == nil {
            kill(pid, SIGKILL)
            var status: CInt = 0
            _ = waitpid(pid, &status, 0)
        }
        unlink(stderrPath)
    }

    /// Everything the process wrote to stderr and stdout so far.
    package var output: String {
        guard let file = fopen(stderrPath, "r") else { return "" }
        defer { fclose(file) }
        var bytes: [UInt8] = []
        var chunk = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = fread(&chunk, 1, chunk.count, file)
            if count == 0 { break }
            bytes.append(contentsOf: chunk[0..<count])
        }
        return String(decoding: bytes, as: UTF8.self)
    }

    /// Sends `signal`.
    package func send(_ signal: CInt) {
        kill(pid, signal)
    }

    /// Whether the process has not exited yet (reaps it if it has).
    package var isRunning: Bool {
        pollTermination() == nil
    }

    /// Waits for the process to end.
    ///
    /// - Returns: How it ended, or `nil` when it still runs after `timeout`.
    package func waitForExit(timeout: Duration) -> Termination? {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if let termination = pollTermination() { return termination }
            usleep(5_000)
        }
        return pollTermination()
    }

    /// Waits until 127.0.0.1:`port` accepts connections and answers `GET /` from this process.
    ///
    /// - Returns: `false` when it did not within `timeout` or the process exited.
    package func waitUntilServing(port: Int, timeout: Duration = .seconds(10)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline, isRunning {
            if let connection = try? RawHTTPConnection(port: port),
                let response = try? connection.request(headers: ["Connection: close"], timeout: .seconds(1)),
                response.pid == pid
            {
                return true
            }
            usleep(10_000)
        }
        return false
    }

    private func pollTermination() -> Termination? {
        if let termination { return termination }
        var status: CInt = 0
        guard waitpid(pid, &status, WNOHANG) == pid else { return nil }
        let signal = status & 0x7f
        termination = signal == 0 ? .exited((status >> 8) & 0xff) : .signaled(signal)
        return termination
    }

    /// `posix_spawn_file_actions_addclosefrom_np` (glibc 2.34), which the Glibc module does not declare.
    private static func closeDescriptors(
        from first: CInt,
        in actions: UnsafeMutablePointer<posix_spawn_file_actions_t>
    ) throws {
        typealias AddCloseFrom = @convention(c) (UnsafeMutablePointer<posix_spawn_file_actions_t>, CInt) -> CInt
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "posix_spawn_file_actions_addclosefrom_np")
        else {
            throw PosixError(call: "dlsym(posix_spawn_file_actions_addclosefrom_np)", errno: ENOSYS)
        }
        let result = unsafeBitCast(symbol, to: AddCloseFrom.self)(actions, first)
        guard result == 0 else { throw PosixError(call: "posix_spawn_file_actions_addclosefrom_np", errno: result) }
    }

    private static func environment(adding extra: [String: String]) -> [String: String] {
        let hidden = ["NOTIFY_SOCKET", "LISTEN_FDS", "LISTEN_PID", "LISTEN_FDNAMES", "JOURNAL_STREAM"]
        return ProcessInfo.processInfo.environment
            .filter { name, _ in !hidden.contains(name) && !name.hasPrefix("SUPERVISOR_") }
            .merging(extra) { _, new in new }
    }

    /// Waits until the output contains `text`.
    ///
    /// - Returns: `false` when it did not within `timeout`.
    package func waitForOutput(containing text: String, timeout: Duration = .seconds(10)) -> Bool {
        let deadline = ContinuousClock.now + timeout
        while ContinuousClock.now < deadline {
            if output.contains(text) { return true }
            usleep(5_000)
        }
        return output.contains(text)
    }
}
