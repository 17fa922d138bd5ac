/// How a process ended, decoded from a `waitpid` status.
package enum ExitStatus: Hashable, Sendable, CustomStringConvertible {
    /// It called exit with this code.
    case exited(code: Int32)
    /// A signal ended it.
    case signaled(UnixSignal, coreDumped: Bool)
    /// It is gone but its status could not be collected (it was not our child).
    case unknown

    /// Decodes a raw `waitpid` status.
    package init(waitStatus status: Int32) {
        if status & 0x7f == 0 {
            self = .exited(code: (status >> 8) & 0xff)
        } else {
            self = .signaled(UnixSignal(rawValue: status & 0x7f), coreDumped: status & 0x80 != 0)
        }
    }

    /// `true` for exit code 0.
    package var isSuccess: Bool { self == .exited(code: 0) }

    /// `exited with status 2`, `was killed by SIGKILL`, `was killed by SIGSEGV (core dumped)`.
    package var description: String {
        switch self {
        case .exited(let code): "exited with status \(code)"
        case .signaled(let signal, let core): "was killed by \(signal)\(core ? " (core dumped)" : "")"
        case .unknown: "exited"
        }
    }
}
