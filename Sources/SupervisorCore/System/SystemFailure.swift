package import SystemdSupport

/// Something of the system the supervisor needs is not as it must be: a runtime directory, the per-name lock, a
/// listening socket, `/dev/null`. Unlike a ``ConfigurationError`` (a setting to change), a person fixes the system,
/// or stops what is in the way. ``code`` says which failure it is; ``cause`` is the system call behind it, when one
/// failed.
package struct SystemFailure: Error, CustomStringConvertible, Equatable, Sendable {
    package enum Code: String, Equatable, Sendable {
        /// The control socket's directory (or the notify directory) cannot be made, opened or emptied.
        case runtimeDirectory
        /// A directory on the way to the control socket could be changed by another user, or is not a directory.
        case untrustedDirectory
        /// The lock file cannot be opened, or is not plainly the supervisor's.
        case lockFile
        /// Another supervisor of the same name holds the lock.
        case alreadyRunning
        /// Another program listens on a listen address.
        case portInUse
        /// A listening socket cannot be bound.
        case listen
        /// A file every supervisor opens (`/dev/null`) cannot be opened.
        case openFile
    }

    package let code: Code
    /// What failed, and the fix where there is one.
    package let message: String
    /// The system call that failed, `nil` when none did (a check found something wrong).
    package let cause: SystemCallError?

    /// `message` as given; the cause, if any, is only attached.
    package init(_ code: Code, _ message: String, cause: SystemCallError? = nil) {
        self.code = code
        self.message = message
        self.cause = cause
    }

    /// `what` followed by why the call failed: `cannot create directory /run/x: Permission denied`.
    package init(_ code: Code, _ what: String, failed cause: SystemCallError) {
        self.init(code, "\(what): \(cause.reason)", cause: cause)
    }

    /// The errno of the call that failed.
    package var errno: Int32? { cause?.errno }

    package var description: String { message }
}

/// Why `run` (or `verify`) cannot start a supervisor: a setting to change, or something of the system to fix.
package enum StartFailure: Error, CustomStringConvertible, Equatable, Sendable {
    case configuration(ConfigurationError)
    case system(SystemFailure)

    package var description: String {
        switch self {
        case .configuration(let error): error.message
        case .system(let failure): failure.message
        }
    }
}
