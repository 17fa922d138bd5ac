#if canImport(Glibc)
import Glibc
#endif

/// syslog(3) priorities, as journald reads them from a `<N>` line prefix.
public enum SyslogPriority: Int, Sendable, Comparable {
    case emergency = 0
    case alert, critical, error, warning, notice, info, debug

    public static func < (lhs: Self, rhs: Self) -> Bool { lhs.rawValue < rhs.rawValue }
}

/// Line-oriented writer for standard error that journald understands.
///
/// When standard error is connected to the journal (`JOURNAL_STREAM` names the device and inode of fd 2, as systemd
/// sets it) or to the supervisor, each line starts with `<N>`, the syslog priority, and carries no timestamp (the journal adds one), so
/// `journalctl -p warning` filters correctly. Otherwise each line starts with a local time and a level word. A line is
/// written with a single `write(2)`, so lines from different threads never interleave within a line.
public struct StandardErrorLog: Sendable {
    /// Whether lines carry `<N>` priority prefixes instead of a timestamp.
    public let writesPriorityPrefixes: Bool

    /// A writer that uses priority prefixes when standard error is the journal (`JOURNAL_STREAM`), or a supervisor
    /// instance's output pipe (`SUPERVISOR_NAME` is set): the supervisor stamps each line and keeps its priority.
    public init() {
        self.writesPriorityPrefixes =
            Self.standardErrorIsJournal() || ServiceEnvironment.value(of: ServiceEnvironment.supervisorName) != nil
    }

    /// A writer with an explicit choice, for tests.
    public init(writesPriorityPrefixes: Bool) {
        self.writesPriorityPrefixes = writesPriorityPrefixes
    }

    /// Writes `text` (one line; embedded newlines are written as they are) with the given priority.
    public func write(_ text: String, priority: SyslogPriority) {
        var line: String
        if writesPriorityPrefixes {
            line = "<\(priority.rawValue)>\(text)\n"
        } else {
            line = "\(Self.localTime()) \(Self.word(for: priority)) \(text)\n"
        }
        line.withUTF8 { bytes in
            var offset = 0
            while offset < bytes.count {
                let written = Glibc.write(2, bytes.baseAddress! + offset, bytes.count - offset)
                if written < 0 {
                    if errno == EINTR { continue }
                    return
                }
                offset += written
            }
        }
    }

    /// `true` when `JOURNAL_STREAM` (`DEVICE:INODE`) matches standard error, as sd_journal_stream_fd's contract says.
    public static func standardErrorIsJournal() -> Bool {
        guard let value = getenv("JOURNAL_STREAM").map({ String(cString: $0) }) else { return false }
        let parts = value.split(separator: ":")
        guard parts.count == 2, let device = UInt64(parts[0]), let inode = UInt64(parts[1]) else { return false }
        var info = stat()
        guard fstat(2, &info) == 0 else { return false }
        return UInt64(info.st_dev) == device && UInt64(info.st_ino) == inode
    }

    private static func word(for priority: SyslogPriority) -> String {
        switch priority {
        case .emergency, .alert, .critical: "crit "
        case .error: "error"
        case .warning: "warn "
        case .notice: "note "
        case .info: "info "
        case .debug: "debug"
        }
    }

    private static func localTime() -> String {
        var now = timespec()
        clock_gettime(CLOCK_REALTIME, &now)
        var parts = tm()
        var seconds = now.tv_sec
        localtime_r(&seconds, &parts)
        func two(_ value: Int32) -> String { value < 10 ? "0\(value)" : "\(value)" }
        let millis = Int(now.tv_nsec / 1_000_000)
        let millisText = millis < 10 ? "00\(millis)" : millis < 100 ? "0\(millis)" : "\(millis)"
        return "\(two(parts.tm_hour)):\(two(parts.tm_min)):\(two(parts.tm_sec)).\(millisText)"
    }
}
