import Foundation
import NIOCore
import NIOPosix
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// Malformed input to the three parsers that read what other programs write: the sd_notify datagram parser (any
/// process of an instance can send anything), the control protocol (one JSON line per connection) and the config
/// file loader. Each case is a mutation of a valid input; every one must end in a value or an error, never a crash.
///
/// The cases come from a seeded generator, so a failure names the seed and the case number that reproduce it. Set
/// `FUZZ_SEED` to explore other seeds, `FUZZ_CASES` for more cases.
@Suite("malformed input never crashes a parser")
struct FuzzTests {
    static let seed = UInt64(ProcessInfo.processInfo.environment["FUZZ_SEED"] ?? "") ?? 0x5EED_0006
    static let cases = Int(ProcessInfo.processInfo.environment["FUZZ_CASES"] ?? "") ?? 4000

    /// What names a failing case; built only when an expectation fails.
    static func context(seed: UInt64, _ number: Int, _ input: [UInt8]) -> () -> Comment {
        { Comment(rawValue: "seed \(seed), case \(number): \(Mutator.show(input))") }
    }

    // MARK: - sd_notify

    static let notifySeeds: [String] = [
        "READY=1",
        "READY=1\nSTATUS=serving on :8080\nMAINPID=4312",
        "STOPPING=1\nRELOADING=1\nMONOTONIC_USEC=123\nWATCHDOG=1\nWATCHDOG_USEC=5000000\nEXTEND_TIMEOUT_USEC=9000",
        "ERRNO=2\nBARRIER=1\nWATCHDOG=trigger\n",
        "FDSTORE=1\nX_CUSTOM=7\ngarbage\nREADY=1\n\n",
        "STATUS=caf\u{E9} \u{1F680} ready",
    ]

    static let notifyTokens: [String] = [
        "READY=", "STATUS=", "MAINPID=", "WATCHDOG=", "WATCHDOG_USEC=", "EXTEND_TIMEOUT_USEC=", "ERRNO=",
        "MONOTONIC_USEC=", "STOPPING=", "BARRIER=", "=", "\n", "==", "1", "trigger",
    ]

    @Test("sd_notify parser: thousands of mutated datagrams parse or are refused as empty or holding NUL")
    func notifyMessages() {
        var random = SeededGenerator(seed: Self.seed)
        let mutator = Mutator(seeds: Self.notifySeeds.map { Array($0.utf8) }, tokens: Self.notifyTokens)
        var outcomes = [0, 0]
        for number in 0..<Self.cases {
            let input = mutator.next(using: &random)
            let context = Self.context(seed: Self.seed, number, input)
            do {
                let message = try NotifyMessage.parse(input)
                outcomes[0] += 1
                #expect(!input.isEmpty && !input.contains(0), context())
                // What parsed is what the datagram said, line by line.
                let lines = input.split(separator: UInt8(ascii: "\n")).map { Array($0) }
                #expect(message.ready == lines.contains(Array("READY=1".utf8)), context())
                if let status = message.status {
                    #expect(lines.contains(Array("STATUS=\(status)".utf8)), context())
                }
                if let pid = message.mainPID { #expect(pid > 0, context()) }
                if let code = message.errorNumber { #expect(code >= 0, context()) }
            } catch {
                outcomes[1] += 1
                switch error {
                case .empty: #expect(input.isEmpty, context())
                case .containsNUL: #expect(input.contains(0), context())
                }
            }
        }
        // The mutations reach both outcomes, or the test would not test much.
        #expect(outcomes.allSatisfy { $0 > Self.cases / 20 }, "parsed / refused: \(outcomes)")
    }

    @Test("sd_notify parser: random assignments of known keys read back as sent, the last one of a key winning")
    func notifyRoundTrip() throws {
        var random = SeededGenerator(seed: Self.seed &+ 1)
        for number in 0..<Self.cases {
            var lines: [String] = []
            var ready = false
            var status: String?
            var mainPID: Int32?
            var usec: UInt64?
            for _ in 0..<Int.random(in: 1...6, using: &random) {
                switch Int.random(in: 0..<4, using: &random) {
                case 0:
                    lines.append("READY=1")
                    ready = true
                case 1:
                    let text = String(
                        (0..<Int.random(in: 0...40, using: &random)).map { _ in
                            Character(Unicode.Scalar(UInt8.random(in: 0x20...0x7e, using: &random)))
                        })
                    lines.append("STATUS=\(text)")
                    status = text
                case 2:
                    let pid = Int32.random(in: 1...Int32.max, using: &random)
                    lines.append("MAINPID=\(pid)")
                    mainPID = pid
                default:
                    let value = UInt64.random(in: 0...UInt64.max, using: &random)
                    lines.append("EXTEND_TIMEOUT_USEC=\(value)")
                    usec = value
                }
            }
            let message = try NotifyMessage.parse(Array(lines.joined(separator: "\n").utf8))
            let context = { Comment(rawValue: "seed \(Self.seed &+ 1), case \(number): \(lines)") }
            #expect(message.ready == ready, context())
            #expect(message.status == status, context())
            #expect(message.mainPID == mainPID, context())
            #expect(message.extendTimeoutMicroseconds == usec, context())
            #expect(message.problems.isEmpty, context())
        }
    }

    // MARK: - Control protocol

    static let controlSeeds: [String] = [
        #"{"command":"reload"}"#,
        #"{"command":"status"}"#,
        #"{ "command" : "stop", "extra": [1, 2.5e3, null, true, {"a": "b"}] }"#,
        #"{"progress":"started instance #0 (pid 4401, generation 2)"}"#,
        #"{"result":{"ok":false,"message":"rolled back","output":["| line one","| line \u00e9"]}}"#,
    ]

    static let controlTokens: [String] = [
        "{", "}", "[", "]", "\"", ":", ",", "\\", "\\u", "\\ud800", "null", "true", "1e999", "-0", "\"command\"",
        "\"reload\"", "\"result\"", "\"ok\"", "9999999999999999999999",
    ]

    @Test("control protocol: thousands of mutated request and reply lines decode or fail with an error")
    func controlLines() throws {
        var random = SeededGenerator(seed: Self.seed &+ 2)
        let mutator = Mutator(seeds: Self.controlSeeds.map { Array($0.utf8) }, tokens: Self.controlTokens)
        let decoder = JSONDecoder()
        var decoded = 0
        for number in 0..<Self.cases {
            let input = mutator.next(using: &random)
            let context = Self.context(seed: Self.seed &+ 2, number, input)
            // What the supervisor does with a request line, and what `supervisor reload` does with a reply line.
            if let request = try? decoder.decode(ControlRequest.self, from: Data(input)) {
                decoded += 1
                let again = try decoder.decode(ControlRequest.self, from: JSONEncoder().encode(request))
                #expect(again == request, context())
            }
            if let reply = try? decoder.decode(ControlReply.self, from: Data(input)) {
                let again = try decoder.decode(ControlReply.self, from: JSONEncoder().encode(reply))
                #expect(again == reply, context())
            }
        }
        #expect(decoded >= 10, "\(decoded) requests decoded")
        // Nesting far deeper than any parser's stack allows is refused, not followed.
        let deep =
            Array(repeating: UInt8(ascii: "["), count: 100_000) + Array(repeating: UInt8(ascii: "]"), count: 100_000)
        #expect(throws: (any Error).self) { try decoder.decode(ControlRequest.self, from: Data(deep)) }
        #expect(throws: (any Error).self) { try decoder.decode(ControlReply.self, from: Data(deep)) }
    }

    @Test("control socket: malformed request lines are each answered with an error, and the server keeps serving")
    func controlServerRefusesMalformedLines() async throws {
        let directory = NSTemporaryDirectory() + "supervisor-fuzz-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/control.sock"
        let server = try await ControlServer.bind(
            path: path, group: MultiThreadedEventLoopGroup.singleton,
            access: ControlAccess(ownerUID: getuid(), group: nil), name: "fuzz")
        let serving = Task {
            await server.serve { _, _ in
            } _: { request in
                AsyncStream { continuation in
                    continuation.yield(.result(ControlResult(ok: true, message: "did \(request.command.rawValue)")))
                    continuation.finish()
                }
            }
        }
        defer {
            server.stopAccepting()
            serving.cancel()
        }
        var random = SeededGenerator(seed: Self.seed &+ 3)
        let mutator = Mutator(seeds: Self.controlSeeds.prefix(3).map { Array($0.utf8) }, tokens: Self.controlTokens)
        let decoder = JSONDecoder()
        for number in 0..<300 {
            // One line per connection, as the protocol says: what comes after a newline is never read.
            var line = mutator.next(using: &random)
            if let newline = line.firstIndex(of: UInt8(ascii: "\n")) { line.removeSubrange(newline...) }
            let context = { Comment(rawValue: "case \(number): \(Mutator.show(line))") }
            let replies = try Self.exchange(path: path, line: line + [UInt8(ascii: "\n")])
            let expected = try? decoder.decode(ControlRequest.self, from: Data(line))
            if let expected {
                #expect(replies == [ControlReply.result(ControlResult(ok: true, message: "did \(expected.command)"))])
            } else {
                #expect(replies.count == 1, context())
                #expect(replies.first?.result?.ok == false, context())
                #expect(replies.first?.result?.message.hasPrefix("malformed control request") == true, context())
            }
        }
        let status = try Self.exchange(path: path, line: Array(#"{"command":"status"}"#.utf8) + [10])
        #expect(status == [ControlReply.result(ControlResult(ok: true, message: "did status"))])
    }

    /// Sends one line to the control socket and reads the reply lines until the server closes the connection.
    private static func exchange(path: String, line: [UInt8]) throws -> [ControlReply] {
        var lines: [ControlReply] = []
        // ControlClient only sends well-formed requests: write the raw line with a socket of our own.
        let fd = socket(AF_UNIX, Int32(SOCK_STREAM.rawValue) | Int32(SOCK_CLOEXEC.rawValue), 0)
        guard fd >= 0 else { throw FuzzError("socket: errno \(errno)") }
        defer { close(fd) }
        var address = sockaddr_un()
        address.sun_family = sa_family_t(AF_UNIX)
        withUnsafeMutableBytes(of: &address.sun_path) { raw in
            for (index, byte) in path.utf8.enumerated() { raw[index] = byte }
        }
        let connected = withUnsafePointer(to: &address) { pointer in
            pointer.withMemoryRebound(to: sockaddr.self, capacity: 1) {
                connect(fd, $0, socklen_t(MemoryLayout<sockaddr_un>.size))
            }
        }
        guard connected == 0 else { throw FuzzError("connect \(path): errno \(errno)") }
        var offset = 0
        while offset < line.count {
            let written = line[offset...].withUnsafeBytes { write(fd, $0.baseAddress, $0.count) }
            guard written > 0 else { throw FuzzError("write: errno \(errno)") }
            offset += written
        }
        var received: [UInt8] = []
        var buffer = [UInt8](repeating: 0, count: 4096)
        while true {
            let count = buffer.withUnsafeMutableBytes { read(fd, $0.baseAddress, $0.count) }
            guard count > 0 else { break }
            received += buffer[0..<count]
        }
        for reply in received.split(separator: UInt8(ascii: "\n")) {
            lines.append(try JSONDecoder().decode(ControlReply.self, from: Data(reply)))
        }
        return lines
    }

    // MARK: - Config file

    static let configSeed = """
        name = "app"
        instances = 4
        listen = ["127.0.0.1:8080", "[::1]:8080", "admin=127.0.0.1:9000"]
        listen-mode = "reuseport"
        kernel-migrate = "auto"
        backlog = 511
        ready = "http:http://127.0.0.1:{port}/ready"
        admin-port-base = 9100
        ready-timeout = "1m30s"
        watchdog-sec = 2.5
        liveness = "http:http://127.0.0.1:{port}/health"
        liveness-interval = "500ms"
        liveness-threshold = 3
        health = "127.0.0.1:9200"
        min-ready = 2
        shutdown-delay = "3s"
        stop-signal = "RTMIN+2"
        drain-timeout = 30
        max-surge = "all"
        control-socket = "/run/app.sock"
        command = ["/bin/sh", "-c", "exec server --port 8080"]

        [environment]
        LOG_LEVEL = "info"
        WORKERS = 8
        DEBUG = false
        """

    static let configTokens: [String] = [
        "[", "]", "[[", "]]", "{", "}", "=", "\"", "'", "'''", "\"\"\"", "#", "\n", ",", ".", "\\", "\\u0000",
        "inf", "nan", "-0", "0x", "1979-05-27T07:32:00Z", "9223372036854775807", "-9223372036854775808",
        "99999999999999999999", "1e308", "ready-timeout = ", "stop-signal = ", "RTMIN+", "SIG", "instances = ",
        "listen = ", "[environment]", "command = ", "{port}", "{slot}", "http://", "exec:", ":65535", ":0",
    ]

    @Test("config loader: thousands of mutated files load or are refused with an error naming the file")
    func configurationFiles() throws {
        let directory = NSTemporaryDirectory() + "supervisor-fuzz-\(getpid())-\(UInt32.random(in: 0...UInt32.max))"
        try FileManager.default.createDirectory(atPath: directory, withIntermediateDirectories: true)
        defer { try? FileManager.default.removeItem(atPath: directory) }
        let path = "\(directory)/app.toml"
        var random = SeededGenerator(seed: Self.seed &+ 4)
        let mutator = Mutator(seeds: [Array(Self.configSeed.utf8)], tokens: Self.configTokens)
        var outcomes = (loaded: 0, refusedByFile: 0, refusedByValue: 0)
        // Three in four: a config case costs more than the others (TOML, then every value checked).
        for number in 0..<(Self.cases * 3 / 4) {
            let input = mutator.next(using: &random)
            let context = Self.context(seed: Self.seed &+ 4, number, input)
            try Data(input).write(to: URL(fileURLWithPath: path))
            let layer: ConfigurationLayer
            do {
                layer = try ConfigurationFile.load(path: path)
            } catch {
                outcomes.refusedByFile += 1
                #expect(error.message.contains(path), context())
                continue
            }
            do {
                let configuration = try Configuration(layer, defaultInstances: 2)
                outcomes.loaded += 1
                #expect((1...1024).contains(configuration.instances), context())
                #expect(configuration.readyTimeout > .zero && configuration.drainTimeout > .zero, context())
                #expect(!configuration.command.isEmpty, context())
                #expect(configuration.stopSignal != .kill && (1...64).contains(configuration.stopSignal.rawValue))
            } catch {
                outcomes.refusedByValue += 1
                #expect(!error.message.isEmpty, context())
            }
        }
        #expect(outcomes.loaded > 0 && outcomes.refusedByFile > 0 && outcomes.refusedByValue > 0, "\(outcomes)")
        // Nesting deeper than the TOML parser allows is an error too.
        let deep = "x = " + String(repeating: "[", count: 50_000) + String(repeating: "]", count: 50_000)
        #expect(throws: ConfigurationError.self) { try ConfigurationFile.parse(deep, path: "deep.toml") }
        let deepTables = String(repeating: "a.", count: 20_000) + "b = 1"
        _ = try? ConfigurationFile.parse(deepTables, path: "deep.toml")
    }

    @Test("stop-signal: out-of-range realtime offsets are refused, not wrapped around or overflowed")
    func realtimeSignalOffsets() {
        #expect(UnixSignal(name: "RTMIN+30")?.rawValue == 64)
        #expect(UnixSignal(name: "RTMIN+31") == nil)
        #expect(UnixSignal(name: "RTMIN+-3") == nil)
        #expect(UnixSignal(name: "RTMIN+2147483647") == nil)
        #expect(UnixSignal(name: "SIGRTMIN+2147483600") == nil)
    }

    @Test("a duration too large to count in milliseconds is refused, not a crash")
    func hugeDurations() async throws {
        await #expect(processExitsWith: .success) {
            for text in ["1e300", "99999999999999999999s", "1e16", "9999999999h", "1e9m1s"] {
                _ = try? Duration.parse(text, for: "drain-timeout")
            }
            for text in ["drain-timeout = 1e300", "drain-timeout = 9223372036854775807", "ready-timeout = \"1e20s\""] {
                _ = try? ConfigurationFile.parse(text, path: "app.toml")
            }
        }
        for text in ["1e300", "99999999999999999999s", "1e16", "9999999999h"] {
            #expect(throws: ConfigurationError.self) { try Duration.parse(text, for: "drain-timeout") }
        }
        #expect(throws: ConfigurationError.self) {
            try ConfigurationFile.parse("drain-timeout = 9223372036854775807", path: "app.toml")
        }
        #expect(try Duration.parse("8760h", for: "drain-timeout") == .seconds(365 * 24 * 3600))
    }

    /// The toml++ that TOMLKit 0.6.0 bundles fails an assertion in `parse_key()` on a table header whose key starts
    /// with a character that cannot start a key; ``KnownParserCrashes`` refuses those first.
    @Test("a table header that starts with no key is refused, not a crash; arrays that start a line are not headers")
    func tableHeaderWithoutKey() async throws {
        await #expect(processExitsWith: .success) {
            for text in ["[[[a]]]", "[=", "x = 1\n  [[ .", "[#", "[.a]"] {
                _ = try? ConfigurationFile.parse(text, path: "app.toml")
            }
        }
        for text in ["[[[a]]]", "[=", "x = 1\n  [[ .", "[#", "[.a]"] {
            #expect(throws: ConfigurationError.self) { try ConfigurationFile.parse(text, path: "app.toml") }
        }
        let fine = """
            listen = [
              "127.0.0.1:8080",
            ]
            command = [
            ["x"],
            ]
            """
        #expect(KnownParserCrashes.lineOfHeaderWithoutKey(in: fine) == nil)
        #expect(KnownParserCrashes.lineOfHeaderWithoutKey(in: "a = '''\n[=\n'''\n[environment]") == nil)
        #expect(KnownParserCrashes.lineOfHeaderWithoutKey(in: "a = 1\n\n[=") == 3)
    }
}

struct FuzzError: Error, CustomStringConvertible {
    let description: String
    init(_ description: String) { self.description = description }
}

/// SplitMix64: small, fast, and the same sequence for the same seed on every machine.
struct SeededGenerator: RandomNumberGenerator {
    private var state: UInt64

    init(seed: UInt64) { state = seed }

    mutating func next() -> UInt64 {
        state &+= 0x9E37_79B9_7F4A_7C15
        var z = state
        z = (z ^ (z >> 30)) &* 0xBF58_476D_1CE4_E5B9
        z = (z ^ (z >> 27)) &* 0x94D0_49BB_1331_11EB
        return z ^ (z >> 31)
    }
}

/// Mutations of valid inputs: truncation, byte flips, random bytes, deleted and repeated ranges, tokens of the
/// format spliced in, huge numbers, invalid UTF-8, NUL bytes, deep nesting and long lines; one to four per case.
struct Mutator {
    let seeds: [[UInt8]]
    let tokens: [[UInt8]]

    init(seeds: [[UInt8]], tokens: [String]) {
        self.seeds = seeds
        self.tokens = tokens.map { Array($0.utf8) }
    }

    static let hugeNumbers = [
        "18446744073709551616", "-9223372036854775809", "4294967296", "2147483648", "1e400", "-1e400",
        "340282366920938463463374607431768211456", String(repeating: "9", count: 400),
    ].map { Array($0.utf8) }

    static let invalidUTF8: [[UInt8]] = [
        [0xFF], [0xC0, 0x80], [0xED, 0xA0, 0x80], [0xF4, 0x90, 0x80, 0x80], [0xE2, 0x82], [0x80], [0xFE, 0xFF],
    ]

    func next(using random: inout SeededGenerator) -> [UInt8] {
        var bytes = seeds.randomElement(using: &random)!
        for _ in 0..<Int.random(in: 1...4, using: &random) { mutate(&bytes, using: &random) }
        return bytes
    }

    private func mutate(_ bytes: inout [UInt8], using random: inout SeededGenerator) {
        let position = Int.random(in: 0...bytes.count, using: &random)
        switch Int.random(in: 0..<11, using: &random) {
        case 0:
            bytes.removeSubrange(position...)
        case 1:
            guard position < bytes.count else { return }
            bytes[position] ^= UInt8(1) << UInt8.random(in: 0..<8, using: &random)
        case 2:
            let count = Int.random(in: 1...16, using: &random)
            bytes.insert(contentsOf: (0..<count).map { _ in UInt8.random(in: 0...255, using: &random) }, at: position)
        case 3:
            let end = min(bytes.count, position + Int.random(in: 1...32, using: &random))
            bytes.removeSubrange(position..<end)
        case 4:
            let end = min(bytes.count, position + Int.random(in: 1...64, using: &random))
            let piece = bytes[position..<end]
            bytes.insert(
                contentsOf: Array(repeating: Array(piece), count: Int.random(in: 2...50, using: &random))
                    .flatMap { $0 }, at: end)
        case 5, 6:
            bytes.insert(contentsOf: tokens.randomElement(using: &random)!, at: position)
        case 7:
            bytes.insert(contentsOf: Self.hugeNumbers.randomElement(using: &random)!, at: position)
        case 8:
            bytes.insert(contentsOf: Self.invalidUTF8.randomElement(using: &random)!, at: position)
        case 9:
            bytes.insert(0, at: position)
        default:
            // Deep enough to pass any nesting limit, short enough to keep a case under a millisecond.
            let depth = Int.random(in: 100...3000, using: &random)
            let opener = Array("[{(\"=".utf8).randomElement(using: &random)!
            if Bool.random(using: &random) {
                bytes.insert(contentsOf: Array(repeating: opener, count: depth), at: position)
            } else {
                // A long word: in a key position the loader suggests the closest key by edit distance, which costs
                // time in proportion to the word (a millisecond per 40 characters in a debug build).
                let length = Int.random(in: 50...600, using: &random)
                bytes.insert(contentsOf: Array(repeating: UInt8(ascii: "x"), count: length), at: position)
            }
        }
    }

    /// A short printable form of a case for failure messages.
    static func show(_ bytes: [UInt8]) -> String {
        let text = String(decoding: bytes.prefix(300), as: UTF8.self).debugDescription
        return bytes.count > 300 ? "\(text)… (\(bytes.count) bytes)" : text
    }
}
