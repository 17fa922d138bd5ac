import CSystemd

#if canImport(Glibc)
import Glibc
#endif

/// A listening socket passed by systemd socket activation.
public struct ActivatedSocket: Equatable, Sendable {
    /// The descriptor, 3 or above, close-on-exec.
    public let fd: Int32
    /// Its `FileDescriptorName=` (systemd's default is the socket unit's name).
    public let name: String
}

/// Sockets from systemd socket activation (`LISTEN_FDS`, `LISTEN_PID`, `LISTEN_FDNAMES`), read with libsystemd's
/// `sd_listen_fds_with_names`. The environment is left as it is (`unsetenv` is not thread-safe); the supervisor does
/// not pass these variables on to its instances.
public enum SocketActivation {
    /// The sockets passed to this process, each made close-on-exec; empty when there are none or they are meant for
    /// another process (`LISTEN_PID`). A socket without a name in `LISTEN_FDNAMES` is called `unknown`, as systemd
    /// calls it.
    ///
    /// - Throws: ``SystemCallError`` of `sd_listen_fds_with_names`, naming the variables, when they are malformed
    ///   (`EINVAL`: `LISTEN_FDS` not a count, `LISTEN_PID` not a pid, `LISTEN_FDNAMES` with another number of names)
    ///   or a descriptor cannot be made close-on-exec.
    public static func receive() throws(SystemCallError) -> [ActivatedSocket] {
        var names: UnsafeMutablePointer<UnsafeMutablePointer<CChar>?>?
        let count = sd_listen_fds_with_names(0, &names)
        if count < 0 {
            throw SystemCallError(
                call: "sd_listen_fds_with_names", errno: -count,
                subject: "("
                    + ServiceEnvironment.describe(
                        [ServiceEnvironment.listenFDs, ServiceEnvironment.listenPID, ServiceEnvironment.listenFDNames])
                    + ")")
        }
        guard count > 0 else { return [] }
        defer {
            if let names {
                for index in 0..<Int(count) { free(names[index]) }
                free(names)
            }
        }
        return (0..<Int(count)).map { index in
            let name = names?[index].map { String(cString: $0) } ?? "unknown"
            return ActivatedSocket(fd: SD_LISTEN_FDS_START + Int32(index), name: name)
        }
    }
}
