#if canImport(Glibc)
import Glibc
#endif

/// A private network namespace with `lo` up and `net.ipv4.tcp_migrate_req=1`, so a test can show lossless
/// SO_REUSEPORT handovers without changing the host's sysctl (another test or engineer may rely on it).
///
/// It lives as long as a holder process (`unshare --net … sleep`). Processes start in it through `nsenter --net`
/// (which execs without forking, so the pid is the program's); a test thread joins it with `setns(2)`, after which
/// the sockets that thread creates belong to the namespace.
package final class PrivateNetwork {
    private let holder: ChildProcess
    /// `/proc/PID/ns/net` of the holder.
    package let namespacePath: String

    /// A new namespace, or `nil` when this test process may not create one (not root, no `unshare`).
    package static func make() -> PrivateNetwork? {
        guard geteuid() == 0, access("/usr/bin/unshare", X_OK) == 0, access("/usr/bin/nsenter", X_OK) == 0 else {
            return nil
        }
        let script = "ip link set lo up && echo 1 > /proc/sys/net/ipv4/tcp_migrate_req && echo ready && exec sleep 600"
        guard let holder = try? ChildProcess(["--net", "--", "/bin/sh", "-c", script], executable: "/usr/bin/unshare"),
            holder.waitForOutput(containing: "ready", timeout: .seconds(5))
        else {
            return nil
        }
        return PrivateNetwork(holder: holder)
    }

    private init(holder: ChildProcess) {
        self.holder = holder
        self.namespacePath = "/proc/\(holder.pid)/ns/net"
    }

    /// Starts `demo-server arguments…` inside the namespace.
    package func startDemoServer(_ arguments: [String], environment: [String: String] = [:]) throws -> ChildProcess {
        try ChildProcess(
            ["--net=\(namespacePath)", "--", ChildProcess.demoServerPath] + arguments,
            environment: environment,
            executable: "/usr/bin/nsenter"
        )
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
