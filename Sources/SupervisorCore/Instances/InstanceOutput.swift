import Dispatch
import Synchronization
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// Reads an instance's stdout and stderr, writes each line to the supervisor's standard error with the instance's
/// label (`[app#0 g7 pid 4312] …`), and keeps the last lines for error reports.
///
/// A line that starts with an sd-daemon priority prefix (`<3>`) keeps that priority in the journal, up to
/// ``highestPriority``: `<0>` to `<2>` (emergency, alert, critical) are the host's to raise, not an instance's (journald
/// writes emergencies to every terminal), and become errors. Control characters are escaped (``PrintableText``), so
/// a line cannot drive a terminal or fake a line of the supervisor's. Very long lines are cut at
/// ``maximumLineLength`` so a program that floods without newlines cannot grow the supervisor's memory.
final class InstanceOutput: Sendable {
    static let keptLines = 20
    static let maximumLineLength = 8192
    /// The most severe priority an instance's line keeps.
    static let highestPriority = SyslogPriority.error

    private struct State {
        var partial: [UInt8] = []
        var recent: [String] = []
        var closed = false
        /// Not read during an in-place upgrade (``pause()``).
        var paused = false
    }

    private let fd: Int32
    private let label: String
    private let log: StandardErrorLog
    private let queue: DispatchQueue
    private let state = Mutex(State())
    // Dispatch sources are thread-safe objects; Dispatch on Linux does not mark the protocol Sendable.
    nonisolated(unsafe) private let source: any DispatchSourceRead

    /// Starts reading `fd` (which this object now owns and closes at end of file). After an in-place upgrade,
    /// `lastLines` and `partialLine` are what the program before had read.
    init(
        fd: Int32,
        label: String,
        log: StandardErrorLog,
        queue: DispatchQueue,
        lastLines: [String] = [],
        partialLine: [UInt8] = []
    ) {
        self.fd = fd
        self.label = label
        self.log = log
        self.queue = queue
        state.withLock { state in
            state.recent = lastLines
            state.partial = partialLine
        }
        self.source = DispatchSource.makeReadSource(fileDescriptor: fd, queue: queue)
        source.setEventHandler { [weak self] in self?.readAvailable() }
        source.setCancelHandler { Glibc.close(fd) }
        source.activate()
    }

    /// The last lines the instance wrote, oldest first.
    var lastLines: [String] { state.withLock { $0.recent } }

    /// What was read of a line not ended yet.
    var partialLine: [UInt8] { state.withLock { $0.partial } }

    /// The pipe, for an in-place upgrade to hand over.
    var descriptor: Int32 { fd }

    /// Stops reading (for an in-place upgrade): the output waits in the pipe for the next program. Returns whether
    /// it was read until now.
    @discardableResult
    func pause() -> Bool {
        state.withLock { state in
            guard !state.closed, !state.paused else { return false }
            state.paused = true
            source.suspend()
            return true
        }
    }

    /// Reads again after ``pause()``.
    func unpause() {
        state.withLock { state in
            guard state.paused else { return }
            state.paused = false
            source.resume()
        }
    }

    /// Reads whatever is already in the pipe now, so that lines written just before the process exited are logged
    /// and kept before its exit is reported.
    func drain() {
        queue.sync { readAvailable() }
    }

    /// Stops reading and closes the pipe (a descendant of the instance may still hold its write end).
    func close() {
        queue.sync { finish() }
    }

    /// How much one turn reads at most. The queue is shared with notify sockets and signals: an instance that writes
    /// faster than this supervisor reads must not keep them waiting (the source fires again while data is left).
    static let maximumReadPerTurn = 256 * 1024

    private func readAvailable() {
        // After the source is cancelled the descriptor number may belong to another file already.
        guard !state.withLock({ $0.closed }) else { return }
        var buffer = [UInt8](repeating: 0, count: 65_536)
        var total = 0
        while total < Self.maximumReadPerTurn {
            let count = buffer.withUnsafeMutableBytes { Glibc.read(fd, $0.baseAddress, $0.count) }
            if count > 0 {
                consume(buffer[0..<count])
                total += count
                continue
            }
            if count == 0 || (errno != EINTR && errno != EAGAIN) { finish() }
            if count < 0 && errno == EINTR { continue }
            return
        }
    }

    private func consume(_ bytes: ArraySlice<UInt8>) {
        let lines: [[UInt8]] = state.withLock { state in
            var complete: [[UInt8]] = []
            for byte in bytes {
                if byte == UInt8(ascii: "\n") {
                    complete.append(state.partial)
                    state.partial.removeAll(keepingCapacity: true)
                } else {
                    state.partial.append(byte)
                    if state.partial.count >= Self.maximumLineLength {
                        complete.append(state.partial)
                        state.partial.removeAll(keepingCapacity: true)
                    }
                }
            }
            return complete
        }
        for line in lines { emit(line) }
    }

    private func finish() {
        let remainder: [UInt8]? = state.withLock { state in
            guard !state.closed else { return nil }
            state.closed = true
            defer { state.partial = [] }
            return state.partial
        }
        guard let remainder else { return }
        if !remainder.isEmpty { emit(remainder) }
        // A suspended source never runs its cancel handler, which closes the pipe.
        let wasPaused = state.withLock { state in
            defer { state.paused = false }
            return state.paused
        }
        if wasPaused { source.resume() }
        source.cancel()
    }

    private func emit(_ bytes: [UInt8]) {
        var line = bytes[...]
        var priority = SyslogPriority.info
        if line.count >= 3, line[line.startIndex] == UInt8(ascii: "<"), line[line.startIndex + 2] == UInt8(ascii: ">"),
            let parsed = SyslogPriority(rawValue: Int(line[line.startIndex + 1]) - Int(UInt8(ascii: "0")))
        {
            priority = max(parsed, Self.highestPriority)
            line = line.dropFirst(3)
        }
        if line.last == UInt8(ascii: "\r") { line = line.dropLast() }
        let text =
            PrintableText.isPlain(line)
            ? String(decoding: line, as: UTF8.self) : PrintableText.escaped(String(decoding: line, as: UTF8.self))
        state.withLock { state in
            state.recent.append(text)
            if state.recent.count > Self.keptLines { state.recent.removeFirst(state.recent.count - Self.keptLines) }
        }
        log.write("\(label) \(text)", priority: priority)
    }
}
