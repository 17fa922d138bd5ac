import ArgumentParser
import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// Sends `command` to the supervisor `options` point at, prints each progress line as it arrives (on standard
/// output, or the descriptor `progressTo`), and returns the final result (`nil` when the connection closed without
/// one).
func sendPrintingProgress(
    _ request: ControlRequest, to options: ClientOptions, progressTo descriptor: Int32 = 1
) throws -> ControlResult? {
    var result: ControlResult?
    try send(request, to: options) { reply in
        if let progress = reply.progress { writeAll(descriptor, progress + "\n") }
        if let final = reply.result { result = final }
    }
    return result
}

/// Sends `command` and hands every reply to `onReply`; connection problems become a message for the user.
func send(_ request: ControlRequest, to options: ClientOptions, onReply: (ControlReply) -> Void) throws {
    let client: ControlClient
    let timeout: Duration?
    do {
        client = try options.client(environment: SystemInfo.environment())
        timeout = try options.callTimeout(for: request.command)
    } catch {
        throw ValidationFailure(error.message)
    }
    do {
        try client.send(request, timeout: timeout, onReply: onReply)
    } catch {
        throw ValidationFailure(error.description)
    }
}

/// An error whose message is shown as it is, with exit status 1.
struct ValidationFailure: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// Writes a line to standard output at once (progress must show while a reload runs, even through a pipe).
func printLine(_ text: String) {
    writeAll(1, text + "\n")
}

/// Writes a line to standard error.
func printError(_ text: String) {
    writeAll(2, text + "\n")
}

func writeAll(_ fd: Int32, _ text: String) {
    let bytes = Array(text.utf8)
    var offset = 0
    while offset < bytes.count {
        let written = bytes[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
        if written < 0 && errno == EINTR { continue }
        guard written > 0 else { return }
        offset += written
    }
}
