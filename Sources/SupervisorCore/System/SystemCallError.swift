#if canImport(Glibc)
import Glibc
#endif

/// A system call that failed: its name, the errno it set, and what it was acting on.
public struct SystemCallError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The name of the call, e.g. `"bind"`.
    public let call: String
    /// The errno value the call set.
    public let errno: Int32
    /// What the call acted on, e.g. a path; empty when that adds nothing.
    public let subject: String

    public init(call: String, errno: Int32, subject: String = "") {
        self.call = call
        self.errno = errno
        self.subject = subject
    }

    public var description: String {
        let reason = String(cString: strerror(errno))
        return subject.isEmpty ? "\(call) failed: \(reason)" : "\(call) \(subject) failed: \(reason)"
    }
}

/// Runs a system call, retrying while it fails with `EINTR`, and throws ``SystemCallError`` naming the call when it
/// returns -1.
@discardableResult
func systemCall<Result: FixedWidthInteger>(
    _ name: String,
    subject: String = "",
    _ body: () -> Result
) throws(SystemCallError) -> Result {
    while true {
        let result = body()
        if result != -1 { return result }
        let error = Glibc.errno
        if error == EINTR { continue }
        throw SystemCallError(call: name, errno: error, subject: subject)
    }
}
