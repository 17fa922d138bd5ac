internal import CSupervisorShims
internal import SystemdSupport

#if canImport(Glibc)
import Glibc
#endif

/// A config file parsed first in a child process, so that a crash of the parser fails one reload instead of the
/// running supervisor and every instance with it.
///
/// The TOML parser is C++ (toml++, through TOMLKit) and some malformed files make it fail an assertion, which aborts
/// the process: on a reload that would be a full outage, and under `Restart=on-failure` a crash loop on the same file.
/// So a reload reads the file's bytes once, hands them to `supervisor parse-config` (the same binary, through
/// `/proc/self/exe`) on its standard input, and parses them in process only after that child parsed them and exited
/// 0. The parser is deterministic: bytes it survived once it survives again. The child's standard output and error,
/// an error message or the text of an assertion, come back in a memory file.
package struct ParserCheck {
    /// How long the child may take: a parse takes milliseconds, so this only ends a parser that loops.
    static let timeout: Duration = .seconds(10)
    /// The most of the child's output read back.
    static let outputLimit = 16 * 1024

    let pid: Int32
    let path: String
    let bytes: [UInt8]
    private let output: Int32

    /// What the child's exit says.
    enum Verdict: Equatable {
        /// It parsed the bytes; parse them in process now.
        case parsed
        /// It refused them with this message (a TOML error, an unknown key): the same as parsing in process says.
        case refused(String)
        /// It crashed or was killed: the message says how, with its last output line.
        case crashed(String)
    }

    /// Starts `supervisor parse-config PATH`, this same binary, reading `bytes` on its standard input.
    ///
    /// - Throws: ``SystemCallError`` when the memory files cannot be made or the program cannot start.
    static func start(path: String, bytes: [UInt8], nullDevice: Int32) throws(SystemCallError) -> ParserCheck {
        try start(
            program: "/proc/self/exe", arguments: ["supervisor", "parse-config", path], path: path, bytes: bytes,
            nullDevice: nullDevice)
    }

    /// Starts `program` (with `arguments`, `arguments[0]` its name) reading `bytes` on its standard input.
    ///
    /// - Throws: ``SystemCallError`` when the memory files cannot be made or the program cannot start.
    static func start(
        program: String,
        arguments: [String],
        path: String,
        bytes: [UInt8],
        nullDevice: Int32
    ) throws(SystemCallError) -> ParserCheck {
        let input = try memoryFile("supervisor-config", holding: bytes)
        defer { Glibc.close(input) }
        let output = try systemCall("memfd_create") { supervisor_memfd("supervisor-config-check") }
        do throws(SystemCallError) {
            let process = try ProcessSpawner.spawn(
                path: program, arguments: arguments, environment: ["PATH=/usr/sbin:/usr/bin:/sbin:/bin"],
                standardInput: input, outputTo: output, nullDevice: nullDevice)
            return ParserCheck(pid: process.pid, path: path, bytes: bytes, output: output)
        } catch {
            Glibc.close(output)
            throw error
        }
    }

    /// For a process that reaps its own children (`supervisor check`): parses the file at `path` in a child and
    /// waits for it, so that a crash of the parser is reported as an error instead of ending the caller.
    ///
    /// - Throws: ``ConfigurationError`` with what the child said, or how it crashed.
    package static func parseInChild(path: String) throws(ConfigurationError) {
        let bytes = try ConfigurationFile.read(path: path)
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { Glibc.close(null) }
        let check: ParserCheck
        do {
            check = try start(path: path, bytes: bytes, nullDevice: null)
        } catch {
            throw ConfigurationError("cannot start the config parser for \(path): \(error)")
        }
        defer { check.close() }
        var status: Int32 = 0
        while waitpid(check.pid, &status, 0) < 0 && errno == EINTR {}
        switch check.verdict(ExitStatus(waitStatus: status)) {
        case .parsed: return
        case .refused(let message): throw ConfigurationError(message)
        case .crashed(let message): throw ConfigurationError("\(message); please report the file as a bug")
        }
    }

    /// Reads what the child wrote and says what its exit means. Call once, after it was reaped.
    func verdict(_ status: ExitStatus) -> Verdict {
        let text = readOutput()
        switch status {
        case .exited(code: 0):
            return .parsed
        case .exited(code: 1) where !text.isEmpty:
            return .refused(text)
        default:
            let last = text.split(separator: "\n").last.map { ": \($0)" } ?? ""
            return .crashed("the config parser \(status) on \(path)\(last)")
        }
    }

    /// Closes the memory file of its output.
    func close() {
        Glibc.close(output)
    }

    /// What the child wrote, trailing blanks trimmed. Read after it was reaped.
    func outputText() -> String { readOutput() }

    private func readOutput() -> String {
        var buffer = [UInt8](repeating: 0, count: Self.outputLimit)
        let count = buffer.withUnsafeMutableBytes { pread(output, $0.baseAddress, $0.count, 0) }
        guard count > 0 else { return "" }
        let text = String(decoding: buffer[0..<count], as: UTF8.self)
        return String(text.trimmingSuffix { $0 == "\n" || $0 == " " })
    }
}

extension StringProtocol {
    fileprivate func trimmingSuffix(while predicate: (Character) -> Bool) -> SubSequence {
        var end = endIndex
        while end > startIndex, predicate(self[index(before: end)]) { end = index(before: end) }
        return self[startIndex..<end]
    }
}

/// A memory file (close-on-exec) that holds `bytes`, positioned at its start: what a child reads as its standard
/// input, or what an in-place upgrade hands over.
///
/// - Throws: ``SystemCallError`` of `memfd_create` or `write`.
func memoryFile(_ name: String, holding bytes: [UInt8]) throws(SystemCallError) -> Int32 {
    let fd = try systemCall("memfd_create") { supervisor_memfd(name) }
    var written = 0
    while written < bytes.count {
        let count = bytes.withUnsafeBytes { write(fd, $0.baseAddress! + written, $0.count - written) }
        if count < 0 && errno == EINTR { continue }
        guard count > 0 else {
            let error = SystemCallError(call: "write", errno: errno, subject: "memfd \(name)")
            Glibc.close(fd)
            throw error
        }
        written += count
    }
    _ = lseek(fd, 0, SEEK_SET)
    return fd
}
