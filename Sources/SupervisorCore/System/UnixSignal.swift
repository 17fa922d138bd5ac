#if canImport(Glibc)
import Glibc
#endif

/// A POSIX signal, named as `kill -l` names it.
package struct UnixSignal: Hashable, Codable, Sendable, CustomStringConvertible {
    /// The signal number.
    package let rawValue: Int32

    package init(rawValue: Int32) { self.rawValue = rawValue }

    package static let hangup = UnixSignal(rawValue: SIGHUP)
    package static let interrupt = UnixSignal(rawValue: SIGINT)
    package static let terminate = UnixSignal(rawValue: SIGTERM)
    package static let kill = UnixSignal(rawValue: SIGKILL)
    package static let child = UnixSignal(rawValue: SIGCHLD)

    private static let names: [(String, Int32)] = [
        ("HUP", SIGHUP), ("INT", SIGINT), ("QUIT", SIGQUIT), ("ILL", SIGILL), ("TRAP", SIGTRAP), ("ABRT", SIGABRT),
        ("BUS", SIGBUS), ("FPE", SIGFPE), ("KILL", SIGKILL), ("USR1", SIGUSR1), ("SEGV", SIGSEGV), ("USR2", SIGUSR2),
        ("PIPE", SIGPIPE), ("ALRM", SIGALRM), ("TERM", SIGTERM), ("STKFLT", SIGSTKFLT), ("CHLD", SIGCHLD),
        ("CONT", SIGCONT), ("STOP", SIGSTOP), ("TSTP", SIGTSTP), ("TTIN", SIGTTIN), ("TTOU", SIGTTOU), ("URG", SIGURG),
        ("XCPU", SIGXCPU), ("XFSZ", SIGXFSZ), ("VTALRM", SIGVTALRM), ("PROF", SIGPROF), ("WINCH", SIGWINCH),
        ("IO", SIGIO), ("PWR", SIGPWR), ("SYS", SIGSYS),
    ]

    /// Parses `TERM`, `SIGTERM`, `sigterm`, `15`, or `RTMIN+3`.
    ///
    /// - Returns: `nil` for a name or number that is not a signal.
    package init?(name: String) {
        var text = name.uppercased()
        if text.hasPrefix("SIG") { text.removeFirst(3) }
        if let number = Int32(text), number > 0, number < 65 {
            self.rawValue = number
            return
        }
        if let match = Self.names.first(where: { $0.0 == text }) {
            self.rawValue = match.1
            return
        }
        let realtimeMinimum = Int32(34)
        let realtimeMaximum = Int32(64)
        if text == "RTMIN" {
            self.rawValue = realtimeMinimum
            return
        }
        if text == "RTMAX" {
            self.rawValue = realtimeMaximum
            return
        }
        // The offset is checked before the addition: `RTMIN+2147483647` would overflow, `RTMIN+-3` name SIGSYS.
        if text.hasPrefix("RTMIN+"), let offset = Int32(text.dropFirst(6)),
            (0...realtimeMaximum - realtimeMinimum).contains(offset)
        {
            self.rawValue = realtimeMinimum + offset
            return
        }
        return nil
    }

    /// `SIGTERM`, or `signal 42` for one without a name.
    package var description: String {
        if let match = Self.names.first(where: { $0.1 == rawValue }) { return "SIG\(match.0)" }
        if rawValue >= 34 && rawValue <= 64 { return rawValue == 34 ? "SIGRTMIN" : "SIGRTMIN+\(rawValue - 34)" }
        return "signal \(rawValue)"
    }
}
