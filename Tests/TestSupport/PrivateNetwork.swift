import Foundation
import Synchronization

#if canImport(Glibc)
import Glibc
#endif

/// A private network namespace with `lo` up and, by default, `net.ipv4.tcp_migrate_req=1`, so a test can show
/// lossless SO_REUSEPORT handovers without changing the host's sysctl (another test or engineer may rely on it).
///
/// It lives as long as a holder process (`unshare --net … sleep`). Processes start in it through `nsenter --net`
/// (which execs without forking, so the pid is the program's); a test thread joins it with `setns(2)`, after which
/// the sockets that thread creates belong to the namespace.
package final class PrivateNetwork {
    private let holder: ChildProcess
    /// `/proc/PID/ns/net` of the holder.
    package let namespacePath: String
    /// `/proc/PID/ns/mnt` of the holder, when it has a mount namespace of its own.
    private let mountNamespacePath: String?

    /// A new namespace, or `nil` when this test process may not create one (not root, no `unshare`).
    ///
    /// - Parameters:
    ///   - tcpMigrateRequests: the namespace's `net.ipv4.tcp_migrate_req` (a new namespace starts at 0).
    ///   - readOnlySysctl: also a mount namespace in which `/proc/sys` is read-only, so nothing started in it can
    ///     change a sysctl, as for an unprivileged service.
    package static func make(tcpMigrateRequests: Bool = true, readOnlySysctl: Bool = false) -> PrivateNetwork? {
        guard geteuid() == 0, access("/usr/bin/unshare", X_OK) == 0, access("/usr/bin/nsenter", X_OK) == 0 else {
            return nil
        }
        var script = "ip link set lo up && echo \(tcpMigrateRequests ? 1 : 0) > /proc/sys/net/ipv4/tcp_migrate_req"
        if readOnlySysctl {
            script += " && mount --bind /proc/sys /proc/sys && mount -o remount,bind,ro /proc/sys"
        }
        script += " && echo ready && exec sleep 600"
        let namespaces = readOnlySysctl ? ["--net", "--mount"] : ["--net"]
        guard
            let holder = try? ChildProcess(
                namespaces + ["--", "/bin/sh", "-c", script], executable: "/usr/bin/unshare"),
            holder.waitForOutput(containing: "ready", timeout: .seconds(5))
        else {
            return nil
        }
        return PrivateNetwork(holder: holder, ownMounts: readOnlySysctl)
    }

    private init(holder: ChildProcess, ownMounts: Bool) {
        self.holder = holder
        self.namespacePath = "/proc/\(holder.pid)/ns/net"
        self.mountNamespacePath = ownMounts ? "/proc/\(holder.pid)/ns/mnt" : nil
    }

    /// Starts `demo-server arguments…` inside the namespace.
    package func startDemoServer(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess {
        try start(ChildProcess.demoServerPath, arguments, environment: environment)
    }

    /// Starts `executable arguments…` inside the namespace; the process's pid is the program's own.
    package func start(
        _ executable: String,
        _ arguments: [String],
        environment: [String: String] = [:]
    ) throws -> ChildProcess {
        let mount = mountNamespacePath.map { ["--mount=\($0)"] } ?? []
        return try ChildProcess(
            ["--net=\(namespacePath)"] + mount + ["--", executable] + arguments,
            environment: environment,
            executable: "/usr/bin/nsenter"
        )
    }

    /// The namespace's `net.ipv4.tcp_migrate_req`, as a process inside it reads it.
    package var tcpMigrateRequests: String? {
        guard let reader = try? start("/bin/cat", ["/proc/sys/net/ipv4/tcp_migrate_req"]),
            reader.waitForExit(timeout: .seconds(5)) == .exited(0)
        else { return nil }
        return reader.output.trimmingCharacters(in: .whitespacesAndNewlines)
    }

    /// Runs `body` on a thread of its own that joined the namespace, and returns its result.
    package func run<Value: Sendable>(_ body: @escaping @Sendable () throws -> Value) throws -> Value {
        let path = namespacePath
        let result = Mutex<Result<Value, any Error>?>(nil)
        let done = DispatchSemaphore(value: 0)
        Thread {
            result.withLock { value in
                value = Result {
                    try PrivateNetwork.enterOnCurrentThread(namespacePath: path)
                    return try body()
                }
            }
            done.signal()
        }.start()
        done.wait()
        return try result.withLock { $0! }.get()
    }

    /// Moves the calling thread into the namespace at `namespacePath`. Use it on a dedicated thread only: the
    /// thread stays there.
    package static func enterOnCurrentThread(namespacePath: String) throws {
        // setns is declared only for _GNU_SOURCE, which the Glibc module does not define: look it up.
        typealias SetNamespace = @convention(c) (CInt, CInt) -> CInt
        guard let symbol = dlsym(UnsafeMutableRawPointer(bitPattern: 0), "setns") else {
            throw PosixError(call: "dlsym(setns)", errno: ENOSYS)
        }
        let setNamespace = unsafeBitCast(symbol, to: SetNamespace.self)
        let descriptor = try posixCall("open(\(namespacePath))") { open(namespacePath, O_RDONLY | O_CLOEXEC) }
        defer { close(descriptor) }
        let cloneNewNet: CInt = 0x4000_0000
        try posixCall("setns(\(namespacePath))") { setNamespace(descriptor, cloneNewNet) }
    }
}
