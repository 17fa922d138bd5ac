#if canImport(Glibc)
import Glibc
#endif

/// Private directories for tests under /tmp. They are left in place (they are small) so a failed test's files can be
/// inspected; /tmp is cleaned by the machine.
package enum TemporaryDirectory {
    /// Creates a new directory, mode 0700, and returns its path.
    package static func make(prefix: String = "supervisor-test") throws -> String {
        var template = Array("/tmp/\(prefix)-XXXXXX".utf8CString)
        guard let result = mkdtemp(&template) else { throw PosixError(call: "mkdtemp", errno: errno) }
        return String(cString: result)
    }
}
