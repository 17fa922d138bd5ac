#if canImport(Glibc)
import Glibc
#endif

/// A system call that failed, with its name and `errno`.
struct SystemCallError: Error, Hashable, CustomStringConvertible {
    /// The call, e.g. `fcntl(F_SETFD)`.
    let call: String
    /// The `errno` it set.
    let errno: CInt

    /// `call: strerror (errno N)`.
    var description: String {
        "\(call): \(String(cString: strerror(errno))) (errno \(errno))"
    }
}

/// Runs `body` until it does not fail with `EINTR`; a result of `-1` with any other errno throws it with the call's
/// name. Every system call of this module goes through here.
@discardableResult
func systemCall(_ name: String, _ body: () -> CInt) throws(SystemCallError) -> CInt {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Glibc.errno
        if error == EINTR { continue }
        throw SystemCallError(call: name, errno: error)
    }
}
