/// One sd_notify datagram, parsed the way systemd parses it (`man 3 sd_notify`).
///
/// Assignments are `KEY=VALUE` lines. Unknown keys and lines without `=` are ignored, as systemd ignores them, so a
/// program written for a newer systemd keeps working. A known key with a value that does not parse is ignored and
/// reported in ``problems``; the rest of the datagram still counts.
package struct NotifyMessage: Equatable, Sendable {
    /// What `WATCHDOG=` asked for.
    package enum WatchdogRequest: Equatable, Sendable {
        /// `WATCHDOG=1`: the program is alive.
        case ping
        /// `WATCHDOG=trigger`: the program asks to be treated as hung.
        case trigger
    }

    /// `READY=1`.
    package var ready = false
    /// `STOPPING=1`.
    package var stopping = false
    /// `RELOADING=1`.
    package var reloading = false
    /// `STATUS=`: free-form text, valid UTF-8.
    package var status: String?
    /// `MAINPID=`.
    package var mainPID: Int32?
    /// `WATCHDOG=1` or `WATCHDOG=trigger`.
    package var watchdog: WatchdogRequest?
    /// `WATCHDOG_USEC=`: the program asks for a different watchdog interval.
    package var watchdogMicroseconds: UInt64?
    /// `EXTEND_TIMEOUT_USEC=`.
    package var extendTimeoutMicroseconds: UInt64?
    /// `ERRNO=`.
    package var errorNumber: Int32?
    /// `BARRIER=1`: the sender waits for the descriptor it sent to be closed.
    package var barrier = false
    /// `MONOTONIC_USEC=`, sent with `RELOADING=1`.
    package var monotonicMicroseconds: UInt64?
    /// Keys this parser does not act on, in order.
    package var ignoredKeys: [String] = []
    /// Known keys whose values were ignored, with the reason, e.g. `MAINPID=abc is not a pid`.
    package var problems: [String] = []

    package init() {}

    /// Why a whole datagram was dropped.
    package enum ParseError: Error, Equatable, CustomStringConvertible {
        case empty
        case containsNUL

        package var description: String {
            switch self {
            case .empty: "the datagram is empty"
            case .containsNUL: "the datagram contains a NUL byte"
            }
        }
    }

    /// Parses one datagram's bytes.
    ///
    /// - Throws: ``ParseError`` when the datagram is empty or holds a NUL byte (sd_notify sends C strings).
    package static func parse(_ bytes: some Collection<UInt8>) throws(ParseError) -> NotifyMessage {
        guard !bytes.isEmpty else { throw .empty }
        guard !bytes.contains(0) else { throw .containsNUL }
        var message = NotifyMessage()
        for line in bytes.split(separator: UInt8(ascii: "\n"), omittingEmptySubsequences: true) {
            guard let equals = line.firstIndex(of: UInt8(ascii: "=")) else {
                message.ignoredKeys.append(String(decoding: line, as: UTF8.self))
                continue
            }
            let key = String(decoding: line[line.startIndex..<equals], as: UTF8.self)
            let valueBytes = line[line.index(after: equals)...]
            message.assign(key: key, valueBytes: valueBytes)
        }
        return message
    }

    private mutating func assign(key: String, valueBytes: some Collection<UInt8>) {
        guard let value = String(validating: valueBytes, as: UTF8.self) else {
            problems.append("\(key)= is not valid UTF-8")
            return
        }
        switch key {
        case "READY": ready = isOne(key, value) || ready
        case "STOPPING": stopping = isOne(key, value) || stopping
        case "RELOADING": reloading = isOne(key, value) || reloading
        case "BARRIER": barrier = isOne(key, value) || barrier
        case "STATUS": status = value
        case "MAINPID":
            if let pid = Int32(value), pid > 0 {
                mainPID = pid
            } else {
                problems.append("MAINPID=\(value) is not a pid")
            }
        case "WATCHDOG":
            switch value {
            case "1": watchdog = .ping
            case "trigger": watchdog = .trigger
            default: problems.append("WATCHDOG=\(value) is neither 1 nor trigger")
            }
        case "WATCHDOG_USEC": watchdogMicroseconds = number(key, value) ?? watchdogMicroseconds
        case "EXTEND_TIMEOUT_USEC": extendTimeoutMicroseconds = number(key, value) ?? extendTimeoutMicroseconds
        case "MONOTONIC_USEC": monotonicMicroseconds = number(key, value) ?? monotonicMicroseconds
        case "ERRNO":
            if let code = Int32(value), code >= 0 {
                errorNumber = code
            } else {
                problems.append("ERRNO=\(value) is not an errno")
            }
        default:
            ignoredKeys.append(key)
        }
    }

    private mutating func isOne(_ key: String, _ value: String) -> Bool {
        if value == "1" { return true }
        problems.append("\(key)=\(value) is not 1")
        return false
    }

    private mutating func number(_ key: String, _ value: String) -> UInt64? {
        if let parsed = UInt64(value) { return parsed }
        problems.append("\(key)=\(value) is not a number")
        return nil
    }
}
