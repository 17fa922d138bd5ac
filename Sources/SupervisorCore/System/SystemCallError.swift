#if canImport(Glibc)
import Glibc
#endif

/// A system call that failed: its name, the errno it set, and what it was acting on.
package struct SystemCallError: Error, CustomStringConvertible, Sendable, Equatable {
    /// The name of the call, e.g. `"bind"`.
    package let call: String
    /// The errno value the call set.
    package let errno: Int32
    /// What the call acted on, e.g. a path; empty when that adds nothing.
    package let subject: String

    package init(call: String, errno: Int32, subject: String = "") {
        self.call = call
        self.errno = errno
        self.subject = subject
    }

    package var description: String {
        let reason = String(cString: strerror(errno))
        let text = subject.isEmpty ? "\(call) failed: \(reason)" : "\(call) \(subject) failed: \(reason)"
        return hint.map { "\(text) (\($0))" } ?? text
    }

    /// How to get past a failure that a limit of the machine or of the service caused.
    package var hint: String? {
        switch errno {
        case EMFILE:
            "the supervisor reached its open-file limit; raise it (LimitNOFILE= in the unit, ulimit -n)"
        case ENFILE:
            "the system's open-file table is full (fs.file-max)"
        case EAGAIN where call == "fork":
            "no more processes may be started: a process limit is reached (TasksMax= in the unit, ulimit -u)"
        case ENOMEM where call == "fork":
            "not enough memory to start a process"
        case ENOSPC, EDQUOT:
            "the file system is full"
        default:
            nil
        }
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
