/// The fields of `/proc/PID/stat` the supervisor needs.
package struct ProcessStat: Equatable, Sendable {
    package let pid: Int32
    /// The program name, at most 15 bytes, as the kernel keeps it.
    package let command: String
    package let parentPID: Int32
    package let processGroup: Int32
    package let session: Int32
    /// The nice value (field 19), `nil` when the line stops before it.
    package let nice: Int32?

    /// Parses one `/proc/PID/stat` line. The command may hold spaces and parentheses, so fields are counted from the
    /// last `)`.
    package init?(statLine: String) {
        guard let open = statLine.firstIndex(of: "("), let close = statLine.lastIndex(of: ")"),
            let pid = Int32(statLine[..<open].trimmingSpaces)
        else { return nil }
        let fields = statLine[statLine.index(after: close)...].split(separator: " ")
        // state ppid pgrp session …
        guard fields.count >= 4, let parent = Int32(fields[1]), let group = Int32(fields[2]),
            let session = Int32(fields[3])
        else { return nil }
        self.pid = pid
        self.command = String(statLine[statLine.index(after: open)..<close])
        self.parentPID = parent
        self.processGroup = group
        self.session = session
        // Fields 3 (state) to 19 (nice): the 17th after the command.
        nice = fields.count > 16 ? Int32(fields[16]) : nil
    }

    /// Reads `/proc/PID/stat`; `nil` when the process is gone.
    package static func read(pid: Int32) -> ProcessStat? {
        FileText.read("/proc/\(pid)/stat").flatMap(ProcessStat.init(statLine:))
    }
}

extension Substring {
    var trimmingSpaces: Substring {
        var text = self
        while text.first == " " { text.removeFirst() }
        while text.last == " " { text.removeLast() }
        return text
    }
}
