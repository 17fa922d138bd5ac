import Dispatch
import Foundation
import Synchronization
import SystemdSupport
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// A counter that escaping closures may share.
private final class Counter: Sendable {
    private let state = Mutex(0)
    func add() { state.withLock { $0 += 1 } }
    var value: Int { state.withLock { $0 } }
}

@Suite("Hardening: isolated parsing, flow control, pidfds, escaping and redaction")
struct HardeningTests {
    /// Runs a ParserCheck child to its end and returns its verdict.
    private func verdict(of script: String, bytes: [UInt8] = Array("a = 1\n".utf8)) throws -> ParserCheck.Verdict {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let check = try ParserCheck.start(
            program: "/bin/sh", arguments: ["sh", "-c", script], path: "app.toml", bytes: bytes, nullDevice: null)
        defer { check.close() }
        var status: Int32 = 0
        #expect(waitpid(check.pid, &status, 0) == check.pid)
        return check.verdict(ExitStatus(waitStatus: status))
    }

    @Test("a parser child that aborts is a crash with its last line; one that exits 1 a refusal with its output")
    func parserCheckVerdicts() throws {
        let crash = try verdict(
            of: "cat >/dev/null; echo 'toml.hpp:15481: parse_key: Assertion failed.' >&2; kill -ABRT $$")
        #expect(
            crash
                == .crashed(
                    "the config parser was killed by SIGABRT on app.toml: toml.hpp:15481: parse_key: Assertion failed."),
            "\(crash)")
        // The bytes arrive on its standard input; what it writes comes back.
        #expect(try verdict(of: "cat; exit 1", bytes: Array("bad key\n".utf8)) == .refused("bad key"))
        #expect(try verdict(of: "exit 0") == .parsed)
        #expect(try verdict(of: "exit 3") == .crashed("the config parser exited with status 3 on app.toml"))
    }

    @Test("a byte-order mark is skipped before the header guard, so [=a] after one is refused, not a crash")
    func byteOrderMark() throws {
        let bom: [UInt8] = [0xEF, 0xBB, 0xBF]
        #expect(throws: ConfigurationError.self) { try ConfigurationFile.parse(bom + Array("[=a]\n".utf8), path: "a") }
        #expect(throws: ConfigurationError.self) { try ConfigurationFile.parse("\u{FEFF}[[[a]]]\n", path: "a") }
        // More marks after the first, and other characters toml++ takes for white space (found by fuzz-config).
        for text in ["\u{FEFF}\u{FEFF}\u{FEFF}[[[[s", "\u{3000}[=a]", "x = 1\n\u{A0}\u{2009}[[=a]]"] {
            #expect(KnownParserCrashes.lineOfHeaderWithoutKey(in: text) != nil, "\(text)")
        }
        let layer = try ConfigurationFile.parse(bom + Array("instances = 3\n".utf8), path: "a")
        #expect(layer[Settings.instances] == 3)
    }

    @Test(
        "'}' where an array value belongs, which made toml++ abort (found by fuzz-config), is refused naming the line",
        arguments: ["a = [}\n", "a = [}]\n", "a = [1,}]\n", "a = [ # c\n }]\n", "a = [[}]]\n", "b = 1\na = [\n\n  }]"])
    func closingBraceInArray(text: String) {
        #expect(throws: ConfigurationError.self) { try ConfigurationFile.parse(text, path: "app.toml") }
        #expect(KnownParserCrashes.first(in: text)?.problem == "'}' where an array value belongs")
    }

    @Test(
        "U+0085, U+2028 or U+2029 where an array value belongs (found by fuzz-config) is refused, not a crash",
        arguments: ["n-=[\u{85}", "a = [1, \u{2028}]\n", "a = [ \u{2029} 1]\n", "a = [\n  é]"])
    func lineSeparatorInArray(text: String) {
        #expect(throws: ConfigurationError.self) { try ConfigurationFile.parse(text, path: "app.toml") }
        #expect(KnownParserCrashes.first(in: text)?.problem == "an array value cannot start with a non-ASCII character")
    }

    @Test(
        "dates and times, malformed ones of which made toml++ abort (found by fuzz-config), are refused naming the line",
        arguments: [
            "d = 2024-01-01 5 \n", "l=0--------- 5 ", "a = [1979-05-27 0]\n", "x = 1\nd = 2024-01-01 5#c",
            "l=0\u{1B}---\u{01}1-en 5 ", "l=0ééé-éé-éé 5\u{2028}", "n=6362-04-(= 9\u{FEFF}k", "d = 2024-01-01 5",
            "n=4611-04-05timeou--:t", "t = 07:32:00", "d = 1979-05-27T07:32:00Z", "a = [1, -12:00]",
        ])
    func dateThenOneDigit(text: String) {
        #expect(throws: ConfigurationError.self) { try ConfigurationFile.parse(text, path: "app.toml") }
        #expect(
            KnownParserCrashes.first(in: text)?.problem.hasPrefix("dates and times are not settings") == true, "\(text)"
        )
    }

    @Test("numbers, signs, exponents, quoted dates and keys with dashes are not taken for dates")
    func datesThatParse() {
        for text in [
            "n = 1979 \n", "s = \"2024-01-01 5 \"", "f = -1.5e-3", "g = +2E-7", "i = -12", "2024-01-01 = 1",
            "[environment]\n1979-05-27 = \"x\"", "a = [1, -2, 3e-1]", "t = {1-2 = 3}",
        ] {
            #expect(KnownParserCrashes.first(in: text) == nil, "\(text)")
        }
    }

    @Test("arrays and inline tables that toml++ parses are not taken for that case")
    func arraysThatParse() throws {
        for text in [
            "a = [{b = 1}]", "a = [1, {}]", "a = [ ]", "a = [\n  1, # one\n  2,\n]", "a = \"[}\"",
            "[t]\nb = [[1], [2]]",
        ] {
            #expect(KnownParserCrashes.first(in: text) == nil, "\(text)")
        }
    }

    @Test("a notify socket passes on at most 32 datagrams not yet consumed; the rest wait in the kernel, none lost")
    func notifyFlowControl() throws {
        let directory = "/tmp/supervisor-flow-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        #expect(mkdir(directory, 0o700) == 0)
        defer { rmdir(directory) }
        let received = Counter()
        let queue = DispatchQueue(label: "flow")
        let socket = try NotifySocket(path: "\(directory)/n.sock", queue: queue) { _ in received.add() }
        let sender = Glibc.socket(AF_UNIX, Int32(SOCK_DGRAM.rawValue), 0)
        defer { close(sender) }
        _ = try UnixSocketAddress.withAddress(path: "\(directory)/n.sock") { address, length throws(SystemCallError) in
            try systemCall("connect") { connect(sender, address, length) }
        }
        // A blocking sender, as sd_notify is: it waits once the kernel's queue (net.unix.max_dgram_qlen) is full.
        let sent = Counter()
        let sending = Thread {
            for _ in 0..<100 where send(sender, "STATUS=x", 8, 0) == 8 { sent.add() }
        }
        sending.start()
        usleep(300_000)
        #expect(received.value == NotifySocket.inFlightLimit)
        #expect(sent.value < 100, "the sender was not slowed")
        for _ in 0..<200 where received.value < 100 {
            socket.consumed()
            usleep(2_000)
        }
        #expect(received.value == 100)
        #expect(sent.value == 100)
        socket.close()
    }

    @Test("a pidfd handle signals its process, and says when it has exited, even once the number is reaped")
    func processHandle() throws {
        let null = open("/dev/null", O_RDWR | O_CLOEXEC)
        defer { close(null) }
        let pid = try ProcessSpawner.spawn(
            path: "/bin/sleep", arguments: ["sleep", "30"], environment: [], discardOutput: true, nullDevice: null
        ).pid
        let exited = Counter()
        let opened = ProcessHandle.open(pid, onExit: (DispatchQueue(label: "exit"), { exited.add() }))
        let handle = try #require(opened)
        #expect(handle.isPinned)
        #expect(handle.isAlive)
        #expect(handle.signal(SIGKILL))
        var status: Int32 = 0
        #expect(waitpid(pid, &status, 0) == pid)
        #expect(!handle.isAlive)
        #expect(!handle.signal(SIGTERM))
        #expect(errno == ESRCH)
        usleep(100_000)
        #expect(exited.value == 1)
    }

    @Test(
        "instance text: control characters, C1 and bidi overrides are escaped; tabs and other text kept; a limit cuts")
    func printableText() {
        #expect(PrintableText.escaped("red\u{1B}[31m\u{07}") == #"red\x1B[31m\x07"#)
        #expect(PrintableText.escaped("a\tb é ✓") == "a\tb é ✓")
        #expect(PrintableText.escaped("\u{85}\u{202E}x") == #"\u{0085}\u{202E}x"#)
        #expect(PrintableText.escaped("abcdef", limit: 3) == "abc…")
        #expect(PrintableText.isPlain(Array("plain line\t1".utf8)))
        #expect(!PrintableText.isPlain(Array("é".utf8)))
    }

    @Test("/status redaction: arguments counted, exec: hidden, URLs without query and credentials")
    func redaction() {
        #expect(StatusReport.redactProbe("exec:/usr/bin/check --token s3cret") == "exec:(not shown)")
        #expect(
            StatusReport.redactProbe("http:http://127.0.0.1:{port}/ready?token=s3cret")
                == "http:http://127.0.0.1:{port}/ready")
        #expect(
            StatusReport.redactURLs(in: "ready probe: GET http://user:pw@127.0.0.1:9000/ready?key=1: 200 in 3 ms")
                == "ready probe: GET http://127.0.0.1:9000/ready: 200 in 3 ms")
        #expect(StatusReport.redactURLs(in: "notify, httpd and https://h/p#frag") == "notify, httpd and https://h/p")
    }

    @Test("lifeline: a group's main process is listed with =GROUP PID, and only for a listed group")
    func lifelineMainLine() {
        var registry = Lifeline.Registry()
        registry.apply(Lifeline.watchLine(group: 4312, signal: 15, drainTimeout: .seconds(1)).dropLast())
        let line = Lifeline.mainLine(group: 4312, mainPID: 4400)
        #expect(line == "=4312 4400\n")
        let listed = registry.apply(line.dropLast())
        #expect(listed)
        #expect(registry.groups[4312]?.mainPID == 4400)
        let unknownGroup = registry.apply("=999 4400")
        #expect(!unknownGroup)
        let init1 = registry.apply("=4312 1")
        #expect(!init1)
    }
}
