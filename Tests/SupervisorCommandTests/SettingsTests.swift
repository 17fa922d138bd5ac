import ArgumentParser
import Foundation
import SupervisorCore
import Testing

@testable import supervisor

/// Every setting is reachable as a flag of `run` and as a key of the file, under the same name, taking the same
/// values: a sample given both ways must give the same layer, or fail both ways, and resolve to the same
/// configuration or the same error. A setting added to ``Settings`` without samples here fails the first test.
@Suite("Settings: one declaration, reachable by flag and by key")
struct SettingsTests {
    /// A value written as a flag and as the file writes it; `accepted` says whether reading it (before the whole
    /// configuration is checked) succeeds.
    struct Sample: CustomStringConvertible, Sendable {
        let flags: [String]
        let toml: String
        let accepted: Bool

        var description: String { "\(flags.joined(separator: " ")) | \(toml)" }
    }

    private static func good(_ flags: [String], _ toml: String) -> Sample {
        Sample(flags: flags, toml: toml, accepted: true)
    }

    private static func bad(_ flags: [String], _ toml: String) -> Sample {
        Sample(flags: flags, toml: toml, accepted: false)
    }

    static let samples: [Sample] = [
        good(["--name", "app"], #"name = "app""#),
        good(["--name", "a b"], #"name = "a b""#),
        good(["--instances", "4"], "instances = 4"),
        good(["--instances", "0"], "instances = 0"),
        bad(["--instances", "four"], #"instances = "four""#),
        good(
            ["--listen", "127.0.0.1:8080", "--listen", "v6=[::1]:8080"],
            #"listen = ["127.0.0.1:8080", "v6=[::1]:8080"]"#),
        good(["--listen", "0.0.0.0:80"], #"listen = "0.0.0.0:80""#),
        bad(["--listen", "localhost:80"], #"listen = ["localhost:80"]"#),
        good(
            ["--listen", "api=unix:/run/app/app.sock", "--listen", "udp:[::1]:53"],
            #"listen = ["api=unix:/run/app/app.sock", "udp:[::1]:53"]"#),
        bad(["--listen", "unix:app.sock"], #"listen = "unix:app.sock""#),
        good(["--listen-mode", "reuseport"], #"listen-mode = "reuseport""#),
        good(["--listen-mode", "shared"], #"listen-mode = "shared""#),
        bad(["--listen-mode", "proxy"], #"listen-mode = "proxy""#),
        good(["--kernel-migrate", "off"], #"kernel-migrate = "off""#),
        bad(["--kernel-migrate", "maybe"], #"kernel-migrate = "maybe""#),
        good(["--backlog", "512"], "backlog = 512"),
        good(["--backlog", "0"], "backlog = 0"),
        bad(["--backlog", "lots"], #"backlog = "lots""#),
        good(["--receive-buffer", "8388608"], "receive-buffer = 8388608"),
        good(["--receive-buffer", "100"], "receive-buffer = 100"),
        bad(["--receive-buffer", "big"], #"receive-buffer = "big""#),
        good(["--socket-mode", "0600"], #"socket-mode = "0600""#),
        good(["--socket-mode", "0444"], #"socket-mode = "0444""#),
        good(["--socket-mode", "rw"], #"socket-mode = "rw""#),
        good(["--socket-user", "root"], #"socket-user = "root""#),
        good(["--socket-group", "www-data"], #"socket-group = "www-data""#),
        good(["--ready", "listen"], #"ready = "listen""#),
        good(["--ready", "exec:/bin/true"], #"ready = "exec:/bin/true""#),
        good(["--ready", "http:http://127.0.0.1:8080/ready"], #"ready = "http:http://127.0.0.1:8080/ready""#),
        bad(["--ready", "tcp"], #"ready = "tcp""#),
        good(["--start-nice", "10"], "start-nice = 10"),
        good(["--start-nice", "20"], "start-nice = 20"),
        bad(["--start-nice", "low"], #"start-nice = "low""#),
        good(["--start-idle", "1s"], #"start-idle = "1s""#),
        good(["--start-idle", "0.5"], "start-idle = 0.5"),
        bad(["--start-idle", "soon"], #"start-idle = "soon""#),
        good(["--ready-timeout", "90s"], #"ready-timeout = "90s""#),
        good(["--ready-timeout", "10"], "ready-timeout = 10"),
        good(["--ready-timeout", "1.5"], "ready-timeout = 1.5"),
        good(["--ready-timeout", "0"], "ready-timeout = 0"),
        bad(["--ready-timeout", "5x"], #"ready-timeout = "5x""#),
        good(["--admin-port-base", "9000"], "admin-port-base = 9000"),
        good(["--admin-port-base", "65535"], "admin-port-base = 65535"),
        bad(["--admin-port-base", "0"], "admin-port-base = 0"),
        bad(["--admin-port-base", "70000"], "admin-port-base = 70000"),
        good(["--watchdog-sec", "10s"], #"watchdog-sec = "10s""#),
        bad(["--watchdog-sec", "soon"], #"watchdog-sec = "soon""#),
        good(
            ["--liveness", "http:http://127.0.0.1:{port}/health"], #"liveness = "http:http://127.0.0.1:{port}/health""#),
        bad(["--liveness", "exec:/bin/true"], #"liveness = "exec:/bin/true""#),
        good(["--liveness-interval", "2s"], #"liveness-interval = "2s""#),
        bad(["--liveness-interval", "x"], #"liveness-interval = "x""#),
        good(["--liveness-threshold", "5"], "liveness-threshold = 5"),
        bad(["--liveness-threshold", "x"], #"liveness-threshold = "x""#),
        good(["--health", "127.0.0.1:9090"], #"health = "127.0.0.1:9090""#),
        bad(["--health", "nowhere"], #"health = "nowhere""#),
        good(["--min-ready", "1"], "min-ready = 1"),
        good(["--min-ready", "3"], "min-ready = 3"),
        bad(["--min-ready", "x"], #"min-ready = "x""#),
        good(["--shutdown-delay", "1s"], #"shutdown-delay = "1s""#),
        bad(["--shutdown-delay", "soon"], #"shutdown-delay = "soon""#),
        good(["--stop-signal", "QUIT"], #"stop-signal = "QUIT""#),
        good(["--stop-signal", "15"], "stop-signal = 15"),
        good(["--stop-signal", "KILL"], #"stop-signal = "KILL""#),
        bad(["--stop-signal", "SIGFOO"], #"stop-signal = "SIGFOO""#),
        good(["--drain-timeout", "10s"], #"drain-timeout = "10s""#),
        good(["--drain-timeout", "10"], "drain-timeout = 10"),
        bad(["--drain-timeout", "x"], #"drain-timeout = "x""#),
        good(["--stop-pace", "50ms"], #"stop-pace = "50ms""#),
        good(["--stop-pace", "0"], "stop-pace = 0"),
        bad(["--stop-pace", "later"], #"stop-pace = "later""#),
        good(["--max-surge", "2"], "max-surge = 2"),
        good(["--max-surge", "all"], #"max-surge = "all""#),
        good(["--max-surge", "0"], "max-surge = 0"),
        bad(["--max-surge", "some"], #"max-surge = "some""#),
        good(["--bake", "5s"], #"bake = "5s""#),
        bad(["--bake", "x"], #"bake = "x""#),
        good(["--max-draining", "2"], "max-draining = 2"),
        bad(["--max-draining", "x"], #"max-draining = "x""#),
        good(["--release", "v2.3.1+build-7"], #"release = "v2.3.1+build-7""#),
        good(["--release", "file:/srv/app/current/RELEASE"], #"release = "file:/srv/app/current/RELEASE""#),
        bad(["--release", "v 2"], #"release = "v 2""#),
        bad(["--release", "file:RELEASE"], #"release = "file:RELEASE""#),
        bad(["--release", ""], #"release = """#),
        good(["--control-socket", "/tmp/app.sock"], #"control-socket = "/tmp/app.sock""#),
        good(["--control-group", "root"], #"control-group = "root""#),
        good(["--user", "root"], #"user = "root""#),
        good(["--user", "root", "--group", "root"], "user = \"root\"\ngroup = \"root\""),
        good(["--group", "root"], #"group = "root""#),
        good(["--env", "A=1", "--env", "B=two"], "[environment]\nA = 1\nB = \"two\""),
        good(["--env", "NOTIFY_SOCKET=x"], "[environment]\nNOTIFY_SOCKET = \"x\""),
        bad(["--env", "A"], #"environment = "A""#),
        good(["--", "/bin/echo", "hi"], #"command = ["/bin/echo", "hi"]"#),
        good(["--", "/bin/true"], #"command = "/bin/true""#),
    ]

    /// What every sample is read on top of: a command and an address, so that most settings make a whole
    /// configuration alone.
    private static var base: ConfigurationLayer {
        var layer = ConfigurationLayer()
        layer[Settings.command] = ["/bin/true"]
        layer[Settings.listen] = [ListenAddress(host: "127.0.0.1", port: 8080)]
        return layer
    }

    @Test("every setting has a flag of run, a key of the file, and samples here")
    func everySettingIsCovered() throws {
        let keys = Settings.all.map(\.key)
        #expect(Set(keys).count == keys.count, "two settings share a key")
        #expect(
            Set(try RunOptions.parse([]).flagInputs.map(\.setting.key)) == Set(keys),
            "RunOptions.flagInputs misses a setting")
        #expect(ConfigurationFile.keys == keys)
        let help = RunOptions.helpMessage(columns: 1000)
        for setting in Settings.all {
            if let flag = setting.flag {
                #expect(help.contains("--\(flag) "), "--\(flag) is not in the help of run")
                #expect(Self.samples.contains { $0.flags.first == "--\(flag)" }, "no sample gives --\(flag)")
            } else {
                #expect(Self.samples.contains { $0.flags.first == "--" }, "no sample gives the words after --")
            }
            #expect(
                Self.samples.contains { $0.toml.hasPrefix("\(setting.key) ") || $0.toml.contains("[\(setting.key)]") })
            if let text = setting.defaultText { #expect(help.contains("(default: \(text))"), "\(setting.key)") }
        }
        // Every flag of run is a setting's, but --config.
        let flags = Set(help.matches(of: #/--([a-z-]+) /#).map { String($0.output.1) })
        let settingFlags = Set(Settings.all.compactMap(\.flag))
        #expect(flags.subtracting(settingFlags) == ["config", "help"], "flags of run that are not settings")
    }

    @Test("a value given as a flag and in the file reads the same, or fails both ways", arguments: samples)
    func sameValueBothWays(sample: Sample) throws {
        let options = try RunOptions.parse(sample.flags)
        let fromFlags = Result { () throws(ConfigurationError) in try options.layer() }
        let fromFile = Result { () throws(ConfigurationError) in
            try ConfigurationFile.parse(sample.toml, path: "app.toml")
        }
        switch (fromFlags, fromFile) {
        case (.success(let flags), .success(let file)):
            #expect(sample.accepted, "accepted both ways")
            #expect(flags == file)
            #expect(!flags.keys.isEmpty)
            // And the whole configuration comes out the same, or fails with the same message.
            let flagConfiguration = Result { try Configuration(flags.overriding(Self.base), defaultInstances: 2) }
            let fileConfiguration = Result { try Configuration(file.overriding(Self.base), defaultInstances: 2) }
            switch (flagConfiguration, fileConfiguration) {
            case (.success(let a), .success(let b)): #expect(a == b)
            case (.failure(let a), .failure(let b)): #expect("\(a)" == "\(b)")
            default: Issue.record("one way resolves, the other does not: \(flagConfiguration) / \(fileConfiguration)")
            }
        case (.failure(let flagError), .failure(let fileError)):
            #expect(!sample.accepted, "refused both ways: \(flagError) / \(fileError)")
            let key = try #require(
                sample.toml.split(separator: " ").first.map { $0.trimmingCharacters(in: ["[", "]"]) })
            let flag = sample.flags[0]
            // Each names the setting as it was written, the file's with its path.
            #expect(flagError.message.contains(flag), "\(flagError)")
            #expect(fileError.message.hasPrefix("app.toml: "), "\(fileError)")
            #expect(fileError.message.contains(key.split(separator: "\n")[0]), "\(fileError)")
        default:
            Issue.record("one way reads, the other does not: flags \(fromFlags), file \(fromFile)")
        }
    }

    @Test("the README's table of options lists every setting by flag and key")
    func readmeListsEverySetting() throws {
        let readme = URL(fileURLWithPath: #filePath).deletingLastPathComponent().deletingLastPathComponent()
            .deletingLastPathComponent().appendingPathComponent("README.md")
        let text = try String(contentsOf: readme, encoding: .utf8)
        let rows = text.split(separator: "\n").filter { $0.hasPrefix("| `") }
        for setting in Settings.all {
            let key = setting.key == "environment" ? "`[environment]`" : "`\(setting.key)`"
            let flag = setting.flag.map { "`--\($0) " } ?? "`-- COMMAND"
            #expect(rows.contains { $0.contains(flag) && $0.contains("/ \(key)") }, "README: no row for \(setting.key)")
        }
    }
}
