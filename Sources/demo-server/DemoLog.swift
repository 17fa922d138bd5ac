import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// The demo server's log: one line per event on standard error, `demo-server[PID]: text`, with the journal's
/// priority prefix when standard error is the journal.
struct DemoLog: Sendable {
    private let output = StandardErrorLog()
    private let prefix = "demo-server[\(getpid())]"

    func info(_ text: String) {
        output.write("\(prefix): \(text)", priority: .info)
    }

    func warning(_ text: String) {
        output.write("\(prefix): \(text)", priority: .warning)
    }

    func error(_ text: String) {
        output.write("\(prefix): \(text)", priority: .error)
    }
}
