#if canImport(Glibc)
import Glibc
#endif

/// A system call that failed: its name, the errno it set, and what it was acting on. The one error type of every
/// system call in the supervisor and in `SupervisedServer`; its ``description`` is the one place an errno becomes
/// words.
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

    /// `bind 0.0.0.0:80 failed: Permission denied`, with a hint for a limit that was reached.
    public var description: String {
        let text = subject.isEmpty ? "\(call) failed: " : "\(call) \(subject) failed: "
        return text + reason
    }

    /// Why the call failed, with the hint when there is one: `Too many open files (the supervisor reached …)`.
    public var reason: String {
        let text = Self.reason(errno)
        return hint.map { "\(text) (\($0))" } ?? text
    }

    /// What `errno` means, in the C library's words (`strerror`): `No such file or directory`.
    public static func reason(_ errno: Int32) -> String { String(cString: strerror(errno)) }

    /// The error of the call that just failed, from the thread's `errno`.
    public static func last(_ call: String, subject: String = "") -> SystemCallError {
        SystemCallError(call: call, errno: Glibc.errno, subject: subject)
    }

    /// How to get past a failure that a limit of the machine or of the service caused.
    public var hint: String? {
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
public func systemCall<Result: FixedWidthInteger>(
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
