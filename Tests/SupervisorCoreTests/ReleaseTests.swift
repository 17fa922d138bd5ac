import Foundation
import Testing

@testable import SupervisorCore

#if canImport(Glibc)
import Glibc
#endif

/// The release a generation runs (``ReleaseLabel``, ``ReleaseIdentity``, ``ExecutableDigests``) and the deploy gate
/// that reads it (``ReleaseGate``).
@Suite("Releases and the deploy gate")
struct ReleaseTests {
    private static func directory() throws -> String {
        var template = Array("/tmp/supervisor-release-XXXXXX".utf8CString)
        guard let made = mkdtemp(&template) else { throw CocoaError(.fileWriteUnknown) }
        return String(cString: made)
    }

    private static func file(_ text: String) throws -> String {
        let path = try directory() + "/RELEASE"
        try text.write(toFile: path, atomically: true, encoding: .utf8)
        return path
    }

    private static func message(_ body: () throws -> Void) -> String? {
        do { try body() } catch let error as ConfigurationError { return error.message } catch { return "\(error)" }
        return nil
    }

    @Test("a label has letters, digits and . _ - + : ~ @, 1 to 128 bytes; file: needs an absolute path")
    func labels() throws {
        #expect(try ReleaseLabel(parsing: "v2.3.1+build-7_x:y~z@abc") == .label("v2.3.1+build-7_x:y~z@abc"))
        #expect(try ReleaseLabel(parsing: "file:/srv/app/current/RELEASE") == .file("/srv/app/current/RELEASE"))
        #expect(
            Self.message { _ = try ReleaseLabel(parsing: "v 2") }
                == "release 'v 2' gives the label 'v 2', with ' ' in it; a label has letters, digits and . _ - + : ~ @ "
                + "only")
        #expect(Self.message { _ = try ReleaseLabel(parsing: "v2\u{1b}[31m") }?.contains("\\x1B") == true)
        #expect(Self.message { _ = try ReleaseLabel(parsing: "") }?.contains("empty label") == true)
        #expect(Self.message { _ = try ReleaseLabel(parsing: String(repeating: "a", count: 128)) } == nil)
        #expect(
            Self.message { _ = try ReleaseLabel(parsing: String(repeating: "a", count: 129)) }?.contains(
                "129 bytes; at most 128") == true)
        #expect(
            Self.message { _ = try ReleaseLabel(parsing: "file:current/RELEASE") }?.contains("must be absolute")
                == true)
    }

    @Test("a release file gives its first line: the label alone, or NAME=label as an environment file has it")
    func releaseFiles() throws {
        for (text, label) in [
            ("v2\n", "v2"), ("v2", "v2"), ("  v2  \nignored\n", "v2"), ("RELEASE=v2\n", "v2"),
            ("RELEASE=\"v2\"\n", "v2"), ("APP_VERSION='2026.12.03-1'\r\n", "2026.12.03-1"),
        ] {
            #expect(try ReleaseLabel.file(try Self.file(text)).resolve() == label, "\(text)")
        }
        let empty = try Self.file("\n")
        #expect(Self.message { _ = try ReleaseLabel.file(empty).resolve() }?.contains("gives an empty label") == true)
        let spaced = try Self.file("RELEASE=v 2\n")
        #expect(
            Self.message { _ = try ReleaseLabel.file(spaced).resolve() }
                == "release file \(spaced) gives the label 'v 2', with ' ' in it; a label has letters, digits and . _ "
                + "- + : ~ @ only")
        let missing = try Self.directory() + "/RELEASE"
        #expect(
            Self.message { _ = try ReleaseLabel.file(missing).resolve() }
                == "release file \(missing) cannot be read: No such file or directory; write the release's label into "
                + "it (e.g. `echo v2 > \(missing)`), or set release = \"v2\"")
        // Neither a FIFO (which would block the supervisor) nor a device nor a large file is read.
        let fifo = try Self.directory() + "/fifo"
        #expect(mkfifo(fifo, 0o600) == 0)
        #expect(
            Self.message { _ = try ReleaseLabel.file(fifo).resolve() }?.contains("it is a FIFO, not a file") == true)
        #expect(Self.message { _ = try ReleaseLabel.file("/dev/zero").resolve() }?.contains("a device") == true)
        let large = try Self.file(String(repeating: "v", count: 5000))
        #expect(Self.message { _ = try ReleaseLabel.file(large).resolve() }?.contains("larger than 4096") == true)
    }

    @Test("digests are SHA-256 as sha256sum prints it; a file rewritten in place has another key")
    func digests() throws {
        #expect(
            ReleaseIdentity.digest(of: Array("abc".utf8))
                == "sha256:ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad")
        // Larger than one read, and not a multiple of it.
        let path = try Self.file(String(repeating: "0123456789abcdef", count: 70_000) + "end")
        let sum = Process()
        sum.executableURL = URL(fileURLWithPath: "/usr/bin/sha256sum")
        sum.arguments = [path]
        let pipe = Pipe()
        sum.standardOutput = pipe
        try sum.run()
        sum.waitUntilExit()
        let expected = String(decoding: pipe.fileHandleForReading.readDataToEndOfFile(), as: UTF8.self).prefix(64)
        #expect(ReleaseIdentity.digest(ofFile: path) == "sha256:\(expected)")
        #expect(ReleaseIdentity.digest(ofFile: path + ".missing") == nil)

        let key = try #require(ExecutableDigests.FileKey(path: path))
        #expect(ExecutableDigests.FileKey(path: path) == key)
        let handle = try #require(FileHandle(forWritingAtPath: path))
        try handle.seekToEnd()
        try handle.write(contentsOf: Data("more".utf8))
        try handle.close()
        #expect(ExecutableDigests.FileKey(path: path) != key)
        #expect(ExecutableDigests.FileKey(path: "/dev/null") == nil)
    }

    @Test("known digests: each file is read once at a time, a failed read is tried again, at most 16 are kept")
    func digestCache() throws {
        var digests = ExecutableDigests()
        var keys: [ExecutableDigests.FileKey] = []
        for index in 0...ExecutableDigests.kept {
            keys.append(try #require(ExecutableDigests.FileKey(path: try Self.file("\(index)"))))
        }
        let first = digests.begin(keys[0])
        let again = digests.begin(keys[0])
        #expect(first && !again)
        digests.finish(keys[0], digest: nil)
        #expect(digests.digest(of: keys[0]) == nil)
        let retried = digests.begin(keys[0])
        #expect(retried)
        for (index, key) in keys.enumerated() {
            _ = digests.begin(key)
            digests.finish(key, digest: "sha256:\(index)")
        }
        #expect(digests.computing.isEmpty)
        #expect(digests.digest(of: keys[0]) == nil)
        #expect(digests.digest(of: keys[1]) == "sha256:1")
        #expect(digests.digest(of: keys[ExecutableDigests.kept]) == "sha256:\(ExecutableDigests.kept)")
        let known = digests.begin(keys[1])
        #expect(!known)
    }

    @Test("the gate's query: release= and generation=, percent-decoded, + kept; anything else is refused")
    func queries() throws {
        #expect(try ReleaseGate.Query(parsing: "release=v2") == ReleaseGate.Query(release: "v2", generation: nil))
        #expect(try ReleaseGate.Query(parsing: "generation=3") == ReleaseGate.Query(release: nil, generation: 3))
        #expect(
            try ReleaseGate.Query(parsing: "release=v2%2Bb1&generation=3")
                == ReleaseGate.Query(release: "v2+b1", generation: 3))
        #expect(try ReleaseGate.Query(parsing: "release=v2+b1").release == "v2+b1")
        func refusal(_ query: Substring) -> String? {
            do { _ = try ReleaseGate.Query(parsing: query) } catch { return error.description }
            return nil
        }
        #expect(refusal("relase=v2") == "unknown parameter 'relase'; use release=LABEL or generation=N")
        #expect(refusal("release=v2&release=v3") == "release= is given twice; give it once")
        #expect(refusal("release=") == "release= needs a value")
        #expect(refusal("release") == "release= needs a value")
        #expect(refusal("generation=two") == "generation=two is not a generation number (1, 2, …)")
        #expect(refusal("generation=0") != nil)
        #expect(refusal("release=%zz") != nil)
        #expect(refusal("") == "no parameter; use release=LABEL or generation=N")
    }

    @Test("the gate's query: thousands of mutated queries are read or refused, never a crash; refusals are one line")
    func mutatedQueries() {
        var generator = SystemRandomNumberGenerator()
        let seeds = ["release=v2", "generation=3", "release=v2%2B1&generation=12", "release=%41%42", "a=b&c"]
        let alphabet = Array("=&%+?#/ \u{0}\n\r\u{7f}\u{202e}é09afAFrelasgn".unicodeScalars)
        for round in 0..<5000 {
            var scalars = Array(seeds[round % seeds.count].unicodeScalars)
            for _ in 0...Int.random(in: 0...6, using: &generator) {
                let position = Int.random(in: 0...scalars.count, using: &generator)
                let scalar = alphabet.randomElement(using: &generator)!
                switch Int.random(in: 0...2, using: &generator) {
                case 0: scalars.insert(scalar, at: position)
                case 1 where position < scalars.count: scalars[position] = scalar
                default: if position < scalars.count { scalars.remove(at: position) }
                }
            }
            var text = ""
            text.unicodeScalars.append(contentsOf: scalars)
            do {
                let query = try ReleaseGate.Query(parsing: Substring(text))
                #expect(query.release != nil || query.generation != nil, "\(text.debugDescription)")
            } catch {
                #expect(
                    !error.description.unicodeScalars.contains { $0.value < 0x20 || $0.value == 0x7f },
                    "\(text.debugDescription): \(error.description.debugDescription)")
            }
        }
    }

    private static func report(
        target: Int? = 2, labels: [Int: String] = [1: "v1", 2: "v2"], ready: Int = 2, minReady: Int = 1,
        rollout: StatusReport.Rollout? = nil, last: StatusReport.LastResult? = nil
    ) -> StatusReport {
        let instances = (0..<2).map { slot in
            StatusReport.Instance(
                slot: slot, pid: 100 + Int32(slot), generation: target ?? 1, state: slot < ready ? "ready" : "starting",
                readySince: nil, restarts: 0, status: nil, unhealthy: nil, probe: nil)
        }
        return StatusReport(
            version: "test", name: "app", supervisorPID: 1, state: "running", generation: target, command: ["/app"],
            listen: [], listenMode: "app", lossless: true, losslessReason: nil, readiness: "notify", liveness: nil,
            watchdogSeconds: nil, minReady: minReady, instancesWanted: 2, instances: instances,
            generations: labels.keys.sorted().map {
                GenerationRelease(generation: $0, ReleaseIdentity(label: labels[$0]))
            },
            rollout: rollout, queuedReloads: 0, lastResult: last)
    }

    private static func answer(_ query: String, _ report: StatusReport?, shuttingDown: Bool = false) throws -> String {
        let answer = ReleaseGate.answer(
            try ReleaseGate.Query(parsing: Substring(query)), report: report, shuttingDown: shuttingDown)
        return (answer.ok ? "200 " : "503 ") + answer.text
    }

    @Test("the gate opens only while the release asked for serves, enough of it is ready and nothing rolls out")
    func gate() throws {
        #expect(
            try Self.answer("release=v2", Self.report())
                == "200 ready: release v2 serves: generation 2 (release v2), 2 instances ready (min-ready 1)")
        #expect(try Self.answer("generation=2", Self.report()).hasPrefix("200 "))
        #expect(try Self.answer("release=v2&generation=2", Self.report()).hasPrefix("200 "))
        #expect(
            try Self.answer("release=v3", Self.report()) == "503 not ready: release v2 serves (generation 2), not v3")
        #expect(
            try Self.answer("release=v2&generation=3", Self.report())
                == "503 not ready: generation 2 (release v2) serves, not generation 3")
        #expect(
            try Self.answer("release=v2", Self.report(ready: 1, minReady: 2))
                == "503 not ready: 1 instance of generation 2 (release v2) ready, fewer than min-ready 2")
        let rolling = Self.report(
            labels: [2: "v2", 3: "v3"], rollout: StatusReport.Rollout(from: 2, to: 3, startedAt: 0))
        #expect(
            try Self.answer("release=v2", rolling)
                == "503 not ready: a rollout from generation 2 to generation 3 (release v3) is in progress")
        let rolledBack = StatusReport.LastResult(
            succeeded: false, result: "rolled_back",
            message: "instance #0 exited with status 1 before it was ready; "
                + "rolled back to generation 2", finishedAt: 0, from: 2, to: 3, toRelease: "v3")
        #expect(
            try Self.answer("release=v3", Self.report(last: rolledBack))
                == "503 not ready: release v2 serves (generation 2), not v3; the last reload, to generation 3, was "
                + "rolled back: instance #0 exited with status 1 before it was ready; rolled back to generation 2")
        // The same rollback says nothing about another release.
        #expect(
            try Self.answer("release=v4", Self.report(last: rolledBack))
                == "503 not ready: release v2 serves (generation 2), not v4")
        #expect(
            try Self.answer("release=v2", Self.report(labels: [:]))
                .hasPrefix("503 not ready: generation 2 serves without a release label"))
        #expect(try Self.answer("release=v2", Self.report(), shuttingDown: true) == "503 not ready: shutting down")
        #expect(try Self.answer("release=v2", nil) == "503 not ready: not started yet")
    }
}
